"""Train a model from a :class:`~mlcalc.potentials.training.config.TrainConfig` and export a ``.mlc`` file.

Energy models train here on labelled structure files (``data.source: file``; kernel energy
models, ``closed_form``, are solved on the training energies instead of fitted by gradients); property
models on QM9 in :mod:`.property_train` and on crystals in :mod:`.crystal_train`. Both share the Lightning run of :mod:`.fit`
(checkpoints, resume, time budget, CSV logs under ``out_dir/logs``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import RandomSampler
from torch_geometric.loader import DataLoader

from mlcalc import keys as K
from mlcalc.atomref import choose_atomref, compositions
from mlcalc.data.frame_folder import FlatFrames
from mlcalc.data.molecules import load_molecule
from mlcalc.data.splits import split_indices_train_only
from mlcalc.data.structure_files import file_sha256, read_structures, require_labels
from mlcalc.derivatives import energy_forces_stress, model_inputs
from mlcalc.errors import check_resume_or_overwrite
from mlcalc.model import create_model
from mlcalc.modelfile import save_model

from .config import TrainConfig
from .data import FrameView, GraphDataset, LazyGraphDataset, force_rms, split_indices
from .fit import TrainResult, fit, load_checkpoint_weights
from .out_dir import training_folder
from .task import PotentialTask

__all__ = ["train", "export_best_checkpoint", "TrainResult", "test_metrics"]


def _ensure_data(config: TrainConfig) -> Path:
    """The data file, generated with GFN2-xTB first if it is missing and the config says how."""
    path = config.data.path
    if path.exists():
        return path
    gen = config.data.generate
    if gen is None:
        raise FileNotFoundError(f"data file {path} does not exist and the config has no 'generate' section")
    from mlcalc.md import generate_reference

    generate_reference(load_molecule(gen.molecule), gen, out=path, progress=config.progress)
    return path


def _training_data(config: TrainConfig, path: Path):
    """``(frames, split, lazy)``: the labelled frames (a sequence of Atoms), the seeded split of their indices,
    and whether graphs are built as frames are drawn (a frame folder: no Atoms or graph held per frame).

    ``data.split: molecules`` (frame folders) puts all frames of a molecule in one split; ``train``,
    ``val`` and ``test`` then count molecules.
    """
    from mlcalc.data.frame_folder import FrameFolder, is_frame_folder

    d = config.data
    if is_frame_folder(path):
        frames = FrameFolder(path).arrays()
        if d.split == "molecules":
            seen = _parent_molecules(config, frames.keys)
            by_molecule = (split_indices(len(frames.keys), d.train, d.val, d.test, d.split_seed) if seen is None else
                           split_indices_train_only(len(frames.keys), seen, d.train, d.val, d.test, d.split_seed))
            return frames, {k: frames.frames_of(v) for k, v in by_molecule.items()}, True
        return frames, split_indices(len(frames), d.train, d.val, d.test, d.split_seed), True
    if d.split == "molecules":
        raise ValueError(f"data.split: molecules needs a frame folder (mlcalc data broad); {path} is a file: "
                         "use data.split: frames")
    structures = read_structures(path)
    require_labels(structures, forces=True, source=str(path))
    return structures, split_indices(len(structures), d.train, d.val, d.test, d.split_seed), False


def _parent_molecules(config: TrainConfig, keys: list[str]) -> np.ndarray | None:
    """Rows of ``keys`` that the ``init_from`` parent trained on (``data.parent_data``), kept out of val and test.

    Without ``parent_data``, a parent trained on a frame folder that is still there and shares molecules with this
    one is refused: a random molecule split would test the child on molecules its parent learned.
    """
    from mlcalc.data.frame_folder import FrameFolder, is_frame_folder

    given = config.data.parent_data
    if given is None:
        if config.init_from is not None:
            from mlcalc.modelfile import read_manifest
            from mlcalc.named_models import resolve_model_path

            training = read_manifest(resolve_model_path(config.init_from), verify=False).get("training") or {}
            path = Path(str((training.get("data") or {}).get("path", "")))
            if path.parts and is_frame_folder(path) and set(FrameFolder(path).keys) & set(keys):
                raise ValueError(f"init_from {config.init_from} trained on molecules of {path}, which this data set "
                                 f"shares; set data.parent_data: {path} so that none of them is a validation or test "
                                 "molecule")
        return None
    if not is_frame_folder(given):
        raise ValueError(f"data.parent_data {given} is not a frame folder (mlcalc data broad)")
    parent = set(FrameFolder(given).keys)
    return np.array([row for row, key in enumerate(keys) if key in parent], dtype=np.int64)


def _loader(dataset, config: TrainConfig, train: bool) -> DataLoader:
    """A stage's loader: the training frames shuffled (``optim.epoch_frames`` of them per epoch when set)."""
    o, generator = config.optim, torch.Generator().manual_seed(config.seed)
    if train and o.epoch_frames is not None:
        if not o.shuffle:
            raise ValueError("optim.epoch_frames draws a random subset each epoch; it needs optim.shuffle: true")
        sampler = RandomSampler(dataset, num_samples=o.epoch_frames, generator=generator)
        return DataLoader(dataset, batch_size=o.batch_size, sampler=sampler)
    return DataLoader(dataset, batch_size=o.batch_size, shuffle=train and o.shuffle, generator=generator)


