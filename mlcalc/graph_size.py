"""How large a structure's graph will be, estimated before anything is allocated, and the limit on it.

A periodic cell much smaller than the cutoff (or a skewed one with planes 1e-3 Å apart)
puts thousands of images of every atom within the cutoff; models that tile small cells
into a supercell (TorchMD-NET) multiply that again. Such a structure is refused with its
size instead of exhausting memory: the neighbor search and pair list here, the memory a
model's evaluation needs (each kind's ``evaluation_bytes``) against :func:`memory_limit`.
"""

from __future__ import annotations

import functools
import math
import os
from typing import Any, Sequence

import numpy as np

__all__ = ["MAX_PAIRS", "MAX_IMAGES", "MEMORY_LIMIT_VARIABLE", "GraphTooLargeError", "plane_spacings",
           "estimated_pairs", "estimated_images", "estimated_angles", "check_pair_count", "check_periodic_search",
           "memory_limit", "memory_message"]

#: most neighbor pairs one call may build (about 8 GB for the pair list alone; the model needs more)
MAX_PAIRS = 200_000_000
#: most periodic images of a cell one neighbor search may visit (vesin: ~2e-8 s each, so ~2 s)
MAX_IMAGES = 100_000_000
#: bytes per pair in the neighbor list: two int64 indices and three float64 shifts
_BYTES_PER_PAIR = 40
#: environment variable: the most memory (GB) one evaluation may need (default: the machine's or the GPU's memory)
MEMORY_LIMIT_VARIABLE = "MLCALC_MAX_MEMORY_GB"


class GraphTooLargeError(ValueError):
    """A structure whose neighbor search or graph would exceed :data:`MAX_IMAGES`/:data:`MAX_PAIRS`, or whose
    evaluation would need more memory than :func:`memory_limit`."""


def plane_spacings(cell: np.ndarray) -> np.ndarray:
    """Distances between lattice planes of the (completed) cell, [3] Å."""
    from ase.cell import Cell

    return 1.0 / np.linalg.norm(Cell(np.asarray(cell, dtype=np.float64)).complete().reciprocal(), axis=1)


def estimated_pairs(n_atoms: int, cell: np.ndarray, pbc: Sequence[bool], cutoff: float) -> float:
    """About how many ordered pairs lie within ``cutoff`` Å: N² · (ball of radius cutoff) / (cell measure).

    The cell measure is the volume (area, length) spanned by the periodic cell vectors; for
    a cell much larger than the cutoff this is N times the neighbors of an atom at the
    cell's mean density, for a tiny cell N² times the images within the cutoff. Without
    periodic directions: N(N-1) is the bound, and 0 is returned (a molecule's list is small).
    """
    periodic = np.flatnonzero(np.asarray(pbc, dtype=bool))
    if not len(periodic):
        return 0.0
    vectors = np.asarray(cell, dtype=np.float64)[periodic]
    measure = math.sqrt(max(float(np.linalg.det(vectors @ vectors.T)), 0.0))
    k = len(periodic)
    ball = math.pi ** (k / 2) / math.gamma(k / 2 + 1) * cutoff ** k
    if measure <= 0:
        return math.inf
    return float(n_atoms) ** 2 * ball / measure


def estimated_images(cell: np.ndarray, pbc: Sequence[bool], cutoff: float) -> float:
    """Periodic images of the cell a search to ``cutoff`` Å visits: Π over periodic directions of 2⌈cutoff/d⌉+1."""
    spacings = plane_spacings(cell)
    return float(np.prod([2 * math.ceil(cutoff / d) + 1 for d, p in zip(spacings, pbc) if p]))


