"""Train a property model on QM9 (``data.source: qm9``) and export it as ``.mlc``.

Seeded subset and split of QM9, target standardisation from the training molecules
(per atom for extensive targets; the energies U0, U, H, G over per-element references
fitted by least squares on the training molecules, so the network learns the rest), Lightning fitting (or the closed-form fit of the
linear baseline), test/validation errors in the target units, and into ``out_dir``:
``<name>.mlc``, ``metrics.json``, ``parity.png`` (test set) and ``loss.png``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from ase.data import chemical_symbols
from torch_geometric.loader import DataLoader

from mlcalc.data.qm9 import QM9, QM9_ENERGIES, QM9_EXTENSIVE, QM9_UNITS, load_qm9, qm9_split
from mlcalc.model import create_model
from mlcalc.modelfile import save_model

from .config import TrainConfig
from .data import GraphDataset
from .fit import TrainResult, fit
from .property_data import element_counts, element_references, predict_loader, property_metrics, target_statistics
from .property_task import PropertyTask
from .training_plots import loss_curves, parity_plot

__all__ = ["train_properties"]

log = logging.getLogger(__name__)


def _fingerprint(qm9: QM9, split: dict[str, np.ndarray], targets: list[str]) -> str:
    """sha256 of the molecules used (QM9 ids, elements, positions, target values, split membership)."""
    digest = hashlib.sha256()
    for stage in ("train", "val", "test"):
        rows = split[stage]
        digest.update(stage.encode() + qm9.ids[rows].tobytes() + qm9.targets(rows, targets).tobytes())
        for k in rows:
            lo, hi = qm9.offsets[k], qm9.offsets[k + 1]
            digest.update(qm9.numbers[lo:hi].tobytes() + qm9.positions[lo:hi].tobytes())
    return digest.hexdigest()


def _energy_references(model, structures: list, values: np.ndarray) -> np.ndarray:
    """Per-element references [n_elements, n_targets] of the energy targets (QM9 U0, U, H, G), fitted by least
    squares on the training molecules and set on ``model``; zero columns for the other targets."""
    atomrefs = np.zeros((len(model.elements), len(model.targets)))
    energies = [k for k, t in enumerate(model.targets) if t in QM9_ENERGIES]
    if energies:
        counts = element_counts([a.numbers for a in structures], model.elements)
        atomrefs[:, energies] = element_references(counts, values[:, energies])
        model.set_atomrefs(atomrefs)
        absent = [chemical_symbols[z] for z, n in zip(model.elements, counts.sum(axis=0)) if n == 0]
        if absent:
            log.warning("no training molecule has %s: reference energy 0, so energies of molecules with %s are "
                        "off by thousands of eV (use a larger subset)", ", ".join(absent), " or ".join(absent))
    return atomrefs


def train_properties(config: TrainConfig, resume: bool = False, wandb: dict | None = None, devices: int = 1,
                     strategy: str = "auto") -> TrainResult:
    """Fit the property model of ``config`` on QM9, test it and write ``out_dir/<name>.mlc`` and figures."""
    d, o = config.data, config.optim
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    qm9 = load_qm9()
    split = qm9_split(len(qm9), d.subset, d.train_fraction, d.val_fraction, d.test_fraction, d.split_seed)
    if d.train_size is not None:
        if d.train_size > len(split["train"]):
            raise ValueError(f"data.train_size is {d.train_size}, but the training split holds only "
                             f"{len(split['train'])} molecules; use at most that many or a larger subset")
        split["train"] = split["train"][:d.train_size]
    targets = list(d.targets)
    units = [QM9_UNITS[t][0] for t in targets]
    structures = {stage: qm9.structures(rows) for stage, rows in split.items()}
    values = {stage: qm9.targets(rows, targets) for stage, rows in split.items()}

    torch.manual_seed(config.seed)
    # elements: all of QM9's (H, C, N, O, F), so a small subset without F still takes any QM9 molecule
    model = create_model(config.model.kind, elements=np.unique(qm9.numbers).tolist(), cutoff=config.model.cutoff,
                         targets=targets, units=units, extensive=[t in QM9_EXTENSIVE for t in targets],
                         **config.model.hyperparameters)
    atomrefs = _energy_references(model, structures["train"], values["train"])
    residual = values["train"] - element_counts([a.numbers for a in structures["train"]], model.elements) @ atomrefs
    mean, std = target_statistics(residual, qm9.n_atoms[split["train"]], model.extensive)
    model.set_standardisation(mean, std)

    closed_form = getattr(model, "closed_form", False)
    logger = None
    if wandb is not None:
        from .wandb_log import wandb_logger

        logger = wandb_logger(out, wandb, json.loads(config.model_dump_json()))
    loaders = {}
    for stage in ("val", "test") if closed_form else ("train", "val", "test"):
        dataset = GraphDataset(structures[stage], cutoff=model.cutoff, targets=values[stage])
        loaders[stage] = DataLoader(dataset, batch_size=o.batch_size, shuffle=stage == "train" and o.shuffle,
                                    generator=torch.Generator().manual_seed(config.seed))
    if closed_form:
        start = time.perf_counter()
        model.fit(structures["train"], values["train"])
        fitted = {"epochs": 0, "train_wall_time_s": round(time.perf_counter() - start, 1)}
    else:
        task = PropertyTask(model, o.model_dump())
        fitted = fit(task, loaders["train"], loaders["val"], o, out, resume, config.progress,
                     loggers=[logger] if logger else [], devices=devices, strategy=strategy)

    predictions = {stage: predict_loader(model, loaders[stage]) for stage in ("test", "val")}
    metrics = {stage: property_metrics(*predictions[stage], targets, units) for stage in ("test", "val")}
    metrics.update(fitted, torch_threads=torch.get_num_threads())
    path = save_model(
        out / f"{config.name}.mlc", model, metrics=metrics,
        data={"name": "QM9", "source": qm9.source, "size": len(qm9), "subset": d.subset, "targets": targets,
              "sha256": _fingerprint(qm9, split, targets), "split_seed": d.split_seed,
              "splits": {k: len(v) for k, v in split.items()}},
        normalisation={"target_mean": dict(zip(targets, mean)), "target_std": dict(zip(targets, std)),
                       "per_atom": dict(zip(targets, model.extensive)),
                       "atomrefs": {t: {chemical_symbols[z]: float(atomrefs[e, k]) for e, z in enumerate(model.elements)}
                                    for k, t in enumerate(targets) if t in QM9_ENERGIES}},
        training=json.loads(config.model_dump_json()),
    )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    parity_plot(*predictions["test"], targets, units, out / "parity.png", title=f"{config.name} test")
    loss = loss_curves(out / "logs", out / "loss.png", title=config.name)
    if logger is not None:
        from .wandb_log import finish_wandb

        finish_wandb(logger, metrics, [out / "parity.png", loss])
    return TrainResult(path, metrics, split)
