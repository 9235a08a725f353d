"""The interatomic-distance distribution h(r) of MD frames and its MAE between two runs (Fu et al. 2023).

h(r) = < (N(N−1)/2)⁻¹ Σ_{i<j} δ(r − |x_i − x_j|) > over frames, a density in 1/Å binned on
[0, r_max]; it integrates to 1 when every distance is below ``r_max`` (longer ones are dropped).
MAE_h = ∫ |h_a(r) − h_b(r)| dr: 0 for identical distributions, 2 at most for disjoint ones.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from .replicas import pool_samples
from .run_arrays import read_run

__all__ = ["distance_histogram", "h_mae", "run_distance_histogram"]

_CHUNK = 1024  # frames per batch of pair distances


def distance_histogram(positions: np.ndarray, n_bins: int = 500, r_max: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """h(r) of the non-periodic frames ``positions`` [T, N, 3] Å: bin centres [n_bins] Å and h [n_bins] 1/Å."""
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[2] != 3 or positions.shape[1] < 2 or not len(positions):
        raise ValueError(f"positions must have shape [T >= 1, N >= 2, 3], not {list(positions.shape)}")
    if n_bins < 1 or r_max <= 0:
        raise ValueError(f"need n_bins >= 1 and r_max > 0 Å, got n_bins={n_bins}, r_max={r_max}")
    edges = np.linspace(0.0, r_max, n_bins + 1)
    i, j = np.triu_indices(positions.shape[1], k=1)
    counts = np.zeros(n_bins)
    for start in range(0, len(positions), _CHUNK):
        chunk = positions[start:start + _CHUNK]
        counts += np.histogram(np.linalg.norm(chunk[:, j] - chunk[:, i], axis=-1), bins=edges)[0]
    h = counts / (len(positions) * len(i) * (r_max / n_bins))
    return (edges[:-1] + edges[1:]) / 2, h


def h_mae(h_a: np.ndarray, h_b: np.ndarray, dr: float) -> float:
    """∫ |h_a − h_b| dr for two h(r) [n_bins] 1/Å on the same bins of width ``dr`` Å (0 to 2)."""
    h_a, h_b = np.asarray(h_a, dtype=np.float64), np.asarray(h_b, dtype=np.float64)
    if h_a.shape != h_b.shape:
        raise ValueError(f"h(r) arrays differ in shape: {h_a.shape} vs {h_b.shape} (use the same bins)")
    return float(np.sum(np.abs(h_a - h_b)) * dr)


def run_distance_histogram(run_dirs: str | os.PathLike | Sequence[str | os.PathLike], n_bins: int = 500,
                           r_max: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """h(r) of the frames of one run folder, or of several (replicas) pooled."""
    if isinstance(run_dirs, (str, os.PathLike)):
        run_dirs = [run_dirs]
    return distance_histogram(pool_samples([read_run(path).positions for path in run_dirs]), n_bins, r_max)
