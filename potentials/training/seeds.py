"""Train one config with several seeds and combine the members into an ensemble (``mlcalc train --seeds N``).

Member ``k`` is the config with ``seed + k``, trained into ``out_dir/seed-<k>/`` (same
data split: the split has its own ``split_seed``). The members form one ``ensemble``
model file ``out_dir/<name>.mlc`` whose metrics hold the ensemble's own test errors
(``test``), each member's (``members``) and the spread of each test error across seeds
(``seed_spread``: mean, standard deviation (ddof=1), min, max), also written to
``out_dir/metrics.json``. Members train one after another, or ``jobs`` at a time in
separate processes (:mod:`.member_pool`: each with ``max(1, cores // jobs)`` torch threads,
its output lines prefixed with ``[seed-<k>]``); a member's weights do not depend on which.
With ``resume`` a member that finished already is reused and an interrupted one continues
from its checkpoint (also after a killed parallel run).
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch_geometric.loader import DataLoader

from mlcalc.errors import check_resume_or_overwrite
from mlcalc.model import create_model
from mlcalc.modelfile import load_model, read_manifest, save_model

from .config import TrainConfig
from .data import GraphDataset
from .fit import TrainResult

__all__ = ["train_seeds", "seed_spread"]


def seed_spread(member_metrics: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean, standard deviation (ddof=1), min and max across members of every numeric test metric."""
    keys = [k for k, v in member_metrics[0].items() if isinstance(v, (int, float)) and k not in ("frames", "structures")]
    out = {}
    for key in keys:
        values = np.array([m[key] for m in member_metrics], dtype=np.float64)
        out[key] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                    "min": float(values.min()), "max": float(values.max())}
    return out


def _member(config: TrainConfig, k: int, resume: bool, wandb: dict | None, overwrite: bool = False) -> TrainResult:
    from .train import train

    cfg = config.model_copy(update={"seed": config.seed + k, "out_dir": Path(config.out_dir) / f"seed-{k}",
                                    "name": f"{config.name}-seed{k}"})
    path = Path(cfg.out_dir) / f"{cfg.name}.mlc"
    if resume and path.exists() and (Path(cfg.out_dir) / "metrics.json").exists():
        return TrainResult(path, read_manifest(path)["metrics"], {})
    member_wandb = dict(wandb, name=cfg.name, group=config.name) if wandb else None
    return train(cfg, resume=resume, overwrite=overwrite, wandb=member_wandb)


def _ensemble_test(config: TrainConfig, model: torch.nn.Module, split: dict[str, np.ndarray]) -> dict[str, Any]:
    """The ensemble's test errors, in the same units and keys as a single model's."""
    if config.data.source == "qm9":
        from mlcalc.data.qm9 import QM9_UNITS, load_qm9, qm9_split

        from .property_data import predict_loader, property_metrics

        d = config.data
        qm9 = load_qm9()
        rows = qm9_split(len(qm9), d.subset, d.train_fraction, d.val_fraction, d.test_fraction, d.split_seed)["test"]
        dataset = GraphDataset(qm9.structures(rows), cutoff=model.cutoff, targets=qm9.targets(rows, model.targets))
        loader = DataLoader(dataset, batch_size=config.optim.batch_size)
        return property_metrics(*predict_loader(model, loader), model.targets, [QM9_UNITS[t][0] for t in model.targets])
    from mlcalc.data.structure_files import read_structures

    from .train import test_metrics

    structures = read_structures(config.data.path)
    frames = [structures[i] for i in split["test"]]
    loader = DataLoader(GraphDataset(frames, cutoff=model.cutoff), batch_size=config.optim.batch_size)
    return {**test_metrics(model, loader), "frames": len(frames)}


def _member_quiet(config: TrainConfig, resume: bool, wandb: dict | None, overwrite: bool, k: int) -> TrainResult:
    """:func:`_member` in a worker process: no progress bar (its lines would mix with the others')."""
    return _member(config.model_copy(update={"progress": False}), k, resume, wandb, overwrite)


def train_seeds(config: TrainConfig, n_seeds: int, resume: bool = False, wandb: dict | None = None,
                overwrite: bool = False, jobs: int = 1, threads: int | None = None) -> TrainResult:
    """Train ``n_seeds`` members (seeds ``config.seed + k``) and write the ensemble ``out_dir/<name>.mlc``.

    ``wandb``: log each member to W&B (options of :func:`.wandb_log.wandb_logger`), grouped by the config name.
    ``jobs``: members trained at once, each in its own process with ``threads`` torch threads
    (default: ``max(1, cores // jobs)``); 1: one after another in this process.
    """
    check_resume_or_overwrite(resume, overwrite, "training run")
    if n_seeds < 2:
        raise ValueError(f"an ensemble needs at least 2 seeds, got {n_seeds}")
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    out = Path(config.out_dir)
    if jobs == 1:
        results = [_member(config, k, resume, wandb, overwrite) for k in range(n_seeds)]
    else:
        from .member_pool import run_members

        results = run_members(partial(_member_quiet, config, resume, wandb, overwrite), list(range(n_seeds)),
                              [f"seed-{k}" for k in range(n_seeds)], jobs, threads)
    members = [load_model(r.model_path)[0] for r in results]
    model = create_model("ensemble", members=members).eval()
    split = next((r.split for r in results if r.split), None)
    if split is None:  # every member reused: rebuild the split the members were trained on
        from mlcalc.data.splits import split_indices
        from mlcalc.data.structure_files import read_structures

        d = config.data
        split = {} if d.source == "qm9" else split_indices(len(read_structures(d.path)), d.train, d.val, d.test,
                                                             d.split_seed)
    member_tests = [r.metrics["test"] for r in results]
    metrics = {
        "test": _ensemble_test(config, model, split),
        "members": [{"seed": config.seed + k, "model": str(r.model_path), "test": r.metrics["test"],
                     "epochs": r.metrics.get("epochs"), "train_wall_time_s": r.metrics.get("train_wall_time_s")}
                    for k, r in enumerate(results)],
        "seed_spread": seed_spread(member_tests),
        "train_wall_time_s": round(sum(r.metrics.get("train_wall_time_s") or 0.0 for r in results), 1),
    }
    first = read_manifest(results[0].model_path)
    path = save_model(out / f"{config.name}.mlc", model, metrics=metrics, data=first.get("data"),
                      normalisation=first.get("normalisation"),
                      training={**json.loads(config.model_dump_json()), "seeds": n_seeds})
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return TrainResult(path, metrics, split)
