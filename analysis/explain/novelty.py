"""Is a point outside a reference set? Nearest-neighbour distances in representation space and the
fraction of points beyond a percentile of the reference set's own nearest-neighbour distances.

Points are frames (or atoms) of MD runs: ``keys`` [n, 2] hold (run, frame) per point, and a
reference point from the same run within ``window`` frames of a point is not its neighbour
(consecutive frames of one trajectory are near copies; without the window the reference's own
distances would measure the time step, not the region). A third key column (e.g. the atomic
number of atoms) restricts neighbours to points with the same value.
"""

from __future__ import annotations

import numpy as np

__all__ = ["nearest_distances", "out_of_distribution"]


def nearest_distances(reference: np.ndarray, queries: np.ndarray, reference_keys: np.ndarray | None = None,
                      query_keys: np.ndarray | None = None, window: int = 0, chunk: int = 512) -> np.ndarray:
    """Euclidean distance of each query row [m, D] to its nearest ``reference`` row [n, D], float64 [m].

    With keys ((run, frame) per row, int [n, 2] and [m, 2]), reference rows of the query's run
    within ``window`` frames are skipped (``window=0`` skips the query itself when it is in the
    reference); a third key column must match (same element). A query with no admissible
    reference row gets ``inf``.
    """
    reference, queries = np.asarray(reference, dtype=np.float64), np.asarray(queries, dtype=np.float64)
    if reference.ndim != 2 or queries.ndim != 2 or reference.shape[1] != queries.shape[1]:
        raise ValueError(f"need reference [n, D] and queries [m, D] of one width, got {reference.shape}, "
                         f"{queries.shape}")
    keyed = reference_keys is not None and query_keys is not None
    ref_sq = (reference ** 2).sum(axis=1)
    out = np.empty(len(queries))
    for start in range(0, len(queries), chunk):
        q = queries[start:start + chunk]
        d2 = np.maximum((q ** 2).sum(axis=1)[:, None] + ref_sq[None, :] - 2.0 * q @ reference.T, 0.0)
        if keyed:
            qk, rk = np.asarray(query_keys)[start:start + chunk], np.asarray(reference_keys)
            near = (qk[:, None, 0] == rk[None, :, 0]) & (np.abs(qk[:, None, 1] - rk[None, :, 1]) <= window)
            if rk.shape[1] > 2:
                near |= qk[:, None, 2] != rk[None, :, 2]
            d2[near] = np.inf
        out[start:start + chunk] = np.sqrt(d2.min(axis=1)) if len(reference) else np.inf
    return out


def out_of_distribution(reference: np.ndarray, reference_keys: np.ndarray, groups: dict[str, tuple],
                        percentiles: tuple[float, ...] = (95.0, 99.0), window: int = 10) -> list[dict]:
    """Per group, how far its points lie from the ``reference`` set, against the reference's own spread.

    ``groups``: name -> (features [m, D], keys [m, 2] or [m, 3] as the reference's). The thresholds are the ``percentiles`` of
    the reference points' distances to their nearest other reference point (skipping ``window``
    frames of the same run). Returns one row per group: ``points``, ``mean_distance``,
    ``median_distance``, ``ood_<p>`` (fraction of points beyond the p-th percentile threshold) and
    ``threshold_<p>``.
    """
    own = nearest_distances(reference, reference, reference_keys, reference_keys, window)
    own = own[np.isfinite(own)]
    if not len(own):
        raise ValueError(f"the reference set has no point more than {window} frames from another; lower the window")
    thresholds = {p: float(np.percentile(own, p)) for p in percentiles}
    rows = []
    for name, (features, keys) in groups.items():
        d = nearest_distances(reference, features, reference_keys, keys, window)
        row = {"group": name, "points": len(d), "mean_distance": float(np.mean(d)),
               "median_distance": float(np.median(d))}
        for p, t in thresholds.items():
            row[f"ood_{p:g}"] = float(np.mean(d > t))
        row.update({f"threshold_{p:g}": t for p, t in thresholds.items()})
        rows.append(row)
    return rows
