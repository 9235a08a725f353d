"""ROGI, the roughness index of a property landscape (Aldeghi et al. 2022), from the ``rogi`` package.

Over a representation X [n, D] with property values y [n]: complete-linkage clusters of
the pairwise distances (normalised to [0, 1]) at every threshold t, the spread of the
cluster means σ(t) (y scaled to [0, 1]), and ROGI = σ(0) − ∫σ(t)dt. Smooth landscapes
(similar representations, similar values) keep σ(t) high as clusters merge: low ROGI.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ROGI_METRICS", "rogi"]

#: distances over the representation that ROGI takes here
ROGI_METRICS = ("euclidean", "cosine", "cityblock")


def rogi(features: np.ndarray, values: np.ndarray, metric: str = "euclidean") -> float:
    """ROGI of ``values`` [n] over ``features`` [n, D] with ``metric`` (one of :data:`ROGI_METRICS`)."""
    if metric not in ROGI_METRICS:
        raise ValueError(f"unknown ROGI metric {metric!r}; choose from {', '.join(ROGI_METRICS)}")
    features = np.asarray(features, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if features.ndim != 2 or len(features) != len(values) or len(values) < 3:
        raise ValueError(f"ROGI needs features [n, D] and values [n] with n >= 3, got {features.shape} "
                         f"and {values.shape}")
    if not (np.isfinite(features).all() and np.isfinite(values).all()):
        raise ValueError("ROGI needs finite features and values")
    from rogi import RoughnessIndex

    index = RoughnessIndex(Y=values, X=features, metric=metric, verbose=False)
    return float(index.compute_index())
