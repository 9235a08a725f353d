"""Comparing two distributions: common bins, Wasserstein-1 distance, Jensen-Shannon divergence."""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from .distributions import Distribution

__all__ = ["common_bins", "bin_count", "wasserstein", "jensen_shannon", "compare"]


def bin_count(n_samples: int, max_bins: int = 80, min_bins: int = 10) -> int:
    """Bins for a histogram of ``n_samples`` values: √n, clipped to [min_bins, max_bins]
    (few samples in many bins would make every histogram comparison look bad)."""
    return int(np.clip(np.sqrt(max(n_samples, 1)), min_bins, max_bins))


def common_bins(*samples: np.ndarray, n_bins: int = 80, pad: float = 0.05) -> np.ndarray:
    """``n_bins + 1`` equal bin edges spanning all ``samples`` (widened by ``pad`` × range on each side)."""
    values = np.concatenate([np.ravel(s) for s in samples])
    if values.size == 0:
        raise ValueError("no samples to bin")
    lo, hi = float(values.min()), float(values.max())
    width = hi - lo if hi > lo else max(abs(lo), 1.0) * 1e-3
    return np.linspace(lo - pad * width, hi + pad * width, n_bins + 1)


def wasserstein(a: np.ndarray, b: np.ndarray) -> float:
    """Wasserstein-1 (earth mover's) distance between two samples, in their unit."""
    return float(wasserstein_distance(np.ravel(a), np.ravel(b)))


def jensen_shannon(a: np.ndarray, b: np.ndarray, edges: np.ndarray) -> float:
    """Jensen-Shannon divergence (base 2: 0 for identical histograms, 1 for disjoint ones) on ``edges``."""
    p, _ = np.histogram(np.ravel(a), bins=edges)
    q, _ = np.histogram(np.ravel(b), bins=edges)
    if p.sum() == 0 or q.sum() == 0:
        raise ValueError("a sample has no values inside the bins")
    return float(jensenshannon(p / p.sum(), q / q.sum(), base=2) ** 2)


def compare(a: Distribution, b: Distribution, n_bins: int = 80) -> dict[str, float]:
    """Mean and std of both, the difference of means (b − a), W1 and JS divergence.

    The JS divergence uses common bins: at most ``n_bins``, fewer for small samples (:func:`bin_count`).
    """
    if a.kind != b.kind:
        raise ValueError(f"cannot compare a {a.kind} distribution with a {b.kind} distribution")
    edges = common_bins(a.samples, b.samples, n_bins=bin_count(min(a.samples.size, b.samples.size), n_bins))
    return {
        "mean_a": a.mean, "std_a": a.std, "mean_b": b.mean, "std_b": b.std, "mean_diff": b.mean - a.mean,
        "wasserstein": wasserstein(a.samples, b.samples), "jensen_shannon": jensen_shannon(a.samples, b.samples, edges),
    }
