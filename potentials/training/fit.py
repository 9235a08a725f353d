"""The Lightning run shared by every trainable model: checkpoints, resume, time budget, CSV logs.

Data-parallel training: ``devices=N, strategy="ddp"`` runs N processes (Lightning's DDP;
the gloo backend on CPU), each on its share of every epoch's batches (``batch_size`` per
process), gradients averaged. Lightning shuffles the training set of a DDP run whatever
the loader says (its ``DistributedSampler``, seeded by epoch); a loader that does not shuffle
(``optim.shuffle: false``) gets an unshuffled ``DistributedSampler`` here instead, so that
process ``r`` of N takes frames r, r+N, ... in order and each step sees the same frames as
one process with N × ``batch_size`` (docs/RESULTS.md: the weights agree to float round-off).
The extra processes end after fitting; only rank 0 tests and exports. Checkpoints (best and last) go to ``out_dir/checkpoints``; ``resume=True`` continues from
``last.ckpt`` with optimiser, scheduler, early-stopping, timer and random states, and one process draws
each epoch's training order from the seed and the epoch (:mod:`.exact_resume`), so a resumed run
ends with the uninterrupted run's weights. Metrics are CSV
files, one ``out_dir/logs/version_N/metrics.csv`` per start, so a resumed run keeps the
log of the interrupted one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, Timer
from lightning.pytorch.loggers import CSVLogger

from mlcalc.potentials.training.cpu_budget import CPUBudget
from mlcalc.potentials.training.epoch_log import EpochLines
from mlcalc.potentials.training.exact_resume import RandomStates, exactly_resumable

from .config import OptimConfig

__all__ = ["TrainResult", "fit", "load_checkpoint_weights"]

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """The exported model, its metrics, and the frame indices of each split (train/val/test)."""

    model_path: Path
    metrics: dict[str, Any]
    split: dict[str, np.ndarray]


def fit(task: L.LightningModule, train_loader, val_loader, optim: OptimConfig, out: Path, resume: bool,
        progress: bool, loggers: Sequence[Any] = (), devices: int = 1, strategy: str = "auto") -> dict[str, Any]:
    """Fit ``task`` (monitoring ``val_loss``), then load the best checkpoint into ``task.model``.

    ``loggers``: Lightning loggers besides the CSV log (e.g. W&B, :mod:`.wandb_log`).

    Returns ``{"epochs": ..., "optimizer_steps": ..., "train_wall_time_s": ..., "train_cpu_time_s": ...}`` (this process's CPU time,
    over all fits of a resumed run).
    """
    o = optim
    checkpoint = ModelCheckpoint(dirpath=out / "checkpoints", filename="best", monitor="val_loss")
    # last.ckpt every epoch: a separate unmonitored callback, because ModelCheckpoint(save_last=True)
    # refreshes last.ckpt only in epochs where val_loss improves, and resume would repeat epochs
    latest = ModelCheckpoint(dirpath=out / "checkpoints", filename="last", monitor=None, save_top_k=1,
                             enable_version_counter=False)
    timer = Timer(duration={"minutes": o.max_minutes} if o.max_minutes else None, interval="epoch")
    cpu = CPUBudget(o.max_cpu_minutes)
    callbacks = [checkpoint, latest, timer, cpu, RandomStates()]
    if not progress or not sys.stdout.isatty():  # a log file gets one line per epoch instead of a progress bar
        callbacks.append(EpochLines())
    if o.early_stopping_patience:
        callbacks.append(EarlyStopping(monitor="val_loss", patience=o.early_stopping_patience))
    with _without_lightning_chatter():
        trainer = L.Trainer(
            max_epochs=o.epochs, accelerator="auto", devices=devices, strategy=strategy, precision="bf16-mixed" if o.amp else "32-true",
            gradient_clip_val=o.gradient_clip, accumulate_grad_batches=o.accumulate_grad_batches,
            inference_mode=False, callbacks=callbacks, logger=[CSVLogger(out, name="logs"), *loggers],
            enable_progress_bar=progress, enable_model_summary=False, default_root_dir=out,
            log_every_n_steps=max(1, min(50, len(train_loader))),
        )
        train_loader = _in_order_per_process(train_loader, devices) if devices != 1 else exactly_resumable(train_loader)
        last = out / "checkpoints" / "last.ckpt"
        ckpt_path = str(last) if resume and last.exists() else None
        if resume and ckpt_path is None:
            log.warning("no checkpoint at %s: training starts from scratch", last)
        trainer.fit(task, train_loader, val_loader, ckpt_path=ckpt_path)
    if trainer.global_rank > 0:  # a DDP worker process: rank 0 tests and exports
        sys.exit(0)

    load_checkpoint_weights(task.model, checkpoint.best_model_path or str(last))
    return {"epochs": trainer.current_epoch, "optimizer_steps": trainer.global_step, "train_wall_time_s": round(timer.time_elapsed("train"), 1),
            "train_cpu_time_s": round(cpu.used_s, 1)}


def load_checkpoint_weights(model: torch.nn.Module, checkpoint: str | Path) -> dict[str, Any]:
    """Load the network weights of the Lightning checkpoint ``checkpoint`` (its task's ``model.*`` entries) into
    ``model``; the whole checkpoint, read without executing anything from it (``weights_only``)."""
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model.load_state_dict({k.removeprefix("model."): v for k, v in saved["state_dict"].items() if k.startswith("model.")})
    return saved


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("\N{ELECTRIC LIGHT BULB} Tip")


@contextlib.contextmanager
def _without_lightning_chatter():
    """Lightning's advertising tip and its own use of a deprecated torch API stay out of the user's output."""
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    tips = _DropTips()
    rank_zero.addFilter(tips)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
            yield
    finally:
        rank_zero.removeFilter(tips)


def _in_order_per_process(loader, devices: int):
    """``loader`` of an unshuffled multi-process run with its share of this process's frames, in order.

    Lightning would give an unshuffled training loader a shuffling ``DistributedSampler``; one
    that is a ``DistributedSampler`` already is kept. The rank is Lightning's ``LOCAL_RANK``
    (0 in the launching process; one machine).
    """
    from torch.utils.data import DistributedSampler, SequentialSampler

    if not isinstance(devices, int) or devices < 2 or not isinstance(getattr(loader, "sampler", None), SequentialSampler):
        return loader
    sampler = DistributedSampler(loader.dataset, num_replicas=devices, rank=int(os.environ.get("LOCAL_RANK", 0)),
                                 shuffle=False)
    return type(loader)(loader.dataset, batch_size=loader.batch_size, sampler=sampler)
