"""TorchMD-NET representation models (equivariant transformer, TensorNet) as mlcalc potentials.

The networks are torchmd-net's own; mlcalc supplies their input graph. Their
built-in neighbor search is replaced by the edges of :mod:`mlcalc.graph` (vesin),
so molecules and periodic cells of any shape and size go through one neighbor list,
and edge vectors stay differentiable in positions and cell (forces, stress).
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import nn

from mlcalc import keys as K
from mlcalc.graph import edge_vectors, neighbor_pairs
from mlcalc.graph_size import check_pair_count, plane_spacings

from mlcalc.model import EnergyModel, register_kind

from .native_stderr import WARP_NO_CUDA_DRIVER, stderr_without

__all__ = ["TorchMDNetPotential", "ETPotential", "TensorNetPotential"]


def _import_torchmdnet():
    """Import torchmd-net, undoing the environment variables it sets on import.

    Its warp kernels print an initialisation banner (warp's log level is raised to errors
    before that happens) and, from C, a missing-CUDA-driver warning on CPU machines: that
    exact line is dropped (:func:`.native_stderr.stderr_without`), anything else is kept.
    """
    saved = dict(os.environ)
    try:
        import logging

        import warp

        warp.config.log_level = max(warp.config.log_level, logging.ERROR)
    except ImportError:  # pragma: no cover - warp comes with torchmd-net
        pass
    with stderr_without([WARP_NO_CUDA_DRIVER]):
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

    def _small_cells(self, inputs: dict[str, torch.Tensor]) -> dict[int, tuple[int, int, int]]:
        """Structures (index in the batch) in which an atom neighbours its own image, and the repeats of their
        supercells; empty for molecules (checked first: no work) and cells wider than the cutoff. A supercell with
        more pairs than :data:`~mlcalc.graph_size.MAX_PAIRS` is refused here (GraphTooLargeError)."""
        if K.PBC not in inputs or not bool(inputs[K.PBC].any()):
            return {}
        edge_index, batch = inputs[K.EDGE_INDEX], inputs[K.BATCH]
        self_image = edge_index[0] == edge_index[1]
        if not bool(self_image.any()):
            return {}
        cell, pbc = inputs[K.CELL], inputs[K.PBC]
        small = sorted(set(batch[edge_index[1][self_image]].tolist()))
        reps_of = {g: _repeats(cell[g].detach().cpu().numpy(), pbc[g].cpu().numpy(), self.cutoff) for g in small}
        for g, reps in reps_of.items():  # refuse a supercell too large to build, before building any
            copies = int(np.prod(reps))
            n_g = int((batch == g).sum())
            check_pair_count(int((batch[edge_index[1]] == g).sum()) * copies,
                             f"structure {g} ({n_g} atoms) tiled into a {'x'.join(map(str, reps))} supercell "
                             f"({n_g * copies:.3g} atoms) so that no atom neighbours its own image within "
                             f"{self.cutoff:g} Å")
        return reps_of

    def evaluated_graph(self, inputs: dict[str, torch.Tensor]) -> tuple[int, int]:
        """Atoms and edges after small cells are tiled (:meth:`_tile_small_cells`): each copy of a small cell
        brings its atoms and their edges again."""
        atoms, edges = super().evaluated_graph(inputs)
        reps_of = self._small_cells(inputs)
        if reps_of:
            batch, edge_index = inputs[K.BATCH], inputs[K.EDGE_INDEX]
            atoms_of = torch.bincount(batch, minlength=inputs[K.CELL].shape[0]).tolist()
            edges_of = torch.bincount(batch[edge_index[1]], minlength=inputs[K.CELL].shape[0]).tolist()
            for g, reps in reps_of.items():
                extra = int(np.prod(reps)) - 1
                atoms, edges = atoms + extra * atoms_of[g], edges + extra * edges_of[g]
        return atoms, edges

    def _tile_small_cells(self, inputs: dict[str, torch.Tensor]):
        """Inputs where no atom neighbours its own periodic image, and how atoms map back.

        torchmd-net takes every edge with equal end points for a self-loop and uses the
        edge list in both directions, so a periodic self-image (a cell smaller than the
        cutoff) would be mistreated. Such cells are tiled into a supercell wide enough
        to have none; positions and cell are tiled differentiably, so forces and stress
        still follow by autograd. Returns ``(inputs, origin, copies)``: for each node the
        atom it copies and that atom's number of copies (None, None when nothing is tiled).
        """
        reps_of = self._small_cells(inputs)
        if not reps_of:
            return inputs, None, None
        batch = inputs[K.BATCH]
        pos, cell, pbc = inputs[K.POSITIONS], inputs[K.CELL], inputs[K.PBC]
        parts: dict[str, list] = {key: [] for key in ("pos", "z", "batch", "origin", "copies", "cell", "edges", "shifts")}
        offset = 0
        for g in range(cell.shape[0]):
            atoms = torch.nonzero(batch == g).squeeze(1)
            reps = reps_of.get(g, (1, 1, 1))
            grid = torch.cartesian_prod(*(torch.arange(r) for r in reps)).reshape(-1, 3).to(pos)
            tiled = (pos[atoms].unsqueeze(0) + (grid @ cell[g]).unsqueeze(1)).reshape(-1, 3)
            big_cell = cell[g] * torch.tensor(reps, dtype=pos.dtype, device=pos.device).unsqueeze(1)
            edges, shifts = neighbor_pairs(tiled.detach().cpu().numpy(), big_cell.detach().cpu().numpy(),
                                           pbc[g].cpu().numpy(), self.cutoff)
            parts["pos"].append(tiled)
            parts["cell"].append(big_cell)
            parts["z"].append(inputs[K.Z][atoms].repeat(len(grid)))
            parts["origin"].append(atoms.repeat(len(grid)))
            parts["copies"].append(torch.full((len(tiled),), float(len(grid)), dtype=pos.dtype, device=pos.device))
            parts["batch"].append(torch.full((len(tiled),), g, dtype=torch.long, device=pos.device))
            parts["edges"].append(torch.as_tensor(edges, device=pos.device) + offset)
            parts["shifts"].append(torch.as_tensor(shifts, dtype=pos.dtype, device=pos.device))
            offset += len(tiled)
        tiled_inputs = {
            **inputs, K.POSITIONS: torch.cat(parts["pos"]), K.Z: torch.cat(parts["z"]),
            K.BATCH: torch.cat(parts["batch"]), K.CELL: torch.stack(parts["cell"]),
            K.EDGE_INDEX: torch.cat(parts["edges"], dim=1), K.EDGE_SHIFTS: torch.cat(parts["shifts"]),
        }
        return tiled_inputs, torch.cat(parts["origin"]), torch.cat(parts["copies"])

    def atomic_outputs(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.atomic_features(inputs)[1]

    def atomic_features(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        n_atoms = inputs[K.Z].shape[0]
        inputs, origin, copies = self._tile_small_cells(inputs)
        z, pos, batch, edge_index = inputs[K.Z], inputs[K.POSITIONS], inputs[K.BATCH], inputs[K.EDGE_INDEX]
        vec = edge_vectors(pos, inputs[K.CELL], batch, edge_index, inputs[K.EDGE_SHIFTS])
        loops = torch.arange(len(z), device=pos.device)
        index = torch.cat([edge_index, torch.stack([loops, loops])], dim=1)
        dist = torch.cat([torch.linalg.vector_norm(vec, dim=1), pos.new_zeros(len(z))])
        vec = torch.cat([vec, pos.new_zeros(len(z), 3)])
        distance = self.representation.distance
        distance.edges = (index, dist, vec)  # torchmd-net's own self-loop convention: (i, i) at distance 0
        try:
            x, v, z, pos, batch = self.representation(z, pos, batch)
        finally:
            distance.edges = None
        atomic = self.output.pre_reduce(x, v, z, pos, batch).squeeze(-1)
        if origin is None:
            return x, atomic
        share = copies.unsqueeze(1)
        return (x.new_zeros(n_atoms, x.shape[1]).index_add(0, origin, x / share),
                atomic.new_zeros(n_atoms).index_add(0, origin, atomic / copies))


def _repeats(cell: np.ndarray, pbc: np.ndarray, cutoff: float) -> tuple[int, int, int]:
    """Repeats per periodic direction so that the supercell's lattice-plane spacings exceed ``cutoff``."""
    spacing = plane_spacings(cell)  # Å between lattice planes
    return tuple(int(cutoff // d) + 1 if periodic else 1 for d, periodic in zip(spacing, pbc))


@register_kind("torchmdnet-et")
class ETPotential(TorchMDNetPotential):
    """TorchMD-NET equivariant transformer (Thölke & De Fabritiis 2022).

    ``vector_cutoff`` weights the vector features with the cutoff function as well as the
    attention (torchmd-net issue 254): without it the energy jumps when a pair crosses the
    cutoff, so NVE of molecules wider than the cutoff drifts and stress is wrong. Files
    written before the option existed were made without it and load that way, with a warning.
    """

    file_defaults = {"vector_cutoff": False}

    def __init__(self, elements, cutoff=5.0, periodic=False, energy_scale=1.0, hidden_channels=128, num_layers=6,
                 num_rbf=32, activation="silu", num_heads=8, attn_activation="silu", distance_influence="both",
                 neighbor_embedding=True, vector_cutoff=True):
        if not vector_cutoff:
            warnings.warn("this TorchMD-NET ET model was made without vector_cutoff: its energy jumps when an atom "
                          "pair crosses the cutoff (NVE drifts for molecules wider than the cutoff, stress is wrong); "
                          "retrain it with hyperparameter vector_cutoff: true", UserWarning, stacklevel=2)
        super().__init__(elements, cutoff, periodic, energy_scale, hidden_channels, num_layers, num_rbf, activation,
                         num_heads=int(num_heads), attn_activation=attn_activation,
                         distance_influence=distance_influence, neighbor_embedding=bool(neighbor_embedding),
                         vector_cutoff=bool(vector_cutoff))

    def evaluation_values(self) -> tuple[float, float]:
        """Per edge 30·H·L + 12·H + 6·num_rbf values (measured with bench/eval_memory.py: 28·H·L + 10·H + 4.5·num_rbf
        for H = 64, 128 and L = 2, 4; ethanol-et, 128 × 4: 62.5 kB per edge in float32), per atom 32·H·L."""
        h, n = self.hidden_channels, self.num_layers
        return 30.0 * h * n + 12.0 * h + 6.0 * self.num_rbf, 32.0 * h * n

    def _build_representation(self) -> nn.Module:
        torchmd_et, _, _ = _import_torchmdnet()
        kw = self.representation_kwargs
        if self.hidden_channels % kw["num_heads"]:
            raise ValueError(f"hidden_channels ({self.hidden_channels}) must be divisible by num_heads ({kw['num_heads']})")
        return torchmd_et.TorchMD_ET(
            hidden_channels=self.hidden_channels, num_layers=self.num_layers, num_rbf=self.num_rbf,
            activation=self.activation, cutoff_upper=self.cutoff, max_z=self.max_z, **kw,
        )


@register_kind("torchmdnet-tensornet")
class TensorNetPotential(TorchMDNetPotential):
    """TorchMD-NET TensorNet (Simeon & De Fabritiis 2023)."""

    def __init__(self, elements, cutoff=4.5, periodic=False, energy_scale=1.0, hidden_channels=128, num_layers=2,
                 num_rbf=32, activation="silu", equivariance_invariance_group="O(3)"):
        super().__init__(elements, cutoff, periodic, energy_scale, hidden_channels, num_layers, num_rbf, activation,
                         equivariance_invariance_group=equivariance_invariance_group)

    def evaluation_values(self) -> tuple[float, float]:
        """Per edge H·(16·L + 20) + 4·num_rbf values (measured with bench/eval_memory.py: H·(15·L + 18) for H = 64, 128
        and L = 1, 2; ethanol-tensornet, 128 × 2: 24.7 kB per edge in float32), per atom 100·H·(L + 1) (3×3 tensors)."""
        h, n = self.hidden_channels, self.num_layers
        return h * (16.0 * n + 20.0) + 4.0 * self.num_rbf, 100.0 * h * (n + 1)

    def _build_representation(self) -> nn.Module:
        _, tensornet, _ = _import_torchmdnet()
        return tensornet.TensorNet(
            hidden_channels=self.hidden_channels, num_layers=self.num_layers, num_rbf=self.num_rbf,
            activation=self.activation, cutoff_upper=self.cutoff, max_z=self.max_z, static_shapes=False,
            **self.representation_kwargs,
        )
