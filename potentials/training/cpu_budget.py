"""A CPU-time budget for fitting: on a shared machine, wall minutes do not say how much work a model got.

:class:`CPUBudget` stops Lightning's fit at the end of the first epoch by which this process
has used ``minutes`` of CPU time (user + system, all its threads) for fitting. The time used (and the torch
threads the fit ran with) is saved in the checkpoints, so a resumed fit continues the same budget and an exported
checkpoint reports the training's threads, not the exporting process's.
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch

__all__ = ["CPUBudget"]


class CPUBudget(L.Callback):
    """Stop fitting after ``minutes`` of CPU time (None: no limit; only count); ``used_s`` is the CPU seconds so far."""

    def __init__(self, minutes: float | None = None) -> None:
        self.limit_s = None if minutes is None else 60.0 * minutes
        self.used_s = 0.0
        self._since: float | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._since = time.process_time()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._count()
        self._since = None

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._count()
        if self.limit_s is not None and self.used_s >= self.limit_s:
            trainer.should_stop = True

    def _count(self) -> None:
        if self._since is not None:
            now = time.process_time()
            self.used_s += now - self._since
            self._since = now

    def state_dict(self) -> dict[str, Any]:
        self._count()
        return {"used_s": self.used_s, "torch_threads": torch.get_num_threads()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.used_s = float(state_dict.get("used_s", 0.0))
