"""TorchMD-NET representation models (equivariant transformer, TensorNet) as mlcalc potentials.

The networks are torchmd-net's own; mlcalc supplies their input graph. Their
built-in neighbor search is replaced by the edges of :mod:`mlcalc.graph` (vesin),
so molecules and periodic cells of any shape and size go through one neighbor list,
and edge vectors stay differentiable in positions and cell (forces, stress).
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence

import torch
from torch import nn

from mlcalc import keys as K
from mlcalc.graph import edge_vectors

from .base import EnergyModel

__all__ = ["TorchMDNetPotential", "ETPotential", "TensorNetPotential"]


def _import_torchmdnet():
    """Import torchmd-net, undoing the environment variables it sets on import.

    Its warp kernels print an initialisation banner (and a missing-CUDA warning on
    CPU machines); warp's log level is raised to errors before that happens.
    """
    saved = dict(os.environ)
    try:
        import logging

        import warp

        warp.config.log_level = max(warp.config.log_level, logging.ERROR)
    except ImportError:  # pragma: no cover - warp comes with torchmd-net
        pass
    from torchmdnet.models import output_modules, tensornet, torchmd_et

    for key in set(os.environ) - set(saved):
        del os.environ[key]
    os.environ.update(saved)
    return torchmd_et, tensornet, output_modules


class _GivenEdges(nn.Module):
    """Stands in for torchmd-net's distance module: returns the edges handed over for this call."""

    def __init__(self):
        super().__init__()
        self.edges: Optional[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = None

    def forward(self, pos, batch=None, box=None):
        if self.edges is None:
            raise RuntimeError("TorchMD-NET representation called without edges; call the mlcalc potential instead")
        return self.edges


class TorchMDNetPotential(EnergyModel):
    """Base adapter: a torchmd-net representation model + its Scalar output head."""

    representation_name = ""

    def __init__(
        self,
        elements: Sequence[int],
        cutoff: float = 5.0,
        periodic: bool = False,
        energy_scale: float = 1.0,
        hidden_channels: int = 128,
        num_layers: int = 6,
        num_rbf: int = 32,
        activation: str = "silu",
        **representation_kwargs: Any,
    ):
        super().__init__(elements, cutoff, periodic, energy_scale)
        self.hidden_channels = int(hidden_channels)
        self.num_layers = int(num_layers)
        self.num_rbf = int(num_rbf)
        self.activation = activation
        self.representation_kwargs = dict(representation_kwargs)
        self.representation = self._build_representation()
        self.representation.distance = _GivenEdges()
        _, _, output_modules = _import_torchmdnet()
        self.output = output_modules.Scalar(self.hidden_channels, activation=activation)

    def _build_representation(self) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, Any]:
        return {
            **super().hyperparameters(),
            "hidden_channels": self.hidden_channels,
            "num_layers": self.num_layers,
            "num_rbf": self.num_rbf,
            "activation": self.activation,
            **self.representation_kwargs,
        }

    def _edges(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Edges in torchmd-net's form: index (source, target) with self-loops, distance, vector r_j - r_i.

        Periodic self-images (i == j, nonzero shift) get unit vectors, since torchmd-net
        normalises only edges with distinct end points.
        """
        pos, batch, edge_index = inputs[K.POSITIONS], inputs[K.BATCH], inputs[K.EDGE_INDEX]
        vec = edge_vectors(pos, inputs[K.CELL], batch, edge_index, inputs[K.EDGE_SHIFTS])
        dist = torch.linalg.vector_norm(vec, dim=1)
        self_image = edge_index[0] == edge_index[1]
        vec = torch.where(self_image.unsqueeze(1), vec / dist.unsqueeze(1), vec)
        n = pos.shape[0]
        loops = torch.arange(n, device=pos.device)
        index = torch.cat([edge_index, torch.stack([loops, loops])], dim=1)
        dist = torch.cat([dist, pos.new_zeros(n)])
        vec = torch.cat([vec, pos.new_zeros(n, 3)])
        return index, dist, vec

    def atomic_outputs(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        z, pos, batch = inputs[K.Z], inputs[K.POSITIONS], inputs[K.BATCH]
        distance = self.representation.distance
        distance.edges = self._edges(inputs)
        try:
            x, v, z, pos, batch = self.representation(z, pos, batch)
        finally:
            distance.edges = None
        return self.output.pre_reduce(x, v, z, pos, batch).squeeze(-1)


class ETPotential(TorchMDNetPotential):
    """TorchMD-NET equivariant transformer (Thölke & De Fabritiis 2022)."""

    kind = "torchmdnet-et"

    def __init__(self, elements, cutoff=5.0, periodic=False, energy_scale=1.0, hidden_channels=128, num_layers=6,
                 num_rbf=32, activation="silu", num_heads=8, attn_activation="silu", distance_influence="both",
                 neighbor_embedding=True):
        super().__init__(elements, cutoff, periodic, energy_scale, hidden_channels, num_layers, num_rbf, activation,
                         num_heads=int(num_heads), attn_activation=attn_activation,
                         distance_influence=distance_influence, neighbor_embedding=bool(neighbor_embedding))

    def _build_representation(self) -> nn.Module:
        torchmd_et, _, _ = _import_torchmdnet()
        kw = self.representation_kwargs
        if self.hidden_channels % kw["num_heads"]:
            raise ValueError(f"hidden_channels ({self.hidden_channels}) must be divisible by num_heads ({kw['num_heads']})")
        return torchmd_et.TorchMD_ET(
            hidden_channels=self.hidden_channels, num_layers=self.num_layers, num_rbf=self.num_rbf,
            activation=self.activation, cutoff_upper=self.cutoff, max_z=self.max_z, **kw,
        )


class TensorNetPotential(TorchMDNetPotential):
    """TorchMD-NET TensorNet (Simeon & De Fabritiis 2023)."""

    kind = "torchmdnet-tensornet"

    def __init__(self, elements, cutoff=4.5, periodic=False, energy_scale=1.0, hidden_channels=128, num_layers=2,
                 num_rbf=32, activation="silu", equivariance_invariance_group="O(3)"):
        super().__init__(elements, cutoff, periodic, energy_scale, hidden_channels, num_layers, num_rbf, activation,
                         equivariance_invariance_group=equivariance_invariance_group)

    def _build_representation(self) -> nn.Module:
        _, tensornet, _ = _import_torchmdnet()
        return tensornet.TensorNet(
            hidden_channels=self.hidden_channels, num_layers=self.num_layers, num_rbf=self.num_rbf,
            activation=self.activation, cutoff_upper=self.cutoff, max_z=self.max_z, static_shapes=False,
            **self.representation_kwargs,
        )
