"""What a training checkpoint needs besides weights and optimiser so that a resumed run equals an uninterrupted one.

- :class:`EpochSeededSampler`: the training order of epoch e is a permutation drawn from
  ``(seed, e)`` alone, so a run resumed at epoch e draws the order the uninterrupted run drew
  (a loader's own generator restarts from its seed at every start). Lightning hands each
  epoch's number to the sampler (``set_epoch``).
- :class:`RandomStates`: the torch, NumPy and Python random states, saved in every
  checkpoint and restored on resume (anything in a model or loss that draws random numbers).
- :func:`exactly_resumable`: a shuffling training loader with the sampler swapped in.
"""

from __future__ import annotations

import random
from typing import Any, Iterator

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler, Sampler

__all__ = ["EpochSeededSampler", "RandomStates", "exactly_resumable"]


class EpochSeededSampler(Sampler[int]):
    """``num_samples`` (default ``n``) of ``n`` items per epoch, drawn from ``(seed, epoch)`` only: whole random
    orders one after another, the last one cut (as torch's ``RandomSampler``), or with ``replacement`` draws."""

    def __init__(self, n: int, seed: int, num_samples: int | None = None, replacement: bool = False):
        self.n, self.seed, self.epoch = n, int(seed), 0
        self.num_samples = n if num_samples is None else int(num_samples)
        self.replacement = replacement

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        if self.replacement:
            return iter(torch.randint(self.n, (self.num_samples,), generator=generator).tolist())
        orders = [torch.randperm(self.n, generator=generator) for _ in range(-(-self.num_samples // self.n))]
        return iter(torch.cat(orders)[:self.num_samples].tolist())

    def __len__(self) -> int:
        return self.num_samples


def exactly_resumable(loader: DataLoader) -> DataLoader:
    """``loader`` with an :class:`EpochSeededSampler` in place of its ``RandomSampler`` (the same number of
    samples per epoch, seeded from the sampler's or the loader's generator); any other loader as it is."""
    if not isinstance(loader.sampler, RandomSampler):
        return loader
    generator = loader.sampler.generator if loader.sampler.generator is not None else loader.generator
    seed = generator.initial_seed() if generator is not None else 0
    sampler = EpochSeededSampler(len(loader.dataset), seed, loader.sampler.num_samples, loader.sampler.replacement)
    return DataLoader(loader.dataset, batch_size=loader.batch_size, sampler=sampler, collate_fn=loader.collate_fn,
                      num_workers=loader.num_workers, drop_last=loader.drop_last)


class RandomStates(L.Callback):
    """Saves the torch, NumPy and Python random states in each checkpoint; restores them on resume."""

    def state_dict(self) -> dict[str, Any]:
        # tensors and plain numbers only: checkpoints are read back with torch.load(weights_only=True)
        name, keys, pos, has_gauss, gauss = np.random.get_state()
        return {"torch": torch.get_rng_state(), "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos,
                                                           has_gauss, gauss],
                "python": list(random.getstate())}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if "torch" in state_dict:
            torch.set_rng_state(torch.as_tensor(state_dict["torch"], dtype=torch.uint8))
        if "numpy" in state_dict:
            name, keys, pos, has_gauss, gauss = state_dict["numpy"]
            np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
        if "python" in state_dict:
            random.setstate(_as_tuples(state_dict["python"]))


def _as_tuples(state):
    return tuple(_as_tuples(x) for x in state) if isinstance(state, (list, tuple)) else state