def _folder_provenance(path: Path, frames, split: dict[str, np.ndarray]) -> dict:
    """A frame folder's molecules (per split), frames and held-out molecules for the manifest (nothing for a file)."""
    from mlcalc.data.frame_folder import FrameFolder, is_frame_folder

    if not is_frame_folder(path):
        return {}
    molecules = {stage: int(len(np.unique(frames.molecule[idx]))) for stage, idx in split.items()}
    return {"frame_folder": {**FrameFolder(path).provenance(), "split_molecules": molecules}}


def _reference_method(config: TrainConfig, structures) -> str | None:
    """The method that labelled the data: ``data.reference``, else the frames' ``info["reference"]``
    (written by :func:`mlcalc.md.generate_reference`), else GFN2-xTB for a config that generates its data."""
    if config.data.reference is not None:
        return config.data.reference
    if isinstance(structures, FlatFrames):  # a frame folder names its method once
        return structures.reference
    found = {str(a.info.get("reference", "")).lower() for a in structures}
    if len(found) == 1 and found != {""}:
        return found.pop()
    return "gfn2-xtb" if config.data.generate is not None else None


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


def train(config: TrainConfig, resume: bool = False, overwrite: bool = False, wandb: dict | None = None,
          devices: int = 1, strategy: str = "auto") -> TrainResult:
    """Fit, pick the best validation checkpoint, test it and write ``out_dir/<name>.mlc``.

    ``resume``: continue the run in ``out_dir`` from its last checkpoint. An earlier run
    there is refused without ``resume`` unless ``overwrite`` (which deletes it); the folder
    is locked while training writes there. ``wandb``: also log to Weights & Biases with these
    options (:func:`.wandb_log.wandb_logger`; offline unless ``online``). ``devices``,
    ``strategy``: data-parallel fitting (e.g. 2, "ddp"; see :mod:`.fit`).
    """
    check_resume_or_overwrite(resume, overwrite, "training run")
    with training_folder(Path(config.out_dir), config.name, resume, overwrite):
        if config.data.source == "qm9":
            from .property_train import train_properties

            return train_properties(config, resume, wandb=wandb, devices=devices, strategy=strategy)
        if config.data.source in ("cif_folder", "coremof"):
            from .crystal_train import train_crystals

            if wandb is not None or devices != 1:
                raise ValueError(f"--wandb and --devices are not supported yet for crystal data "
                                 f"(data.source: {config.data.source}); train on one process without them")
            return train_crystals(config, resume)
        return _train_energy_model(config, resume, wandb=wandb, devices=devices, strategy=strategy)


def export_best_checkpoint(config: TrainConfig, path: Path, overwrite: bool = False) -> TrainResult:
    """Write the best validation checkpoint of the run in ``config.out_dir`` to ``path`` (.mlc), tested, without
    training: the model so far of a run that is still training (its folder is only read) or was stopped.

    Energy models (``data.source: file``, gradient-trained) only.
    """
    from mlcalc.errors import OutputExistsError

    path, checkpoint = Path(path), Path(config.out_dir) / "checkpoints" / "best.ckpt"
    if config.data.source != "file":
        raise ValueError(f"exporting a checkpoint works for energy models (data.source: file); "
                         f"this config has data.source: {config.data.source}")
    if not checkpoint.exists():
        raise FileNotFoundError(f"no checkpoint to export: {checkpoint} does not exist (train first)")
    if path.suffix != ".mlc":
        raise ValueError(f"the exported model file must end in .mlc, got {path}")
    if path.resolve() == (Path(config.out_dir) / f"{config.name}.mlc").resolve():
        raise ValueError(f"{path} is the file the training run itself writes; export to another path")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass --overwrite (overwrite=True) to replace it")
    return _train_energy_model(config, resume=False, export_from=checkpoint, export_to=path)


def _best_checkpoint_weights(model: torch.nn.Module, checkpoint: Path) -> dict:
    """Load the network weights of a Lightning checkpoint into ``model``; its epoch and step counts, the
    training's wall and CPU time up to it (s) and the torch threads it ran with."""
    saved = load_checkpoint_weights(model, checkpoint)
    times = saved.get("callbacks", {})
    return {"epochs": int(saved.get("epoch", -1)) + 1, "optimizer_steps": int(saved.get("global_step", 0)),
            "train_wall_time_s": round(times.get("Timer", {}).get("time_elapsed", {}).get("train", 0.0), 1),
            "train_cpu_time_s": round(times.get("CPUBudget", {}).get("used_s", 0.0), 1),
            "torch_threads": times.get("CPUBudget", {}).get("torch_threads"),  # None: not recorded (older checkpoint)
            "exported_from_checkpoint": str(checkpoint.name)}


