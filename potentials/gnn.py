"""Baseline: a plain message-passing network (no equivariance, no attention, no edge network).

Message m_ij = MLP([h_i ⊙ h_j, rbf(r_ij)])·f_cut(r_ij); update h_i ← h_i + MLP([h_i, Σ_j m_ij]);
a per-atom MLP gives outputs that are summed (extensive) or averaged (intensive) over atoms.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn
from torch_geometric.nn.models.schnet import GaussianSmearing

from mlcalc import keys as K

from mlcalc.model import Encoding, PropertyModel, register_kind
from .layers import cosine_cutoff, edge_lengths, mlp

__all__ = ["GNNModel"]


@register_kind("gnn")
class GNNModel(PropertyModel):
    """Embedding → ``num_layers`` residual message-passing layers → per-atom MLP."""

    def __init__(self, elements: Sequence[int], targets: Sequence[str], units: Sequence[str],
                 extensive: Sequence[bool], cutoff: float = 5.0, periodic: bool = False, hidden_channels: int = 64,
                 num_layers: int = 3, num_gaussians: int = 32):
        super().__init__(elements, cutoff, targets, units, extensive, periodic)
        self.sizes = {"hidden_channels": int(hidden_channels), "num_layers": int(num_layers),
                      "num_gaussians": int(num_gaussians)}
        h, g = self.sizes["hidden_channels"], self.sizes["num_gaussians"]
        self.embedding = nn.Embedding(len(self.elements), h)
        self.expansion = GaussianSmearing(0.0, self.cutoff, g)
        self.messages = nn.ModuleList(mlp([h + g, h, h]) for _ in range(self.sizes["num_layers"]))
        self.updates = nn.ModuleList(mlp([2 * h, h, h]) for _ in range(self.sizes["num_layers"]))
        self.head = mlp([h, h // 2, len(self.targets)])

    def hyperparameters(self) -> dict[str, Any]:
        return {**super().hyperparameters(), **self.sizes}

    def evaluation_values(self) -> tuple[float, float]:
        """No gradients: per edge 1.5 × (5 × hidden_channels + 9 × num_gaussians + 20) values, per atom 16 ×
        hidden_channels (measured: 619 per edge at 64 channels and 32 Gaussians, 939 at 128; bench/eval_memory.py)."""
        h, g = self.sizes["hidden_channels"], self.sizes["num_gaussians"]
        return 1.5 * (5 * h + 9 * g + 20), 16.0 * h

    def encode(self, inputs: dict[str, torch.Tensor]) -> Encoding:
        j, i = inputs[K.EDGE_INDEX][0], inputs[K.EDGE_INDEX][1]
        r = edge_lengths(inputs)
        basis, envelope = self.expansion(r), cosine_cutoff(r, self.cutoff).unsqueeze(1)
        h = self.embed(inputs, self.embedding)
        for message, update in zip(self.messages, self.updates):
            m = message(torch.cat([h[i] * h[j], basis], dim=1)) * envelope
            h = h + update(torch.cat([h, torch.zeros_like(h).index_add(0, i, m)], dim=1))
        hidden = self.head[:-1](h)
        atom_outputs = self.head[-1](hidden)
        return Encoding(h, self.atom_mean(hidden, inputs[K.BATCH], inputs[K.N_ATOMS]),
                        self.atom_mean(atom_outputs, inputs[K.BATCH], inputs[K.N_ATOMS]), atom_outputs)
