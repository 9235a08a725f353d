"""Replicas (seeds, start conformers) of one molecule's runs: pooled samples, error bars, and differences beyond noise.

A metric measured once per replica gets ``mean ± sem`` (standard error of the mean, std with
ddof=1 over √n). A model-vs-reference difference *exceeds the replica noise* when
``|mean_model − mean_ref| > k · sqrt(sem_model² + sem_ref²)`` with ``k = 2`` (about a 95 %
two-sided test for normal means); with fewer than two replicas on either side the noise is
unknown and the answer is None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["NOISE_FACTOR", "replica_stats", "exceeds_noise", "pool_samples"]

#: how many combined standard errors a difference must exceed to count as beyond replica noise
NOISE_FACTOR = 2.0


def replica_stats(values: Sequence[float] | np.ndarray) -> dict:
    """``{mean, std, sem, n, n_nonfinite}`` of one number per replica.

    Non-finite values (a replica without a result) are left out and counted in ``n_nonfinite``;
    ``std`` (ddof=1) and ``sem`` are None below two finite values, ``mean`` None with none.
    """
    array = np.asarray(values, dtype=np.float64).ravel()
    finite = array[np.isfinite(array)]
    n = len(finite)
    std = float(np.std(finite, ddof=1)) if n >= 2 else None
    return {"mean": float(np.mean(finite)) if n else None, "std": std,
            "sem": std / math.sqrt(n) if std is not None else None, "n": n, "n_nonfinite": len(array) - n}


def exceeds_noise(model: Sequence[float] | np.ndarray, reference: Sequence[float] | np.ndarray,
                  k: float = NOISE_FACTOR, worse: str | None = None) -> dict:
    """Whether the model's replica mean differs from the reference's by more than ``k`` combined standard errors.

    ``model``, ``reference``: one value per replica. ``worse``: None (a difference either way counts), "higher" or
    "lower" (only a difference in that direction counts: an error metric such as the h(r) MAE that lies below the
    reference replicas' own is not beyond their noise). Returns ``difference`` (model − reference mean),
    ``noise`` (sqrt(sem_m² + sem_r²)), ``exceeds`` (bool, or None when either side has < 2 finite
    values), and the two sides' :func:`replica_stats` as ``model`` and ``reference``.
    """
    if worse not in (None, "higher", "lower"):
        raise ValueError(f"worse must be None, 'higher' or 'lower', got {worse!r}")
    m, r = replica_stats(model), replica_stats(reference)
    difference = None if m["mean"] is None or r["mean"] is None else m["mean"] - r["mean"]
    noise = None if m["sem"] is None or r["sem"] is None else math.hypot(m["sem"], r["sem"])
    signed = {None: abs, "higher": lambda d: d, "lower": lambda d: -d}[worse]
    exceeds = None if difference is None or noise is None else bool(signed(difference) > k * noise)
    return {"difference": difference, "noise": noise, "exceeds": exceeds, "model": m, "reference": r}


def pool_samples(per_replica: Sequence[np.ndarray]) -> np.ndarray:
    """The replicas' samples (or frames) concatenated along the first axis; trailing shapes must agree."""
    arrays = [np.asarray(a) for a in per_replica]
    if not arrays:
        raise ValueError("pool_samples needs at least one replica")
    shapes = {a.shape[1:] for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"replicas differ in their per-sample shape: {sorted(shapes)}")
    return np.concatenate(arrays, axis=0)
