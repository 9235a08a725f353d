"""Seeded, disjoint train/validation/test splits (one implementation for every dataset)."""

from __future__ import annotations

import numpy as np

__all__ = ["split_indices", "split_indices_train_only"]


def split_indices(n: int, train: int | None, val: int, test: int | None, seed: int) -> dict[str, np.ndarray]:
    """Disjoint random train/val/test indices of ``n`` items (train or test: the rest when None, not both)."""
    if train is None and test is None:
        raise ValueError("give train or test (the other is all the rest after val)")
    if train is None and val + test >= n:
        raise ValueError(f"split val={val} test={test} leaves no training item of the {n} available")
    train = n - val - test if train is None else train
    rest = n - train - val
    test = rest if test is None else test
    if train + val + test > n or rest < 0:
        raise ValueError(f"split train={train} val={val} test={test} needs more than the {n} structures available")
    order = np.random.default_rng(seed).permutation(n)
    return {"train": np.sort(order[:train]), "val": np.sort(order[train:train + val]),
            "test": np.sort(order[train + val:train + val + test])}


def split_indices_train_only(n: int, train_only: np.ndarray, train: int | None, val: int, test: int | None,
                             seed: int) -> dict[str, np.ndarray]:
    """As :func:`split_indices`, with the items ``train_only`` never in val or test (a parent model trained on them).

    Val and test (default: the rest of the other items) are drawn from the other items; train (default: all) from
    everything left.
    """
    banned = np.zeros(n, dtype=bool)
    banned[np.asarray(train_only, dtype=np.int64)] = True
    free = np.flatnonzero(~banned)
    if val + (test or 0) > len(free):
        raise ValueError(f"split val={val} test={test} needs more than the {len(free)} items outside the parent's data")
    test = len(free) - val if test is None else test
    order = np.random.default_rng(seed).permutation(free)
    chosen = {"val": np.sort(order[:val]), "test": np.sort(order[val:val + test])}
    pool = np.setdiff1d(np.arange(n), np.concatenate(list(chosen.values())))
    train = len(pool) if train is None else train
    if train > len(pool):
        raise ValueError(f"split train={train} needs more than the {len(pool)} items left after val and test")
    picked = pool if train == len(pool) else np.random.default_rng(seed + 1).choice(pool, train, replace=False)
    return {"train": np.sort(picked), **chosen}
