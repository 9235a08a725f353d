"""One line per epoch on stdout (epoch, losses, validation metrics, elapsed time): progress where no bar is drawn.

A progress bar needs a terminal; training written to a log file (or run with progress off)
prints these lines instead, so a log shows how far a run is and how it goes.
"""

from __future__ import annotations

import time

import lightning as L

__all__ = ["EpochLines"]


class EpochLines(L.Callback):
    """Print ``epoch N/M  train_loss ...  val_loss ...  <val metrics>  elapsed S s`` after each validation."""

    def __init__(self, echo=print) -> None:
        self.echo = echo
        self._start: float | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or self._start is None or trainer.global_rank != 0:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        shown = "  ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items(), key=lambda kv: (kv[0] != "train_loss",
                                                                                             kv[0])))
        self.echo(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}  {shown}  "
                  f"elapsed {time.perf_counter() - self._start:.0f} s", flush=True)
