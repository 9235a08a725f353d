"""MPNN-transformer: the MPNN with a graph-attention layer (``TransformerConv``) after every step.

Each step's GRU output h goes through multi-head attention over its neighbours
(keys and values see the edge features) and a residual LayerNorm: h ← LN(h + Attn(h)).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch_geometric.nn import TransformerConv

from mlcalc.model import register_kind

from .mpnn import MPNNModel

__all__ = ["MPNNTransformerModel"]


@register_kind("mpnn-transformer")
class MPNNTransformerModel(MPNNModel):
    """MPNN (:class:`~mlcalc.potentials.mpnn.MPNNModel`) plus ``num_heads``-head attention per step."""

    def __init__(self, elements: Sequence[int], targets: Sequence[str], units: Sequence[str],
                 extensive: Sequence[bool], cutoff: float = 5.0, periodic: bool = False, hidden_channels: int = 64,
                 num_steps: int = 3, num_gaussians: int = 32, edge_hidden: int = 128, set2set_steps: int = 3,
                 aggr: str = "mean", num_heads: int = 4):
        if int(hidden_channels) % int(num_heads):
            raise ValueError(f"hidden_channels ({hidden_channels}) must be divisible by num_heads ({num_heads})")
        super().__init__(elements, targets, units, extensive, cutoff, periodic, hidden_channels, num_steps,
                         num_gaussians, edge_hidden, set2set_steps, aggr)
        h, heads = int(hidden_channels), int(num_heads)
        self.sizes["num_heads"] = heads
        self.attention = nn.ModuleList(
            TransformerConv(h, h // heads, heads=heads, edge_dim=int(num_gaussians)) for _ in range(int(num_steps)))
        self.norms = nn.ModuleList(nn.LayerNorm(h) for _ in range(int(num_steps)))

    def after_step(self, step: int, h: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        return self.norms[step](h + self.attention[step](h, edge_index, edge_attr))
