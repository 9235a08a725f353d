"""Baseline: a linear model on per-element atom counts, fitted by least squares.

u = Σ_e w_e·n_e + b in standardised units, so that every target is linear in the
counts n_e: y = μ + σ·u (intensive) or y = N·μ + σ·u with b = 0 (extensive: a sum of
per-element contributions). The baseline any GNN must beat; it ignores geometry (its
``cutoff`` only sizes the unused neighbor list).
"""

from __future__ import annotations

from typing import ClassVar, Sequence

import numpy as np
import torch
from ase import Atoms
from torch import nn

from mlcalc import keys as K

from mlcalc.model import Encoding, PropertyModel, register_kind

__all__ = ["LinearCountsModel"]


@register_kind("linear")
class LinearCountsModel(PropertyModel):
    """Linear regression on element counts; :meth:`fit` solves it exactly (no gradient training)."""

    #: trained by :meth:`fit`, not by gradient descent
    closed_form: ClassVar[bool] = True

    def __init__(self, elements: Sequence[int], targets: Sequence[str], units: Sequence[str],
                 extensive: Sequence[bool], cutoff: float = 0.5, periodic: bool = False):
        super().__init__(elements, cutoff, targets, units, extensive, periodic)
        self.linear = nn.Linear(len(self.elements), len(self.targets))
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def encode(self, inputs: dict[str, torch.Tensor]) -> Encoding:
        """Nodes: one-hot elements; hidden: element counts per structure [n_graphs, n_elements]."""
        n_atoms = inputs[K.N_ATOMS]
        onehot = self.element_weights(inputs).to(self.linear.weight.dtype)
        counts = onehot.new_zeros(len(n_atoms), len(self.elements)).index_add(0, inputs[K.BATCH], onehot)
        intensive = ~torch.tensor(self.extensive, device=counts.device)
        size = self._size(n_atoms).to(counts.dtype)
        u = counts @ self.linear.weight.T + self.linear.bias * intensive
        # per-atom terms whose mean over the structure's atoms is ẑ (the bias shared evenly)
        n = n_atoms.to(counts.dtype).unsqueeze(1)
        atom_terms = ((onehot @ self.linear.weight.T + (self.linear.bias * intensive) / n[inputs[K.BATCH]])
                      * (n / size)[inputs[K.BATCH]])
        return Encoding(onehot, counts, u / size, atom_terms)

    @torch.no_grad()
    def fit(self, structures: Sequence[Atoms], values: np.ndarray) -> None:
        """Least-squares weights from ``structures`` and their target ``values`` [n, n_targets] (model units).

        Set the standardisation (and any per-element references) first: the weights fit
        what the references leave, in standardised units.
        """
        values = np.asarray(values, dtype=np.float64).reshape(len(structures), len(self.targets))
        unknown = sorted({int(z) for a in structures for z in a.numbers} - set(self.elements))
        if unknown:
            raise ValueError(f"structures contain elements {unknown} outside the model's {self.elements}")
        index = {z: k for k, z in enumerate(self.elements)}
        counts = np.zeros((len(structures), len(self.elements)))
        for row, atoms in enumerate(structures):
            np.add.at(counts[row], [index[int(z)] for z in atoms.numbers], 1.0)
        values = values - counts @ self.target_atomref.double().numpy()  # fit what the references leave
        n_atoms = torch.as_tensor(counts.sum(axis=1))
        size = self._size(n_atoms).double().numpy()
        standard = self.standardise(torch.as_tensor(values, dtype=self.target_mean.dtype), n_atoms).double().numpy()
        design = np.concatenate([counts, np.ones((len(counts), 1))], axis=1)
        weight, bias = np.zeros((len(self.targets), len(self.elements))), np.zeros(len(self.targets))
        for k, extensive in enumerate(self.extensive):
            columns = design[:, :-1] if extensive else design
            coef, *_ = np.linalg.lstsq(columns, standard[:, k] * size[:, k], rcond=None)
            weight[k], bias[k] = coef[:len(self.elements)], 0.0 if extensive else coef[-1]
        self.linear.weight.copy_(torch.as_tensor(weight))
        self.linear.bias.copy_(torch.as_tensor(bias))
