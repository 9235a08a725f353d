"""Crystal graphs: the vesin neighbor pairs within a radius, cut to the nearest ``max_neighbors`` of each atom.

CGCNN's graph (Xie & Grossman 2018): every atom is joined to at most ``max_neighbors``
(default 12) nearest atoms, periodic images included, within ``radius`` (default 8 Å).
:func:`nearest_edges` is the one implementation of that cut; the data pipeline applies
it when graphs are built and cached, and models apply it again to any graph they are
given (a no-op on graphs already cut), so that MLCalc, which builds plain radius graphs,
gives the same predictions.
"""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms
from torch_geometric.data import Data

from mlcalc import keys as K
from mlcalc.graph import atoms_to_graph, neighbor_pairs, periodic_cell

__all__ = ["DEFAULT_RADIUS", "DEFAULT_MAX_NEIGHBORS", "nearest_edges", "crystal_graph"]

#: Å, CGCNN's default neighbor radius
DEFAULT_RADIUS = 8.0
#: CGCNN's default number of neighbors per atom
DEFAULT_MAX_NEIGHBORS = 12


def nearest_edges(target: torch.Tensor, lengths: torch.Tensor, n_atoms: int, max_neighbors: int) -> torch.Tensor:
    """Indices of the edges that are among the ``max_neighbors`` shortest of their target atom, int64 [n_kept].

    ``target``: target atom of each edge [n_edges]; ``lengths`` [n_edges] Å. Ties are
    broken by length rounded to 1e-5 Å, then by edge order. The result is sorted by
    target, then length.
    """
    if len(target) == 0:
        return torch.zeros(0, dtype=torch.long, device=target.device)
    rounded = torch.round(lengths.detach().double() * 1e5)
    order = torch.argsort(rounded, stable=True)
    order = order[torch.argsort(target[order], stable=True)]
    sorted_target = target[order]
    counts = torch.bincount(sorted_target, minlength=n_atoms)
    first = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(order), device=target.device) - first[sorted_target]
    return order[rank < max_neighbors]


def crystal_graph(atoms: Atoms, radius: float = DEFAULT_RADIUS, max_neighbors: int | None = DEFAULT_MAX_NEIGHBORS,
                  dtype: torch.dtype = torch.float32) -> Data:
    """``atoms`` as a graph of its neighbor pairs within ``radius`` Å, cut to ``max_neighbors`` per atom (None: all).

    With ``max_neighbors`` the pairs are first searched within 0.625·radius (5 Å of 8): when
    every atom has ``max_neighbors`` there, its nearest ones are the same as within
    ``radius``, at a fraction of the cost; otherwise the search is redone within ``radius``.
    """
    pbc = np.asarray(atoms.pbc, dtype=bool)
    cell = periodic_cell(atoms.cell.array, pbc)
    n = len(atoms)
    for r in (0.625 * radius, radius) if max_neighbors is not None else (radius,):
        edge_index, shifts = neighbor_pairs(atoms.positions, atoms.cell.array, pbc, r)
        if max_neighbors is None or r == radius or np.bincount(edge_index[1], minlength=n).min() >= max_neighbors:
            break
    graph = atoms_to_graph(atoms, cutoff=None, dtype=dtype, labels=False)
    if max_neighbors is not None:
        vectors = atoms.positions[edge_index[0]] - atoms.positions[edge_index[1]] + shifts @ cell
        keep = nearest_edges(torch.from_numpy(edge_index[1]), torch.from_numpy(np.linalg.norm(vectors, axis=1)), n,
                             max_neighbors).numpy()
        edge_index, shifts = edge_index[:, keep], shifts[keep]
    graph[K.EDGE_INDEX] = torch.as_tensor(edge_index)
    graph[K.EDGE_SHIFTS] = torch.as_tensor(shifts, dtype=dtype)
    return graph
