"""Crystal data sets as flat arrays with their CGCNN-style graphs, built in resumable cached chunks.

A :class:`CrystalSet` holds structures (periodic Atoms), one target value each (NaN
when unknown), their ids, the graph edges of :func:`mlcalc.crystal_graph.crystal_graph`
and the structures that could not be read (``skipped``: id and reason). Sets are built
by :func:`build_crystal_set` from a list of candidate ids and a reader; chunks of
structures are cached as ``.npz`` under ``<cache>/crystals/<key>/``, so a killed build
resumes and a second run reads the graphs back. The readers live in
:mod:`mlcalc.data.cif_folder` and :mod:`mlcalc.data.coremof`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
from ase import Atoms

from mlcalc.data.cache import cache_dir

__all__ = ["CrystalSet", "build_crystal_set", "Reader", "Rejected", "structure_to_atoms"]

log = logging.getLogger(__name__)

#: reads a list of ids and yields (id, Atoms or the exception that made it unreadable)
Reader = Callable[[Sequence[str]], Iterator[tuple[str, "Atoms | Exception"]]]

_FORMAT = 1
_ARRAYS = ("numbers", "positions", "cells", "n_atoms", "edge_index", "edge_shifts", "n_edges", "targets")


class Rejected(ValueError):
    """A reader's verdict that a structure is readable but not wanted (e.g. too many atoms); reason in the message."""


def structure_to_atoms(structure) -> Atoms:
    """A pymatgen ``Structure`` (or Atoms, returned as is) as periodic ASE Atoms (``AseAtomsAdaptor``)."""
    if isinstance(structure, Atoms):
        return structure
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(structure)
    return Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=True)


