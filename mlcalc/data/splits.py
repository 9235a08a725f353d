"""Seeded, disjoint train/validation/test splits (one implementation for every dataset)."""

from __future__ import annotations

import numpy as np

__all__ = ["split_indices"]


def split_indices(n: int, train: int, val: int, test: int | None, seed: int) -> dict[str, np.ndarray]:
    """Disjoint random train/val/test indices of ``n`` items (test: the rest by default)."""
    rest = n - train - val
    test = rest if test is None else test
    if train + val + test > n or rest < 0:
        raise ValueError(f"split train={train} val={val} test={test} needs more than the {n} structures available")
    order = np.random.default_rng(seed).permutation(n)
    return {"train": np.sort(order[:train]), "val": np.sort(order[train:train + val]),
            "test": np.sort(order[train + val:train + val + test])}
