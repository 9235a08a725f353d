"""Weights & Biases logging of a training run through Lightning's ``WandbLogger`` (``--wandb``).

Offline by default: the run is written under ``out_dir/wandb/`` with no login and no
network (upload it later with ``wandb sync out_dir/wandb/offline-run-*``); ``online=True``
is the explicit opt-in. Logged: the training config (hyperparameters), every per-epoch
metric Lightning logs, the final metrics as the run summary, and the figures (parity plot,
loss curves). Trials of one search share a ``group``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

__all__ = ["wandb_logger", "finish_wandb"]


def wandb_logger(out: Path, options: dict[str, Any], config: dict[str, Any]):
    """A ``WandbLogger`` writing under ``out/wandb``; ``options``: project, group, name, online (bool)."""
    online = bool(options.get("online", False))
    if not online:
        os.environ["WANDB_MODE"] = "offline"  # the wandb service reads its mode from here too
    os.environ.setdefault("WANDB_SILENT", "true")
    from lightning.pytorch.loggers import WandbLogger

    out.mkdir(parents=True, exist_ok=True)
    return WandbLogger(project=options.get("project") or "mlcalc", name=options.get("name") or config.get("name"),
                       group=options.get("group"), save_dir=str(out), dir=str(out), offline=not online,
                       config=config, log_model=False, job_type=options.get("job_type", "train"))


def finish_wandb(logger, metrics: dict[str, Any], figures: Sequence[Path] = ()) -> None:
    """Put the final ``metrics`` in the run summary, log the ``figures`` that exist, and close the run."""
    import wandb

    run = logger.experiment
    flat = {}
    for stage, values in metrics.items():
        if isinstance(values, dict):
            flat.update({f"{stage}/{k}": v for k, v in values.items() if isinstance(v, (int, float))})
        elif isinstance(values, (int, float)):
            flat[stage] = values
    run.summary.update(flat)
    images = {Path(p).stem: wandb.Image(str(p)) for p in figures if p and Path(p).exists()}
    if images:
        run.log(images)
    run.finish()
