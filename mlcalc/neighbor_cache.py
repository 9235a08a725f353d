"""Neighbor pairs reused between MD steps (a Verlet skin) and model inputs built without PyG batching.

:class:`NeighborCache` asks vesin (through :func:`mlcalc.graph.neighbor_pairs`) for the
pairs within ``cutoff + skin`` and keeps them while no atom has moved more than half the
skin since (and numbers, cell and pbc are unchanged); every call filters them by the
current distances, so it returns exactly the pairs closer than ``cutoff`` — the same
edge set as a fresh neighbor search, only cheaper. It holds many structures at once
(one batched MD state) and rebuilds only the structures that need it.
:func:`structure_inputs` turns structures into the model-input dict of :mod:`mlcalc.keys` (checked by
:func:`mlcalc.evaluation.structure_model_inputs`, the one builder MLCalc and the TorchSim model use).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from mlcalc import keys as K
from mlcalc.graph import neighbor_pairs, periodic_cell

__all__ = ["NeighborCache", "DEFAULT_SKIN", "structure_inputs"]

#: Å; pairs are searched within cutoff + skin and reused until an atom moves half of it
DEFAULT_SKIN = 0.5


class NeighborCache:
    """Pairs closer than ``cutoff`` Å for one or more structures, searched within ``cutoff + skin``.

    ``skin`` 0 searches anew on every call. :attr:`builds` counts the neighbor searches
    (one per structure rebuilt), for tests and benchmarks. :attr:`squared_distances` holds
    the squared lengths (Å²) of the pairs the last :meth:`pairs` call returned.
    """

    def __init__(self, cutoff: float, skin: float = DEFAULT_SKIN):
        if cutoff <= 0 or skin < 0:
            raise ValueError(f"need cutoff > 0 and skin >= 0 (Å), got cutoff={cutoff}, skin={skin}")
        self.cutoff, self.skin = float(cutoff), float(skin)
        self.builds = 0
        self.squared_distances = np.zeros(0)
        self._sizes: tuple[int, ...] = ()
        self._systems: list[dict] = []
        self._candidates: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._reference: tuple[np.ndarray, ...] | None = None  # positions, numbers, cells, pbc at the searches

    def pairs(self, positions: np.ndarray, numbers: np.ndarray, cells: np.ndarray, pbc: np.ndarray,
              sizes: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Pairs of the structures laid end to end: ``edge_index`` int64 [2, n_edges] (global atom
        indices, source j then target i) and integer ``shifts`` float64 [n_edges, 3].

        ``positions`` [n_atoms, 3] Å, ``numbers`` [n_atoms], ``cells`` [n_structures, 3, 3]
        (rows are lattice vectors), ``pbc`` bool [n_structures, 3], ``sizes`` atoms per structure.
        """
        positions = np.asarray(positions, dtype=np.float64)
        numbers = np.asarray(numbers)
        cells, pbc = np.asarray(cells, dtype=np.float64), np.asarray(pbc, dtype=bool)
        sizes = tuple(int(n) for n in sizes)
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        if sizes != self._sizes:
            self._sizes, self._systems, self._candidates = sizes, [{} for _ in sizes], None
            self._reference = None
        stale = self._stale(positions, numbers, cells, pbc, starts)
        if self._reference is None:
            self._reference = (positions.copy(), numbers.copy(), cells.copy(), pbc.copy())
        ref_positions, ref_numbers, ref_cells, ref_pbc = self._reference
        for k in np.flatnonzero(stale):
            a, b = starts[k], starts[k + 1]
            edges, shifts = neighbor_pairs(positions[a:b], cells[k], pbc[k], self.cutoff + self.skin)
            # one canonical order (target, source, shift), whenever the search ran: the model then sums
            # in the same order after a rebuild as with reused pairs, so a resumed MD run is bit-identical
            order = np.lexsort((shifts[:, 2], shifts[:, 1], shifts[:, 0], edges[0], edges[1]))
            edges, shifts = edges[:, order], shifts[order]
            self._systems[k] = {"edges": edges, "shifts": shifts}
            ref_positions[a:b], ref_numbers[a:b], ref_cells[k], ref_pbc[k] = positions[a:b], numbers[a:b], cells[k], pbc[k]
            self._candidates = None
            self.builds += 1
        if self._candidates is None:
            self._candidates = self._concatenate(starts)
        edges, shifts, graph = self._candidates
        j, i = edges
        vectors = positions[j] - positions[i] + np.einsum("ek,ekl->el", shifts, periodic_cell(cells, pbc)[graph])
        squared = np.einsum("ij,ij->i", vectors, vectors)
        keep = squared < self.cutoff ** 2
        self.squared_distances = squared[keep]  # Å², of the pairs returned (for a close-contact check)
        return np.ascontiguousarray(edges[:, keep]), shifts[keep]

    def _stale(self, positions: np.ndarray, numbers: np.ndarray, cells: np.ndarray, pbc: np.ndarray,
               starts: np.ndarray) -> np.ndarray:
        """Which structures need a new search (bool per structure): the first call, new numbers, cell
        or pbc, or an atom that moved more than half the skin since the last search."""
        n = len(starts) - 1
        if self._reference is None or self.skin == 0:
            return np.ones(n, dtype=bool)
        ref_positions, ref_numbers, ref_cells, ref_pbc = self._reference
        moved = positions - ref_positions
        per_atom = (np.einsum("ij,ij->i", moved, moved) > (0.5 * self.skin) ** 2) | (numbers != ref_numbers)
        changed = np.add.reduceat(per_atom.astype(np.int64), starts[:-1]) > 0 if len(per_atom) else np.zeros(n, bool)
        changed &= np.diff(starts) > 0
        return changed | (cells != ref_cells).any(axis=(1, 2)) | (pbc != ref_pbc).any(axis=1)

    def _concatenate(self, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All structures' candidate pairs with global atom indices, and each pair's structure."""
        edges = [s["edges"] + starts[k] for k, s in enumerate(self._systems)]
        graph = [np.full(s["edges"].shape[1], k) for k, s in enumerate(self._systems)]
        return (np.concatenate(edges, axis=1), np.concatenate([s["shifts"] for s in self._systems]),
                np.concatenate(graph))


def structure_inputs(positions: np.ndarray, numbers: np.ndarray, cells: np.ndarray, pbc: np.ndarray,
                     sizes: Sequence[int], cache: NeighborCache, dtype: torch.dtype,
                     device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Model inputs (fields of :mod:`mlcalc.keys`) for structures laid end to end, pairs from ``cache``.

    Shapes as in :meth:`NeighborCache.pairs`; the same dict a PyG batch of
    :func:`mlcalc.graph.atoms_to_graph` graphs gives, without building one.
    """
    cells, pbc = np.asarray(cells, dtype=np.float64), np.asarray(pbc, dtype=bool)
    edges, shifts = cache.pairs(positions, numbers, cells, pbc, sizes)
    sizes_t = torch.as_tensor(np.asarray(sizes, dtype=np.int64), device=device)
    return {
        K.Z: torch.as_tensor(np.asarray(numbers, dtype=np.int64), device=device),
        K.POSITIONS: torch.as_tensor(positions, dtype=dtype, device=device),
        K.CELL: torch.as_tensor(periodic_cell(cells, pbc), dtype=dtype, device=device),
        K.PBC: torch.as_tensor(pbc, device=device),
        K.BATCH: torch.repeat_interleave(torch.arange(len(sizes), device=device), sizes_t),
        K.N_ATOMS: sizes_t,
        K.EDGE_INDEX: torch.as_tensor(edges, device=device),
        K.EDGE_SHIFTS: torch.as_tensor(shifts, dtype=dtype, device=device),
    }
