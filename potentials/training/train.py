"""Train an energy model from a :class:`~mlcalc.config.TrainConfig` and export a ``.mlc`` file.

Resumable: checkpoints (best and last) go to ``out_dir/checkpoints``; ``resume=True``
continues from ``last.ckpt`` with optimiser, scheduler, early-stopping and timer state.
Metrics are CSV files, one ``out_dir/logs/version_N/metrics.csv`` per start, so a resumed
run keeps the log of the interrupted one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, Timer
from lightning.pytorch.loggers import CSVLogger
from torch_geometric.loader import DataLoader

from mlcalc import keys as K
from mlcalc.config import TrainConfig
from mlcalc.data.files import file_sha256, read_structures, require_labels
from mlcalc.data.molecules import load_molecule
from mlcalc.derivatives import energy_forces_stress, model_inputs
from mlcalc.modelfile import save_model

from .. import create_model
from .data import GraphDataset, fit_atomref, force_rms, split_indices
from .task import PotentialTask

__all__ = ["train", "TrainResult", "test_metrics"]

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """The exported model, its metrics, and the frame indices of each split (train/val/test)."""

    model_path: Path
    metrics: dict[str, Any]
    split: dict[str, np.ndarray]


def _ensure_data(config: TrainConfig) -> Path:
    """The data file, generated with GFN2-xTB first if it is missing and the config says how."""
    path = config.data.path
    if path.exists():
        return path
    gen = config.data.generate
    if gen is None:
        raise FileNotFoundError(f"data file {path} does not exist and the config has no 'generate' section")
    from mlcalc.data.reference import generate_reference

    generate_reference(load_molecule(gen.molecule), frames=gen.frames, temperature=gen.temperature, seed=gen.seed,
                       timestep=gen.timestep, interval=gen.interval, thermalise=gen.thermalise, out=path,
                       progress=config.progress)
    return path


def test_metrics(model: torch.nn.Module, loader) -> dict[str, float]:
    """MAE and RMSE of energies (meV per structure, meV/atom) and forces (meV/Å) over ``loader``."""
    model.eval()
    dE, dE_atom, dF = [], [], []
    for batch in loader:
        out = energy_forces_stress(model, model_inputs(batch), forces=True)
        diff = (out[K.ENERGY] - batch[K.ENERGY]).detach()
        dE.append(diff)
        dE_atom.append(diff / batch[K.N_ATOMS])
        dF.append((out[K.FORCES] - batch[K.FORCES]).detach().reshape(-1))
    e, ea, f = (torch.cat(x).double() * 1000 for x in (dE, dE_atom, dF))
    return {
        "energy_mae_meV": e.abs().mean().item(), "energy_rmse_meV": e.pow(2).mean().sqrt().item(),
        "energy_mae_meV_per_atom": ea.abs().mean().item(),
        "forces_mae_meV_per_A": f.abs().mean().item(), "forces_rmse_meV_per_A": f.pow(2).mean().sqrt().item(),
    }


def train(config: TrainConfig, resume: bool = False) -> TrainResult:
    """Fit, pick the best validation checkpoint, test it and write ``out_dir/<name>.mlc``."""
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data_path = _ensure_data(config)
    structures = read_structures(data_path)
    require_labels(structures, forces=True, source=str(data_path))
    d = config.data
    split = split_indices(len(structures), d.train, d.val, d.test, d.split_seed)
    train_set = [structures[i] for i in split["train"]]

    torch.manual_seed(config.seed)
    elements = sorted({int(z) for a in train_set for z in a.numbers})
    model = create_model(config.model.kind, elements=elements, cutoff=config.model.cutoff,
                         energy_scale=force_rms(train_set), **config.model.hyperparameters)
    atomref = fit_atomref(train_set)
    model.set_atomref(atomref)

    loaders = {}
    for stage, idx in split.items():
        dataset = GraphDataset([structures[i] for i in idx], cutoff=model.cutoff)
        loaders[stage] = DataLoader(dataset, batch_size=config.optim.batch_size, shuffle=stage == "train",
                                    generator=torch.Generator().manual_seed(config.seed))
    task = PotentialTask(model, config.optim.model_dump())

    o = config.optim
    checkpoint = ModelCheckpoint(dirpath=out / "checkpoints", filename="best", monitor="val_loss", save_last=True)
    timer = Timer(duration={"minutes": o.max_minutes} if o.max_minutes else None, interval="epoch")
    callbacks = [checkpoint, timer]
    if o.early_stopping_patience:
        callbacks.append(EarlyStopping(monitor="val_loss", patience=o.early_stopping_patience))
    trainer = L.Trainer(
        max_epochs=o.epochs, accelerator="auto", devices=1, precision="bf16-mixed" if o.amp else "32-true",
        gradient_clip_val=o.gradient_clip, accumulate_grad_batches=o.accumulate_grad_batches,
        inference_mode=False, callbacks=callbacks, logger=CSVLogger(out, name="logs"),
        enable_progress_bar=config.progress, enable_model_summary=False, default_root_dir=out,
        log_every_n_steps=max(1, min(50, len(loaders["train"]))),
    )
    last = out / "checkpoints" / "last.ckpt"
    ckpt_path = str(last) if resume and last.exists() else None
    if resume and ckpt_path is None:
        log.warning("no checkpoint at %s: training starts from scratch", last)
    trainer.fit(task, loaders["train"], loaders["val"], ckpt_path=ckpt_path)

    best = checkpoint.best_model_path or str(last)
    state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")})
    metrics = {"test": {**test_metrics(model, loaders["test"]), "frames": len(split["test"])},
               "val": {**test_metrics(model, loaders["val"]), "frames": len(split["val"])},
               "epochs": trainer.current_epoch, "train_wall_time_s": round(timer.time_elapsed("train"), 1),
               "torch_threads": torch.get_num_threads()}
    path = save_model(
        out / f"{config.name}.mlc", model, metrics=metrics,
        data={"name": d.name or data_path.name, "path": str(data_path), "size": len(structures),
              "sha256": file_sha256(data_path), "split_seed": d.split_seed,
              "splits": {k: len(v) for k, v in split.items()}},
        normalisation={"atomref_eV": {str(z): e for z, e in atomref.items()}, "energy_scale_eV": model.energy_scale},
        training=json.loads(config.model_dump_json()),
    )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return TrainResult(path, metrics, split)
