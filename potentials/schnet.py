"""SchNet (Schütt et al. 2018) as a property model, from torch-geometric's SchNet building blocks.

Continuous-filter convolutions (``InteractionBlock``/``CFConv``) on Gaussian-expanded
distances of mlcalc's vesin edges; torch-geometric's own ``SchNet`` class is not used
because its neighbor search needs torch_cluster.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn
from torch_geometric.nn.models.schnet import GaussianSmearing, InteractionBlock, ShiftedSoftplus

from mlcalc import keys as K

from mlcalc.model import Encoding, PropertyModel, register_kind
from .layers import edge_lengths

__all__ = ["SchNetModel"]


@register_kind("schnet")
class SchNetModel(PropertyModel):
    """Embedding → ``num_interactions`` residual CFConv blocks → per-atom MLP → mean/sum over atoms."""

    def __init__(self, elements: Sequence[int], targets: Sequence[str], units: Sequence[str],
                 extensive: Sequence[bool], cutoff: float = 5.0, periodic: bool = False, hidden_channels: int = 64,
                 num_filters: int = 64, num_interactions: int = 3, num_gaussians: int = 50):
        super().__init__(elements, cutoff, targets, units, extensive, periodic)
        self.sizes = {"hidden_channels": int(hidden_channels), "num_filters": int(num_filters),
                      "num_interactions": int(num_interactions), "num_gaussians": int(num_gaussians)}
        h = self.sizes["hidden_channels"]
        self.embedding = nn.Embedding(len(self.elements), h)
        self.expansion = GaussianSmearing(0.0, self.cutoff, self.sizes["num_gaussians"])
        self.interactions = nn.ModuleList(
            InteractionBlock(h, self.sizes["num_gaussians"], self.sizes["num_filters"], self.cutoff)
            for _ in range(self.sizes["num_interactions"]))
        self.head = nn.Sequential(nn.Linear(h, h // 2), ShiftedSoftplus(), nn.Linear(h // 2, len(self.targets)))

    def hyperparameters(self) -> dict[str, Any]:
        return {**super().hyperparameters(), **self.sizes}

    def evaluation_values(self) -> tuple[float, float]:
        """No gradients: per edge 1.5 × (3 × the wider of hidden_channels and num_filters + num_gaussians + 20)
        values, per atom 16 × hidden_channels (measured: 246 per edge at 64, 441 at 128; bench/eval_memory.py)."""
        s = self.sizes
        return 1.5 * (3 * max(s["hidden_channels"], s["num_filters"]) + s["num_gaussians"] + 20), \
            16.0 * s["hidden_channels"]

    def encode(self, inputs: dict[str, torch.Tensor]) -> Encoding:
        r = edge_lengths(inputs)
        basis = self.expansion(r)
        h = self.embed(inputs, self.embedding)
        for block in self.interactions:
            h = h + block(h, inputs[K.EDGE_INDEX], r, basis)
        hidden = self.head[:-1](h)
        atom_outputs = self.head[-1](hidden)
        return Encoding(h, self.atom_mean(hidden, inputs[K.BATCH], inputs[K.N_ATOMS]),
                        self.atom_mean(atom_outputs, inputs[K.BATCH], inputs[K.N_ATOMS]), atom_outputs)
