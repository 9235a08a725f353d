"""Train a property model on crystals (``data.source: cif_folder`` or ``coremof``) and export it as ``.mlc``.

Crystal graphs (radius ``model.cutoff``, the model's ``max_neighbors`` nearest atoms)
are built once and cached; a seeded split (default 80/10/10); target standardisation
from the training crystals (regression; per atom for an extensive target, ``data.extensive``, as
QM9's extensive targets) or labels 0/1 (classification); Lightning
fitting (or the closed-form fit of the linear kind); and into ``out_dir``:
``<name>.mlc``, ``metrics.json`` (test/val errors with R², the mean-predictor and
linear-on-composition baselines for regression, data and featurisation time),
``test_predictions.csv`` (id, target, prediction), ``parity.png`` and ``loss.png``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from torch_geometric.loader import DataLoader

from mlcalc.data.crystals import CrystalSet
from mlcalc.model import create_model, model_class
from mlcalc.modelfile import save_model

from .config import TrainConfig
from .crystal_data import (CrystalGraphDataset, classification_scores, composition_baselines, crystal_split,
                           regression_scores, write_predictions)
from .fit import TrainResult, fit
from .property_data import predict_loader, property_metrics, target_statistics
from .property_task import PropertyTask
from .training_plots import loss_curves, parity_plot

__all__ = ["train_crystals", "load_crystal_data"]

log = logging.getLogger(__name__)


def _max_neighbors(config: TrainConfig) -> int | None:
    """The model's neighbors per atom (its ``max_neighbors`` hyperparameter or default; None: all in the cutoff)."""
    if "max_neighbors" in config.model.hyperparameters:
        return config.model.hyperparameters["max_neighbors"]
    parameter = inspect.signature(model_class(config.model.kind)).parameters.get("max_neighbors")
    return None if parameter is None else parameter.default


def load_crystal_data(config: TrainConfig) -> tuple[CrystalSet, str, str, np.ndarray | None]:
    """The crystals of ``config.data`` with graphs, the target name and unit, and a folder's atom_init table."""
    d, radius, neighbors = config.data, config.model.cutoff, _max_neighbors(config)
    if d.source == "coremof":
        from mlcalc.data.coremof import COREMOF_UNITS, load_coremof

        crystals = load_coremof(d.dataset, d.target, d.subset, d.split_seed, radius, neighbors, d.max_atoms,
                                progress=config.progress)
        return crystals, d.target, COREMOF_UNITS[d.target], None
    from mlcalc.data.cif_folder import folder_atom_features, load_cif_folder

    crystals = load_cif_folder(d.path, radius, neighbors, progress=config.progress)
    if d.subset is not None and d.subset < len(crystals):
        rows = np.sort(np.random.default_rng(d.split_seed).permutation(len(crystals))[:d.subset])
        crystals = crystals.subset(rows)
    return crystals, d.target, d.unit, folder_atom_features(d.path)


