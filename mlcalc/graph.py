"""Atoms -> graph: the one neighbor-list implementation of mlcalc (vesin) and batching.

A graph is a :class:`torch_geometric.data.Data` whose fields are named by
:mod:`mlcalc.keys`; many graphs batch into one with
:class:`torch_geometric.data.Batch` (edge indices are offset automatically).
Edge vectors are not stored: :func:`edge_vectors` recomputes them from positions,
cell and integer shifts so that they stay differentiable (forces and stress).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from ase import Atoms
from torch_geometric.data import Batch, Data
from vesin import NeighborList

from mlcalc import keys as K
from mlcalc.data.labels import reference_labels
from mlcalc.graph_size import check_periodic_search

__all__ = ["neighbor_pairs", "model_positions", "atoms_to_graph", "batch_graphs", "atoms_to_batch", "edge_vectors", "periodic_cell"]


def periodic_cell(cell: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """The cell with the rows of non-periodic directions zeroed: [3, 3] Å for ``pbc`` [3], or cells
    [n, 3, 3] for ``pbc`` [n, 3]."""
    return np.asarray(cell, dtype=np.float64) * np.asarray(pbc, dtype=bool)[..., None]


def neighbor_pairs(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float, self_loops: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """All ordered pairs (j, i) closer than ``cutoff`` Å, periodic images included.

    Returns ``edge_index`` int64 [2, n_edges] (row 0 source j, row 1 target i) and
    ``shifts`` float [n_edges, 3], the lattice shift S such that the vector from i
    to the image of j is r_j + S·cell - r_i. Cells smaller than the cutoff are handled
    (several images of one pair). With ``self_loops`` every atom also gets an (i, i) edge.
    A search too large to run (:func:`~mlcalc.graph_size.check_periodic_search`) is refused
    before it starts (:class:`~mlcalc.graph_size.GraphTooLargeError`).
    """
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    pbc = np.asarray(pbc, dtype=bool)
    periodic = bool(pbc.any())
    box = np.asarray(cell, dtype=np.float64) if periodic else np.zeros((3, 3))
    if periodic:
        check_periodic_search(len(positions), box, pbc, cutoff)
    nl = NeighborList(cutoff=float(cutoff), full_list=True)
    # vesin returns i, j, S with vector r_j - r_i + S·box: our source is j, target is i.
    # Shifts along non-periodic directions are zero, so the zeroed rows of periodic_cell() agree.
    i, j, shifts = nl.compute(points=positions, box=box, periodic=pbc.tolist() if periodic else False, quantities="ijS")
    edge_index = np.stack([j, i]).astype(np.int64)
    shifts = shifts.astype(np.float64)
    if self_loops:
        n = len(positions)
        loops = np.arange(n, dtype=np.int64)
        edge_index = np.concatenate([edge_index, np.stack([loops, loops])], axis=1)
        shifts = np.concatenate([shifts, np.zeros((n, 3))], axis=0)
    return edge_index, shifts


def model_positions(atoms: Atoms, dtype: torch.dtype) -> np.ndarray:
    """The positions a model of ``dtype`` is given, float64 [n_atoms, 3] Å.

    A model sees only differences of positions (translation invariance), but a cast to
    float32 keeps ~7 digits of each coordinate: at 1e6 Å from the origin that is 0.1 Å.
    For dtypes narrower than float64 the positions are therefore taken relative to the
    structure's centre (the mean position) and, along periodic directions, wrapped to
    within half a cell of it, in float64 before the cast; the cast then loses ~1e-7 of
    the structure's size, wherever it sits. For float64 the positions are returned as
    given, bit for bit (centring there would change results only at round-off, ~1e-14
    relative, but stored float64 trajectories are reproduced exactly).
    """
    positions = np.asarray(atoms.positions, dtype=np.float64)
    if torch.finfo(dtype).bits >= 64 or len(positions) == 0:
        return positions
    return centred_positions(positions, atoms.cell.array, np.asarray(atoms.pbc, dtype=bool))


def centred_positions(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """One structure's float64 positions [n_atoms, 3] relative to their mean, wrapped along periodic
    directions to within half a cell of it (what :func:`model_positions` gives a float32 model)."""
    relative = positions - positions.mean(axis=0)
    if pbc.any():
        from ase.geometry import wrap_positions

        relative = wrap_positions(relative, cell, pbc=pbc, center=(0.0, 0.0, 0.0), eps=0.0)
    return relative


def atoms_to_graph(atoms: Atoms, cutoff: float | None = None, dtype: torch.dtype = torch.float32,
                   labels: bool = True) -> Data:
    """One structure as a graph; with ``cutoff`` (Å) its neighbor pairs are included.

    With ``labels``, reference energy/forces/stress attached to ``atoms`` (``atoms.calc``
    results or ``atoms.info['energy']``/``atoms.arrays['forces']``) are copied as targets.
    """
    n = len(atoms)
    pbc = np.asarray(atoms.pbc, dtype=bool)
    cell = periodic_cell(atoms.cell.array, pbc)
    data = Data()
    data[K.Z] = torch.as_tensor(atoms.numbers, dtype=torch.long)
    positions = model_positions(atoms, dtype)
    data[K.POSITIONS] = torch.as_tensor(positions, dtype=dtype)
    data[K.CELL] = torch.as_tensor(cell, dtype=dtype).unsqueeze(0)
    data[K.PBC] = torch.as_tensor(pbc).unsqueeze(0)
    data[K.N_ATOMS] = torch.tensor([n], dtype=torch.long)
    data.num_nodes = n
    if cutoff is not None:
        edge_index, shifts = neighbor_pairs(positions, atoms.cell.array, pbc, cutoff)
        data[K.EDGE_INDEX] = torch.as_tensor(edge_index)
        data[K.EDGE_SHIFTS] = torch.as_tensor(shifts, dtype=dtype)
    for key, value in (reference_labels(atoms) if labels else {}).items():
        data[key] = torch.as_tensor(value, dtype=dtype)
    return data


def batch_graphs(graphs: Sequence[Data]) -> Batch:
    """Many graphs as one disconnected graph (PyG batching: edge indices offset, BATCH added)."""
    return Batch.from_data_list(list(graphs))


def atoms_to_batch(structures: Sequence[Atoms], cutoff: float | None = None, dtype: torch.dtype = torch.float32,
                   labels: bool = True) -> Batch:
    """Convenience: :func:`atoms_to_graph` on each structure, then :func:`batch_graphs`."""
    return batch_graphs([atoms_to_graph(a, cutoff, dtype, labels) for a in structures])


def edge_vectors(
    positions: torch.Tensor, cell: torch.Tensor, batch: torch.Tensor, edge_index: torch.Tensor, shifts: torch.Tensor
) -> torch.Tensor:
    """Vectors from target i to (the image of) source j, r_j + S·cell - r_i, [n_edges, 3] Å.

    Differentiable in ``positions`` [n_atoms, 3] and ``cell`` [n_graphs, 3, 3].
    """
    j, i = edge_index[0], edge_index[1]
    offsets = torch.einsum("ek,ekl->el", shifts.to(positions.dtype), cell[batch[i]])
    return positions[j] - positions[i] + offsets