def _train_energy_model(config: TrainConfig, resume: bool, wandb: dict | None = None, devices: int = 1,
                        strategy: str = "auto", export_from: Path | None = None,
                        export_to: Path | None = None) -> TrainResult:
    out = Path(config.out_dir)
    data_path = _ensure_data(config)
    structures, split, lazy = _training_data(config, data_path)
    d = config.data
    train_set = FrameView(structures, split["train"])

    torch.manual_seed(config.seed)
    parent = None
    if config.init_from is not None:  # the parent's weights, its atomrefs at the training frames' energy zero
        from .init_from import start_from_parent

        model, atomref, atomref_record, parent = start_from_parent(config.init_from, train_set,
                                                                   _reference_method(config, structures), out)
    else:
        elements = compositions(train_set)[0]
        # a periodic training set makes a periodic model (a frame folder holds molecules)
        periodic = not lazy and any(bool(a.pbc.any()) for a in structures)
        model = create_model(config.model.kind, elements=elements, cutoff=config.model.cutoff,
                             energy_scale=force_rms(train_set), **{"periodic": periodic, **config.model.hyperparameters})
        atomref, atomref_record = choose_atomref(train_set, d.atomref, _reference_method(config, structures))
        model.set_atomref(atomref)

    loaders = {}
    for stage, idx in split.items():
        dataset = (LazyGraphDataset(structures, idx, cutoff=model.cutoff) if lazy
                   else GraphDataset([structures[i] for i in idx], cutoff=model.cutoff))
        loaders[stage] = _loader(dataset, config, train=stage == "train")
    logger = None
    if wandb is not None:
        from .wandb_log import wandb_logger

        logger = wandb_logger(out, wandb, json.loads(config.model_dump_json()))
    if export_from is not None:  # a checkpoint of this run, exported without training
        if getattr(model, "closed_form", False):
            raise ValueError(f"{config.model.kind} is solved in closed form and has no checkpoints to export")
        fitted = _best_checkpoint_weights(model, export_from)
    elif getattr(model, "closed_form", False):  # kernel energy models: solved on the training energies
        start = time.perf_counter()
        model.fit(train_set, np.array([a.get_potential_energy() for a in train_set]),
                  forces=[a.get_forces() for a in train_set],  # used with kernel_params.force_weight > 0
                  atomref_start={int(z): e for z, e in atomref_record.get("isolated_atom_eV", {}).items()} or None)
        atomref = {z: float(model.atomref[z]) for z in model.elements}
        fitted = {"epochs": 0, "train_wall_time_s": round(time.perf_counter() - start, 1)}
    else:
        task = PotentialTask(model, config.optim.model_dump())
        fitted = fit(task, loaders["train"], loaders["val"], config.optim, out, resume, config.progress,
                     loggers=[logger] if logger else [], devices=devices, strategy=strategy)
    tested = test_metrics(model, loaders["test"]) if len(split["test"]) else {}  # test: 0 keeps every molecule
    metrics = {"test": {**tested, "frames": len(split["test"])},
               "val": {**test_metrics(model, loaders["val"]), "frames": len(split["val"])},
               "torch_threads": torch.get_num_threads(), **fitted}  # an exported checkpoint's: the training's
    metrics = {key: value for key, value in metrics.items() if value is not None}
    path = save_model(
        export_to or out / f"{config.name}.mlc", model, metrics=metrics,
        data={"name": d.name or data_path.name, "path": str(data_path), "size": len(structures),
              "sha256": file_sha256(data_path), "split_seed": d.split_seed,
              "splits": {k: len(v) for k, v in split.items()}, "split_by": d.split,
              **_folder_provenance(data_path, structures, split)},
        normalisation={"atomref_eV": {str(z): e for z, e in atomref.items()}, "energy_scale_eV": model.energy_scale,
                       "atomref": atomref_record},
        training=json.loads(config.model_dump_json()),
        **({"init_from": parent} if parent is not None else {}),
    )
    if export_to is None:
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if logger is not None:
        from .training_plots import loss_curves
        from .wandb_log import finish_wandb

        finish_wandb(logger, metrics, [force_parity(model, loaders["test" if len(split["test"]) else "val"],
                                                                    out / "parity.png", config.name),
                                       loss_curves(out / "logs", out / "loss.png", title=config.name)])
    return TrainResult(path, metrics, split)


def force_parity(model: torch.nn.Module, loader, path: Path, title: str = "") -> Path:
    """Parity plot of predicted against reference force components (eV/Å) over ``loader``."""
    from .training_plots import parity_plot

    model.eval()
    predicted, reference = [], []
    for batch in loader:
        out = energy_forces_stress(model, model_inputs(batch), forces=True)
        predicted.append(out[K.FORCES].detach().reshape(-1, 1).double())
        reference.append(batch[K.FORCES].reshape(-1, 1).double())
    return parity_plot(torch.cat(predicted).numpy(), torch.cat(reference).numpy(), ["forces"], ["eV/Å"], path,
                       title=f"{title} test")