@dataclass
class CrystalSet:
    """Crystals as flat arrays: structure k has atoms ``atom_offsets[k]:atom_offsets[k+1]`` and edges likewise.

    ``numbers`` int [n_atoms_total]; ``positions`` float64 [n_atoms_total, 3] Å; ``cells``
    float64 [n, 3, 3] Å; ``edge_index`` int64 [2, n_edges_total] (source j, target i;
    indices local to each structure); ``edge_shifts`` int [n_edges_total, 3];
    ``targets`` float64 [n] (NaN: unknown); ``skipped`` (id, reason) of unread candidates.
    """

    ids: list[str]
    numbers: np.ndarray
    positions: np.ndarray
    cells: np.ndarray
    n_atoms: np.ndarray
    edge_index: np.ndarray
    edge_shifts: np.ndarray
    n_edges: np.ndarray
    targets: np.ndarray
    radius: float
    max_neighbors: int | None
    source: str
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def atom_offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.n_atoms)])

    @property
    def edge_offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.n_edges)])

    def atoms(self, k: int) -> Atoms:
        """Structure ``k`` as periodic Atoms; ``info['id']`` holds its id."""
        lo, hi = self.atom_offsets[k:k + 2]
        atoms = Atoms(numbers=self.numbers[lo:hi], positions=self.positions[lo:hi], cell=self.cells[k], pbc=True)
        atoms.info["id"] = self.ids[k]
        return atoms

    def edges(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Edges of structure ``k``: ``edge_index`` [2, e] (local) and ``edge_shifts`` [e, 3]."""
        lo, hi = self.edge_offsets[k:k + 2]
        return self.edge_index[:, lo:hi], self.edge_shifts[lo:hi]

    def elements(self) -> list[int]:
        """Atomic numbers present, sorted."""
        return sorted(int(z) for z in np.unique(self.numbers))

    def subset(self, rows: Iterable[int]) -> "CrystalSet":
        """The structures ``rows`` as a new set (skipped list kept)."""
        rows = [int(k) for k in rows]
        a, e = self.atom_offsets, self.edge_offsets
        atom_rows = np.concatenate([np.arange(a[k], a[k + 1]) for k in rows]) if rows else np.zeros(0, int)
        edge_rows = np.concatenate([np.arange(e[k], e[k + 1]) for k in rows]) if rows else np.zeros(0, int)
        return CrystalSet([self.ids[k] for k in rows], self.numbers[atom_rows], self.positions[atom_rows],
                          self.cells[rows], self.n_atoms[rows], self.edge_index[:, edge_rows],
                          self.edge_shifts[edge_rows], self.n_edges[rows], self.targets[rows], self.radius,
                          self.max_neighbors, self.source, list(self.skipped))


def _chunk_arrays(structures: list[tuple[str, Atoms, float]], radius: float,
                  max_neighbors: int | None) -> dict[str, np.ndarray]:
    from mlcalc import keys as K
    from mlcalc.crystal_graph import crystal_graph

    parts: dict[str, list] = {name: [] for name in _ARRAYS}
    for _, atoms, target in structures:
        graph = crystal_graph(atoms, radius, max_neighbors)
        parts["numbers"].append(atoms.numbers.astype(np.int64))
        parts["positions"].append(atoms.positions.astype(np.float64))
        parts["cells"].append(atoms.cell.array.astype(np.float64)[None])
        parts["n_atoms"].append([len(atoms)])
        parts["edge_index"].append(graph[K.EDGE_INDEX].numpy())
        parts["edge_shifts"].append(graph[K.EDGE_SHIFTS].numpy().round().astype(np.int32))
        parts["n_edges"].append([graph[K.EDGE_INDEX].shape[1]])
        parts["targets"].append([target])
    empty = {"numbers": np.zeros(0, np.int64), "positions": np.zeros((0, 3)), "cells": np.zeros((0, 3, 3)),
             "edge_index": np.zeros((2, 0), np.int64), "edge_shifts": np.zeros((0, 3), np.int32)}
    out = {}
    for name, items in parts.items():
        if not items:
            out[name] = empty.get(name, np.zeros(0))
        elif name == "edge_index":
            out[name] = np.concatenate(items, axis=1)
        else:
            out[name] = np.concatenate([np.asarray(x) for x in items], axis=0)
    out["n_atoms"], out["n_edges"] = out["n_atoms"].astype(np.int64), out["n_edges"].astype(np.int64)
    out["targets"] = out["targets"].astype(np.float64)
    return out


def build_crystal_set(candidates: Sequence[str], targets: dict[str, float], reader: Reader, radius: float,
                      max_neighbors: int | None, key: dict, want: int | None = None, max_atoms: int | None = None,
                      cache: str | os.PathLike | None = None, progress: bool = True, chunk_size: int = 200,
                      source: str = "") -> CrystalSet:
    """Read ``candidates`` in order, chunk by chunk, until ``want`` structures are kept (None: all).

    ``targets``: id -> value (NaN: unknown); ``reader``: yields each id's Atoms or the
    exception that made it unreadable (reported by name and skipped, as are structures
    with more than ``max_atoms`` atoms); ``key``: what identifies the data (hashed with
    the graph settings into the cache folder name). Shows a progress bar over candidates.
    """
    from tqdm.auto import tqdm

    descriptor = json.dumps({"format": _FORMAT, "radius": radius, "max_neighbors": max_neighbors,
                             "max_atoms": max_atoms, "chunk": chunk_size, "candidates": list(candidates),
                             **key}, sort_keys=True, default=str)
    folder = cache_dir(cache) / "crystals" / hashlib.sha256(descriptor.encode()).hexdigest()[:20]
    folder.mkdir(parents=True, exist_ok=True)
    kept, chunks, skipped, ids = 0, [], [], []
    n_chunks = -(-len(candidates) // chunk_size)
    bar = tqdm(total=len(candidates) if want is None else want, desc="crystal graphs", unit="structure",
               disable=not progress, leave=False)
    for c in range(n_chunks):
        if want is not None and kept >= want:
            break
        path = folder / f"chunk_{c:05d}.npz"
        chunk_ids = list(candidates[c * chunk_size:(c + 1) * chunk_size])
        if not path.is_file():
            good, bad = [], []
            for name, atoms in reader(chunk_ids):
                if isinstance(atoms, Rejected):
                    bad.append((name, str(atoms)))
                elif isinstance(atoms, Exception):
                    bad.append((name, f"unreadable: {type(atoms).__name__}: {str(atoms).splitlines()[0] if str(atoms) else ''}"))
                elif max_atoms is not None and len(atoms) > max_atoms:
                    bad.append((name, f"{len(atoms)} atoms > max_atoms {max_atoms}"))
                else:
                    good.append((name, atoms, float(targets.get(name, np.nan))))
            arrays = _chunk_arrays(good, radius, max_neighbors)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                np.savez(fh, ids=np.array([g[0] for g in good], dtype=str), skipped=np.array(bad, dtype=str).reshape(-1, 2),
                         **arrays)
            os.replace(tmp, path)
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in _ARRAYS}
            chunk_kept, chunk_bad = data["ids"].tolist(), [tuple(r) for r in data["skipped"].tolist()]
        for name, reason in chunk_bad:
            (log.warning if reason.startswith("unreadable") else log.info)("skipped %s: %s", name, reason)
        skipped += chunk_bad
        ids += chunk_kept
        chunks.append(arrays)
        kept += len(chunk_kept)
        bar.update(len(chunk_kept) if want is not None else len(chunk_ids))
    bar.close()
    merged = {name: np.concatenate([c[name] for c in chunks], axis=1 if name == "edge_index" else 0)
              for name in _ARRAYS} if chunks else _chunk_arrays([], radius, max_neighbors)
    result = CrystalSet(ids=ids, radius=radius, max_neighbors=max_neighbors, source=source, skipped=skipped, **merged)
    if want is not None and len(result) > want:
        result = result.subset(range(want))
    return result