def check_periodic_search(n_atoms: int, cell: np.ndarray, pbc: Sequence[bool], cutoff: float) -> None:
    """Refuse (:class:`GraphTooLargeError`, one line) a periodic neighbor search too large to run."""
    images, pairs = estimated_images(cell, pbc, cutoff), estimated_pairs(n_atoms, cell, pbc, cutoff)
    if images <= MAX_IMAGES and pairs <= MAX_PAIRS:
        return
    what = (f"{n_atoms} atoms in a periodic cell of volume {abs(np.linalg.det(cell)):.3g} Å^3 and plane spacings "
            f"{np.array2string(plane_spacings(cell), precision=3, separator=', ')} Å, searched to {cutoff:g} Å,")
    if images > MAX_IMAGES:
        raise GraphTooLargeError(f"{what} would need a neighbor search over about {images:.3g} periodic images "
                                 f"(limit {MAX_IMAGES:.0e}) and about {pairs:.3g} neighbor pairs: check the cell "
                                 f"(far smaller than the cutoff, or skewed?)")
    check_pair_count(pairs, what)


def _size(n_bytes: float) -> str:
    for unit, scale in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.3g} {unit}"
    return f"{n_bytes:.0f} bytes"


def check_pair_count(pairs: float, what: str) -> None:
    """Raise :class:`GraphTooLargeError` (one line, with ``what`` the graph is of) above :data:`MAX_PAIRS`."""
    if pairs > MAX_PAIRS:
        raise GraphTooLargeError(
            f"{what} would have about {pairs:.3g} neighbor pairs ({_size(pairs * _BYTES_PER_PAIR)} for the pair "
            f"list alone), more than the limit of {MAX_PAIRS:.0e}: check the cell (a cell far smaller than the "
            f"cutoff, or a skewed one?)")


def estimated_angles(edge_index: Any, n_atoms: int, radius: float, cutoff: float) -> float:
    """About how many ordered pairs of distinct edges leaving one atom are both shorter than ``radius`` Å (the angles
    of ANI's angular terms, of CHGNet's bond graph): Σ_i d_i(d_i - 1), with d_i atom i's edges within ``cutoff``
    (``edge_index`` [2, n_edges], a full list) scaled by (radius/cutoff)³, as for a uniform density."""
    if edge_index.shape[1] == 0:
        return 0.0
    if edge_index.device.type == "cpu":  # numpy is quicker on the small arrays of molecules
        degree = np.bincount(edge_index.numpy()[1])
        squares = float(degree @ degree)
    else:
        import torch

        degree = torch.bincount(edge_index[1])
        squares = float(torch.dot(degree, degree))
    scale = min(radius / cutoff, 1.0) ** 3  # Σ (s·d_i)(s·d_i - 1) = s²·Σ d_i² - s·n_edges
    return max(scale * scale * squares - scale * edge_index.shape[1], 0.0)


@functools.lru_cache(maxsize=1)
def _machine_memory() -> float:
    """Physical memory in bytes, or the cgroup's limit (a container) if lower."""
    total = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as fh:
                text = fh.read().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, float(text))
    return total


def memory_limit(device: Any = "cpu") -> tuple[float, str]:
    """``(bytes, where that number comes from)``: the most memory one evaluation on ``device`` may need.

    :data:`MEMORY_LIMIT_VARIABLE` (GB) if set, else the GPU's memory (a CUDA device) or this machine's.
    """
    value = os.environ.get(MEMORY_LIMIT_VARIABLE)
    if value and value.strip():
        try:
            limit = float(value)
        except ValueError:
            limit = math.nan
        if not limit > 0 or math.isinf(limit):
            raise ValueError(f"{MEMORY_LIMIT_VARIABLE}={value!r}: give the memory in GB, a positive number "
                             f"(e.g. {MEMORY_LIMIT_VARIABLE}=64)")
        return limit * 1e9, f"{MEMORY_LIMIT_VARIABLE}={value}"
    kind = device.type if hasattr(device, "type") else str(device).split(":")[0]
    if kind == "cuda":
        import torch

        return float(torch.cuda.get_device_properties(device).total_memory), "the GPU's memory"
    return _machine_memory(), "this machine's memory"


def memory_message(what: str, needed: float, limit: float, source: str) -> str:
    """One line: ``what`` would need ``needed`` bytes, more than ``limit`` (from ``source``), and how to change it."""
    return (f"{what} would need about {_size(needed)} of memory, more than the limit of {_size(limit)} ({source}); "
            f"set {MEMORY_LIMIT_VARIABLE} to change the limit (in GB), or check the structure (a periodic cell far "
            f"smaller than the cutoff, or skewed?)")

