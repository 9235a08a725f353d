"""Neighbor pairs reused between MD steps (a Verlet skin) and model inputs built without PyG batching.

:class:`NeighborCache` asks vesin (through :func:`mlcalc.graph.neighbor_pairs`) for the
pairs within ``cutoff + skin`` and keeps them while no atom has moved more than half the
skin since (and numbers, cell and pbc are unchanged); every call filters them by the
current distances, so it returns exactly the pairs closer than ``cutoff`` — the same
edge set as a fresh neighbor search, only cheaper. It holds many structures at once
(one batched MD state) and rebuilds only the structures that need it.
:func:`structure_inputs` turns structures into the model-input dict of :mod:`mlcalc.keys`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from mlcalc import keys as K
from mlcalc.graph import neighbor_pairs

__all__ = ["NeighborCache", "DEFAULT_SKIN", "structure_inputs", "single_structure_inputs"]

#: Å; pairs are searched within cutoff + skin and reused until an atom moves half of it
DEFAULT_SKIN = 0.5


class NeighborCache:
    """Pairs closer than ``cutoff`` Å for one or more structures, searched within ``cutoff + skin``.

    ``skin`` 0 searches anew on every call. :attr:`builds` counts the neighbor searches
    (one per structure rebuilt), for tests and benchmarks.
    """

    def __init__(self, cutoff: float, skin: float = DEFAULT_SKIN):
        if cutoff <= 0 or skin < 0:
            raise ValueError(f"need cutoff > 0 and skin >= 0 (Å), got cutoff={cutoff}, skin={skin}")
        self.cutoff, self.skin = float(cutoff), float(skin)
        self.builds = 0
        self._sizes: tuple[int, ...] = ()
        self._systems: list[dict] = []
        self._candidates: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def pairs(self, positions: np.ndarray, numbers: np.ndarray, cells: np.ndarray, pbc: np.ndarray,
              sizes: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Pairs of the structures laid end to end: ``edge_index`` int64 [2, n_edges] (global atom
        indices, source j then target i) and integer ``shifts`` float64 [n_edges, 3].

        ``positions`` [n_atoms, 3] Å, ``numbers`` [n_atoms], ``cells`` [n_structures, 3, 3]
        (rows are lattice vectors), ``pbc`` bool [n_structures, 3], ``sizes`` atoms per structure.
        """
        positions = np.asarray(positions, dtype=np.float64)
        cells, pbc = np.asarray(cells, dtype=np.float64), np.asarray(pbc, dtype=bool)
        sizes = tuple(int(n) for n in sizes)
        if sizes != self._sizes:
            self._sizes, self._systems, self._candidates = sizes, [{} for _ in sizes], None
        starts = np.concatenate([[0], np.cumsum(sizes)])
        for k, system in enumerate(self._systems):
            a, b = starts[k], starts[k + 1]
            if self._stale(system, positions[a:b], numbers[a:b], cells[k], pbc[k]):
                edges, shifts = neighbor_pairs(positions[a:b], cells[k], pbc[k], self.cutoff + self.skin)
                system.update(positions=positions[a:b].copy(), numbers=np.array(numbers[a:b]), cell=cells[k].copy(),
                              pbc=pbc[k].copy(), edges=edges, shifts=shifts)
                self._candidates = None
                self.builds += 1
        if self._candidates is None:
            self._candidates = self._concatenate(starts)
        edges, shifts, graph = self._candidates
        j, i = edges
        vectors = positions[j] - positions[i] + np.einsum("ek,ekl->el", shifts, _cells(cells, pbc)[graph])
        keep = np.einsum("ij,ij->i", vectors, vectors) < self.cutoff ** 2
        return edges[:, keep], shifts[keep]

    def _stale(self, system: dict, positions: np.ndarray, numbers: np.ndarray, cell: np.ndarray,
               pbc: np.ndarray) -> bool:
        """Whether this structure needs a new search: first call, new numbers, cell or pbc, or a move > skin/2."""
        if not system or self.skin == 0:
            return True
        if not (np.array_equal(system["numbers"], numbers) and np.array_equal(system["cell"], cell)
                and np.array_equal(system["pbc"], pbc)):
            return True
        moved = positions - system["positions"]
        return bool(np.einsum("ij,ij->i", moved, moved).max(initial=0.0) > (0.5 * self.skin) ** 2)

    def _concatenate(self, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All structures' candidate pairs with global atom indices, and each pair's structure."""
        edges = [s["edges"] + starts[k] for k, s in enumerate(self._systems)]
        graph = [np.full(s["edges"].shape[1], k) for k, s in enumerate(self._systems)]
        return (np.concatenate(edges, axis=1), np.concatenate([s["shifts"] for s in self._systems]),
                np.concatenate(graph))


def _cells(cells: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """Cells [n, 3, 3] with the rows of non-periodic directions zeroed."""
    return cells * pbc[:, :, None]


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
        K.CELL: torch.as_tensor(_cells(cells, pbc), dtype=dtype, device=device),
        K.PBC: torch.as_tensor(pbc, device=device),
        K.BATCH: torch.repeat_interleave(torch.arange(len(sizes), device=device), sizes_t),
        K.N_ATOMS: sizes_t,
        K.EDGE_INDEX: torch.as_tensor(edges, device=device),
        K.EDGE_SHIFTS: torch.as_tensor(shifts, dtype=dtype, device=device),
    }


def single_structure_inputs(atoms, cache: NeighborCache, dtype: torch.dtype,
                            device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """:func:`structure_inputs` of one ASE Atoms."""
    return structure_inputs(atoms.positions, atoms.numbers, atoms.cell.array[None], np.asarray(atoms.pbc)[None],
                            [len(atoms)], cache, dtype, device)
