"""PhysNet (Unke & Meuwly 2019) as a property model: the message-passing network without its charge,
electrostatics and dispersion terms (those serve energies and dipoles, not general properties).

Each module: interaction (messages gated by a learnt filter of the exp-normal radial
basis), residual blocks, a gated update x ← u∘x + v, and an output block; per-atom
outputs are summed over modules, then averaged (intensive) or summed (extensive) over atoms.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn
from torch_geometric.nn.models.schnet import ShiftedSoftplus

from mlcalc import keys as K

from mlcalc.model import Encoding, PropertyModel, register_kind
from .layers import ExpNormalBasis, edge_lengths

__all__ = ["PhysNetModel"]


class _Residual(nn.Module):
    """x + W₂σ(W₁σ(x) + b₁) + b₂ (pre-activation residual block)."""

    def __init__(self, features: int):
        super().__init__()
        self.act = ShiftedSoftplus()
        self.lin1, self.lin2 = nn.Linear(features, features), nn.Linear(features, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.lin2(self.act(self.lin1(self.act(x))))


class _Module(nn.Module):
    """One PhysNet module: returns the updated features and this module's per-atom outputs."""

    def __init__(self, features: int, n_basis: int, n_outputs: int, residual_interaction: int,
                 residual_atomic: int, residual_output: int):
        super().__init__()
        self.act = ShiftedSoftplus()
        self.lin_i, self.lin_j = nn.Linear(features, features), nn.Linear(features, features)
        self.filter = nn.Linear(n_basis, features, bias=False)
        self.interaction = nn.Sequential(*(_Residual(features) for _ in range(residual_interaction)))
        self.lin_v = nn.Linear(features, features)
        self.gate = nn.Parameter(torch.ones(features))
        self.atomic = nn.Sequential(*(_Residual(features) for _ in range(residual_atomic)))
        self.output = nn.Sequential(*(_Residual(features) for _ in range(residual_output)))
        self.out = nn.Linear(features, n_outputs)

    def forward(self, x, edge_index, basis):
        """Updated features x [n_atoms, F], the output block's last hidden layer and this module's outputs."""
        a = self.act(x)
        j, i = edge_index[0], edge_index[1]
        messages = self.filter(basis) * self.act(self.lin_j(a))[j]
        v = self.act(self.lin_i(a)).index_add(0, i, messages)
        v = self.lin_v(self.act(self.interaction(v)))
        x = self.atomic(self.gate * x + v)
        hidden = self.act(self.output(x))
        return x, hidden, self.out(hidden)


@register_kind("physnet")
class PhysNetModel(PropertyModel):
    """PhysNet: ``num_modules`` modules of width ``features`` on ``num_basis`` exp-normal functions."""

    def __init__(self, elements: Sequence[int], targets: Sequence[str], units: Sequence[str],
                 extensive: Sequence[bool], cutoff: float = 5.0, periodic: bool = False, features: int = 64,
                 num_basis: int = 32, num_modules: int = 3, residual_interaction: int = 2,
                 residual_atomic: int = 1, residual_output: int = 1):
        super().__init__(elements, cutoff, targets, units, extensive, periodic)
        self.sizes = {"features": int(features), "num_basis": int(num_basis), "num_modules": int(num_modules),
                      "residual_interaction": int(residual_interaction), "residual_atomic": int(residual_atomic),
                      "residual_output": int(residual_output)}
        s = self.sizes
        self.embedding = nn.Embedding(len(self.elements), s["features"])
        self.basis = ExpNormalBasis(s["num_basis"], self.cutoff)
        self.blocks = nn.ModuleList(
            _Module(s["features"], s["num_basis"], len(self.targets), s["residual_interaction"],
                    s["residual_atomic"], s["residual_output"]) for _ in range(s["num_modules"]))

    def hyperparameters(self) -> dict[str, Any]:
        return {**super().hyperparameters(), **self.sizes}

    def evaluation_values(self) -> tuple[float, float]:
        """No gradients: per edge 1.5 × (4 × features + num_basis) values, per atom 16 × features (measured: 238
        per edge at 64 features, 481 at 128; bench/eval_memory.py)."""
        return 1.5 * (4 * self.sizes["features"] + self.sizes["num_basis"]), 16.0 * self.sizes["features"]

    def encode(self, inputs: dict[str, torch.Tensor]) -> Encoding:
        """Nodes: the last module's features; hidden: every module's output-block layer, concatenated."""
        basis = self.basis(edge_lengths(inputs))
        x = self.embed(inputs, self.embedding)
        total, hidden = 0, []
        for block in self.blocks:
            x, h, y = block(x, inputs[K.EDGE_INDEX], basis)
            total, hidden = total + y, hidden + [h]
        batch, n_atoms = inputs[K.BATCH], inputs[K.N_ATOMS]
        return Encoding(x, self.atom_mean(torch.cat(hidden, dim=1), batch, n_atoms),
                        self.atom_mean(total, batch, n_atoms), total)