def _fingerprint(crystals: CrystalSet, split: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for stage in ("train", "val", "test"):
        part = crystals.subset(split[stage])
        digest.update(stage.encode() + "\n".join(part.ids).encode() + part.targets.tobytes()
                      + part.numbers.tobytes() + part.positions.tobytes() + part.cells.tobytes())
    return digest.hexdigest()


def train_crystals(config: TrainConfig, resume: bool = False) -> TrainResult:
    """Fit the property model of ``config`` on crystals, test it and write ``out_dir/<name>.mlc`` and reports."""
    d, o = config.data, config.optim
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    crystals, target, unit, atom_table = load_crystal_data(config)
    featurise_s = time.perf_counter() - start
    known = np.isfinite(crystals.targets)
    if not known.all():
        log.warning("%d structures without a target value are left out", int((~known).sum()))
        crystals = crystals.subset(np.flatnonzero(known))
    split = crystal_split(len(crystals), d.train_fraction, d.val_fraction, d.test_fraction, d.split_seed)
    parts = {stage: crystals.subset(rows) for stage, rows in split.items()}

    torch.manual_seed(config.seed)
    hyper = dict(config.model.hyperparameters)
    if atom_table is not None:
        hyper.setdefault("n_atom_features", atom_table.shape[1])
    model = create_model(config.model.kind, elements=crystals.elements(), cutoff=config.model.cutoff,
                         targets=[target], units=[unit], extensive=[d.extensive], periodic=True, **hyper)
    if atom_table is not None:
        if not hasattr(model, "set_atom_features"):
            raise ValueError(f"{d.path}/atom_init.json gives element features, but model.kind {config.model.kind!r} "
                             "does not take them (cgcnn does)")
        model.set_atom_features(atom_table)
    classification = bool(getattr(model, "classification", False))
    if classification:
        labels = crystals.targets
        if d.extensive:
            raise ValueError("data.extensive applies to regression; a classification target (0 or 1) is not a total "
                             "over the cell")
        if not np.isin(labels, (0.0, 1.0)).all():
            raise ValueError(f"classification needs targets 0 or 1; {target} has values {np.unique(labels)[:5]}")
        mean, std = [0.0], [1.0]
    else:
        mean, std = target_statistics(parts["train"].targets[:, None], parts["train"].n_atoms, model.extensive)
        model.set_standardisation(mean, std)

    loaders = {stage: DataLoader(CrystalGraphDataset(parts[stage]), batch_size=o.batch_size,
                                 shuffle=stage == "train" and config.optim.shuffle, generator=torch.Generator().manual_seed(config.seed))
               for stage in ("train", "val", "test")}
    if getattr(model, "closed_form", False):
        fit_start = time.perf_counter()
        model.fit([parts["train"].atoms(k) for k in range(len(parts["train"]))], parts["train"].targets[:, None])
        fitted = {"epochs": 0, "train_wall_time_s": round(time.perf_counter() - fit_start, 1)}
    else:
        fitted = fit(PropertyTask(model, o.model_dump()), loaders["train"], loaders["val"], o, out, resume,
                     config.progress)

    predictions = {stage: predict_loader(model, loaders[stage]) for stage in ("test", "val")}
    metrics: dict = {}
    for stage, (predicted, reference) in predictions.items():
        if classification:
            scores = classification_scores(predicted[:, 0], reference[:, 0])
            metrics[stage] = {f"{target}_{k}": v for k, v in scores.items()} | {"structures": len(reference)}
        else:
            metrics[stage] = property_metrics(predicted, reference, [target], [unit])
            metrics[stage][f"{target}_r2"] = regression_scores(predicted[:, 0], reference[:, 0])["r2"]
    if not classification:
        metrics["baselines_test"] = composition_baselines(parts["train"], parts["test"], crystals.elements(),
                                                          extensive=d.extensive)
    metrics.update(fitted, featurise_wall_time_s=round(featurise_s, 1), torch_threads=torch.get_num_threads())
    path = save_model(
        out / f"{config.name}.mlc", model, metrics=metrics,
        data={"name": d.source, "source": crystals.source, "size": len(crystals), "target": target,
              "skipped": len(crystals.skipped), "sha256": _fingerprint(crystals, split), "split_seed": d.split_seed,
              "splits": {k: len(v) for k, v in split.items()}, "radius": crystals.radius,
              "max_neighbors": crystals.max_neighbors},
        normalisation={"target_mean": {target: mean[0]}, "target_std": {target: std[0]},
                       "per_atom": {target: d.extensive}},
        training=json.loads(config.model_dump_json()),
    )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (out / "skipped.txt").write_text("".join(f"{name}\t{why}\n" for name, why in crystals.skipped))
    write_predictions(out / "test_predictions.csv", parts["test"].ids, predictions["test"][1][:, 0],
                      predictions["test"][0][:, 0], target, unit)
    parity_plot(*predictions["test"], [target], [unit], out / "parity.png", title=f"{config.name} test")
    loss_curves(out / "logs", out / "loss.png", title=config.name)
    return TrainResult(path, metrics, split)
