"""Fine-tune a saved energy model on a few labelled frames, or train its architecture from scratch on them.

The cost of making a model transfer: :func:`finetune` continues training a ``.mlc`` energy
model on k frames of a new target; :func:`train_from_scratch` trains the same kind and
hyperparameters from fresh (seeded) weights on the same frames with the same optimiser
budget, the baseline that says what the parent's weights were worth.

Both use the loss of :class:`~.task.PotentialTask` (energies and forces with the parent's
``energy_weight``/``force_weight``) and the Lightning run of :mod:`.fit` (checkpoints,
resume, time budget). Choices for k as small as 10:

- By default all k frames train and none are held out: the validation pass runs on the
  training frames themselves, so the exported weights are the checkpoint with the lowest
  loss on the training frames (in eval mode, at an epoch's end), not an out-of-sample
  choice, and the manifest's errors are training errors. ``val=V`` holds the last V frames
  out (for a trajectory, the frames least correlated with the rest): the exported checkpoint
  is then the one with the lowest loss on them, and ``metrics.val`` is an out-of-sample
  error. There is no early stopping: the budget is a fixed number of optimiser ``steps`` so
  that fine-tune and from-scratch runs of the same k are compared at the same cost. The default
  (:func:`default_steps`) is 100 steps per frame at batch 16, at least 1000 (about 35 s for
  ethanol-bpnn on the 2-core CPU) and at most 5000: 1000 steps under-train 50-200 frames
  (organic-xtb on n-propanol and naphthalene: 24-29 meV/Å after 1000 steps, 18-26 after 5000),
  while 10 frames over-fit with more (docs/RESULTS.md).
- An epoch is one pass over the frames or 25 optimiser steps, whichever is more (a few
  frames are passed over several times per epoch, each pass reshuffled), so that 10 frames
  do not pay for a validation pass and a checkpoint after every step.
- AdamW with a cosine decay from ``lr`` to ``lr/100`` over the budget, no warm-up. The
  default fine-tune ``lr`` (5e-4) is half the from-scratch default (the parent's training
  ``lr``, 1e-3 for the shipped models); 1e-4 was too timid for a parent far from the target
  (ethanol-bpnn on n-propanol: docs/RESULTS.md).
- Atomrefs (``atomref``): ``"shift"`` (default) keeps the parent's and adds a least-squares
  per-element correction fitted on the frames' residual energies (reference minus parent),
  so training starts at the right energy zero; ``"parent"`` keeps them unchanged. The parent's
  atomrefs come from one composition (a minimum-norm spread of its mean energy) and miss a
  new molecule's energy by eV (ethanol-bpnn on n-propanol: 19 eV), an error that would
  dominate the loss; the shift moves energies only, never forces. A pretrained foundation parent
  (PBE energies, say) is first moved to the frames' method's isolated-atom energies (``reference``). From scratch, atomrefs are
  fitted on the frames as :mod:`.train` does.

Outputs: ``<out_dir>/<name>.mlc`` (manifest record ``finetune``: mode, the parent's name and
file sha256, the frames' count, sha256 and source, the settings) and the run folder
``<out_dir>/<name>.run`` (checkpoints, CSV logs, ``request.json``). A killed run resumes from
its last checkpoint on the next call with the same request; a finished model is returned as
it is; a different request for the same name is refused (choose another ``name`` or
``out_dir``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
import torch
from ase import Atoms
from torch.utils.data import RandomSampler
from torch_geometric.loader import DataLoader

from mlcalc.data.structure_files import require_labels
from mlcalc.errors import MLCalcError, OutputExistsError
from mlcalc.locks import FolderLock
from mlcalc.model import create_model
from mlcalc.modelfile import read_manifest, save_model
from mlcalc.yaml_config import dotted_leaves

from .config import OptimConfig
from .data import GraphDataset, fit_atomref, force_rms
from .fit import fit
from .parent_model import atomrefs_at_frames_zero, load_parent, parent_name, parent_record
from .rereference import level_of_theory
from .task import PotentialTask

__all__ = ["finetune", "train_from_scratch", "default_steps", "held_out", "DEFAULT_STEPS", "DEFAULT_VISITS",
           "MAX_DEFAULT_STEPS", "DEFAULT_LR", "frames_sha256"]

#: the default budget's floor in optimiser steps: ≈ 35 s for ethanol-bpnn at batch 16 on the 2-core CPU
DEFAULT_STEPS = 1000
#: frames a default budget feeds the optimiser per training frame (steps × batch size / frames): 100 steps a frame at 16
DEFAULT_VISITS = 1600
#: the default budget's ceiling (about 10-20 CPU-min for organic-xtb on small molecules); an explicit ``steps`` may pass it
MAX_DEFAULT_STEPS = 5000
#: default fine-tune learning rate, half the from-scratch default (the parent's training lr, 1e-3 for the shipped models)
DEFAULT_LR = 5e-4
#: an epoch (a validation pass and a checkpoint) every this many steps at least, however few the frames
MIN_STEPS_PER_EPOCH = 25
#: the parent's loss and clipping settings that both runs keep
_KEPT_OPTIM = ("energy_weight", "force_weight", "gradient_clip", "weight_decay")


def finetune(model_path: str | os.PathLike, frames: Sequence[Atoms], out_dir: str | os.PathLike, *,
             steps: int | None = None, lr: float = DEFAULT_LR, batch_size: int = 16, seed: int = 0,
             max_minutes: float | None = None, atomref: Literal["shift", "parent"] = "shift",
             name: str | None = None, source: str | None = None, progress: bool = False,
             reference: str | None = "gfn2-xtb", val: int = 0) -> Path:
    """Continue training the energy model ``model_path`` (file or shipped name) on ``frames``; the new file.

    ``frames``: structures with energies (eV) and forces (eV/Å); ``steps`` optimiser steps of
    ``batch_size`` frames (at most all of them), rounded up to whole epochs (None: :func:`default_steps`);
    ``max_minutes`` stops earlier (the model is then exported as finished; ``metrics.steps`` says how
    far it got); ``source`` describes where the frames came from (manifest). ``name`` defaults to
    ``<parent>-ft<k>``. ``val``: the last ``val`` frames are held out for validation (default none;
    the default ``steps`` then count the others). See the module docstring for validation, atomrefs and resume.
    ``reference``: the method that labelled the frames; a foundation parent (another level of
    theory, manifest record ``foundation``) first gets that method's isolated-atom energies for the
    frames' elements (:func:`.rereference.rereference_to_method`) before the ``shift``; None skips it.
    """
    if atomref not in ("shift", "parent"):
        raise ValueError(f"atomref must be 'shift' or 'parent', got {atomref!r}")
    parent_path, parent, manifest = load_parent(model_path)
    frames = _checked_frames(frames, parent.elements)
    settings = {"steps": steps, "lr": lr, "batch_size": batch_size, "seed": seed, "atomref": atomref}
    if atomref == "shift" and reference is not None and level_of_theory(manifest) is not None:
        settings["reference"] = reference  # only for foundation parents: other requests stay as they were
    request = _request("finetune", parent_path, manifest, frames, source, settings, val)
    train_frames, _ = held_out(frames, val)
    name = name or f"{parent_name(parent_path, manifest)}-ft{len(train_frames)}"

    def build() -> tuple[torch.nn.Module, dict[int, float]]:
        if atomref == "shift":  # a foundation parent at the frames' level of theory first (settings["reference"])
            refs = atomrefs_at_frames_zero(parent, manifest, train_frames, settings.get("reference"))
        else:
            refs = {int(z): float(parent.atomref[z]) for z in parent.elements}
        return parent.train(), refs

    return _run(build, frames, Path(out_dir), name, request, manifest, lr, max_minutes, progress)


def train_from_scratch(model_path: str | os.PathLike, frames: Sequence[Atoms], out_dir: str | os.PathLike, *,
                       steps: int | None = None, lr: float | None = None, batch_size: int = 16, seed: int = 0,
                       max_minutes: float | None = None, name: str | None = None, source: str | None = None,
                       progress: bool = False, val: int = 0) -> Path:
    """Train the kind and hyperparameters of ``model_path`` from fresh weights (seeded) on ``frames``.

    The baseline of :func:`finetune` with the same budget: ``lr`` defaults to the parent's
    training lr; the model's elements are the frames' and its energy scale and atomrefs are
    fitted on them as :mod:`.train` does. ``name`` defaults to ``<parent>-scratch<k>``; ``val`` as for :func:`finetune`.
    """
    parent_path, parent, manifest = load_parent(model_path)
    frames = _checked_frames(frames, parent.elements)
    lr = float(lr if lr is not None else (manifest.get("training") or {}).get("optim", {}).get("lr", 1e-3))
    settings = {"steps": steps, "lr": lr, "batch_size": batch_size, "seed": seed}
    request = _request("scratch", parent_path, manifest, frames, source, settings, val)
    train_frames, _ = held_out(frames, val)
    name = name or f"{parent_name(parent_path, manifest)}-scratch{len(train_frames)}"

    def build() -> tuple[torch.nn.Module, dict[int, float]]:
        hyper = {k: v for k, v in manifest["hyperparameters"].items() if k not in ("elements", "energy_scale")}
        torch.manual_seed(seed)
        model = create_model(manifest["kind"], elements=sorted({int(z) for a in frames for z in a.numbers}),
                             energy_scale=force_rms(train_frames), **hyper)
        refs = fit_atomref(train_frames)
        model.set_atomref(refs)
        return model.train(), refs

    return _run(build, frames, Path(out_dir), name, request, manifest, lr, max_minutes, progress)


def default_steps(n_frames: int, batch_size: int = 16) -> int:
    """The default optimiser steps for ``n_frames`` frames at ``batch_size``: DEFAULT_VISITS × n_frames / batch_size
    (100 steps a frame at batch 16), at least DEFAULT_STEPS and at most MAX_DEFAULT_STEPS."""
    if n_frames < 1 or batch_size < 1:
        raise ValueError(f"n_frames and batch_size must be ≥ 1, got {n_frames} and {batch_size}")
    return min(max(DEFAULT_STEPS, math.ceil(DEFAULT_VISITS * n_frames / batch_size)), MAX_DEFAULT_STEPS)


def held_out(frames: Sequence[Atoms], val: int) -> tuple[list[Atoms], list[Atoms]]:
    """(training frames, validation frames): the last ``val`` of ``frames`` are held out."""
    frames = list(frames)
    return frames[:len(frames) - val], frames[len(frames) - val:]


def frames_sha256(frames: Sequence[Atoms]) -> str:
    """SHA-256 (hex) of the frames' atomic numbers, positions, energies and forces (float64 bytes)."""
    digest = hashlib.sha256()
    for a in frames:
        for array in (a.numbers.astype(np.int64), a.positions, np.array([a.get_potential_energy()]), a.get_forces()):
            digest.update(np.ascontiguousarray(array, dtype=array.dtype if array.dtype == np.int64 else np.float64))
    return digest.hexdigest()



def _checked_frames(frames: Sequence[Atoms], elements: Sequence[int]) -> list[Atoms]:
    frames = list(frames)
    if not frames:
        raise ValueError("no frames to train on: give at least one structure with energy and forces")
    require_labels(frames, forces=True, source="frames")
    from ase.data import chemical_symbols

    unknown = sorted({int(z) for a in frames for z in a.numbers} - set(elements))
    if unknown:
        raise MLCalcError(f"the frames hold elements {', '.join(chemical_symbols[z] for z in unknown)} that the "
                          f"model does not know; it knows {', '.join(chemical_symbols[z] for z in elements)}")
    return frames



def _request(mode: str, parent_path: Path, manifest: dict[str, Any], frames: list[Atoms], source: str | None,
             settings: dict[str, Any], val: int = 0) -> dict[str, Any]:
    """What the run is made from and how (the manifest's ``finetune`` record; also decides reuse).

    ``settings["steps"]`` None becomes :func:`default_steps` for the training frames (all but the last ``val``).
    ``val`` enters the record only when frames are held out, so requests made before it existed still match."""
    for key in ("steps", "batch_size", "seed"):
        if key == "steps" and settings[key] is None:
            continue
        if not isinstance(settings[key], int) or isinstance(settings[key], bool) or settings[key] < (0 if key == "seed" else 1):
            raise ValueError(f"{key} must be an integer ≥ {0 if key == 'seed' else 1}, got {settings[key]!r}")
    if not settings["lr"] > 0:
        raise ValueError(f"lr must be > 0, got {settings['lr']!r}")
    if not isinstance(val, int) or isinstance(val, bool) or val < 0:
        raise ValueError(f"val (frames held out for validation) must be an integer ≥ 0, got {val!r}")
    if val >= len(frames):
        raise ValueError(f"val={val} holds out every one of the {len(frames)} frames; keep at least one to train on "
                         f"(val at most {len(frames) - 1})")
    if settings["steps"] is None:
        settings = {**settings, "steps": default_steps(len(frames) - val, settings["batch_size"])}
    validation = {"val": val, "validation": f"the last {val} frames, held out"} if val else \
        {"validation": "training frames"}
    parent_optim = (manifest.get("training") or {}).get("optim", {})
    optim = {k: parent_optim[k] for k in _KEPT_OPTIM if k in parent_optim}
    return {"mode": mode, "parent": parent_record(parent_path, manifest),
            "frames": {"count": len(frames), "sha256": frames_sha256(frames), "source": source},
            "settings": {**settings, "optimizer": "adamw", "lr_schedule": "cosine (per epoch)",
                         "min_steps_per_epoch": MIN_STEPS_PER_EPOCH, **validation, **optim}}


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two requests alike but for the parent's path (a shipped model moves with the installation)."""
    def strip(r):
        return {**r, "parent": {k: v for k, v in r.get("parent", {}).items() if k != "path"}}

    return strip(a) == strip(b)


def _differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    """What differs between two requests, e.g. ``settings.steps: 1000 there, 5000 here`` (the parent's path aside)."""
    a, b = dotted_leaves(old), dotted_leaves(new)
    keys = [k for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k) and k != "parent.path"]
    shown = [f"{k}: {_short(a.get(k))} there, {_short(b.get(k))} here" for k in keys[:3]]
    return "; ".join(shown + ([f"{len(keys) - 3} more"] if len(keys) > 3 else [])) or "another request"


def _short(value: Any) -> str:
    text = "none" if value is None else str(value)
    return text if len(text) <= 16 else text[:12] + "…"


def _run(build, frames: list[Atoms], out_dir: Path, name: str, request: dict[str, Any], parent_manifest: dict[str, Any],
         lr: float, max_minutes: float | None, progress: bool) -> Path:
    """Fit the model ``build()`` gives on ``frames`` (all but the last ``settings.val``, which validate) in
    ``<out_dir>/<name>.run``; export ``<out_dir>/<name>.mlc``."""
    target = out_dir / f"{name}.mlc"
    work = out_dir / f"{name}.run"
    if target.exists():
        return _reuse(target, request)
    with FolderLock(work, "fine-tune folder"):
        if target.exists():  # finished by another process while this one waited
            return _reuse(target, request)
        saved = work / "request.json"
        if saved.exists() and not _same(old := json.loads(saved.read_text()), request):
            raise OutputExistsError(f"{work} holds an unfinished run of another request ({_differences(old, request)}); "
                                    "delete it or choose another name or out_dir")
        saved.write_text(json.dumps(request, indent=2))
        s = request["settings"]
        train_frames, val_frames = held_out(frames, s.get("val", 0))
        n_train = len(train_frames)
        batch = min(s["batch_size"], n_train)
        per_epoch = max(math.ceil(n_train / batch), MIN_STEPS_PER_EPOCH)
        epochs = math.ceil(s["steps"] / per_epoch)
        optim = OptimConfig(epochs=epochs, batch_size=batch, optimizer="adamw", lr=lr, lr_schedule="cosine",
                            lr_min=lr / 100, max_minutes=max_minutes,
                            **{k: s[k] for k in _KEPT_OPTIM if k in s})
        model, refs = build()
        dataset = GraphDataset(train_frames, cutoff=model.cutoff)
        sampler = RandomSampler(dataset, num_samples=per_epoch * batch,  # reshuffled after each pass over the frames
                                generator=torch.Generator().manual_seed(s["seed"]))
        train_loader = DataLoader(dataset, batch_size=batch, sampler=sampler, drop_last=True)
        train_eval = DataLoader(dataset, batch_size=batch, shuffle=False)
        val_loader = DataLoader(GraphDataset(val_frames, cutoff=model.cutoff), batch_size=batch, shuffle=False) \
            if val_frames else train_eval
        torch.manual_seed(s["seed"])
        fitted = fit(PotentialTask(model, optim.model_dump()), train_loader, val_loader, optim, work,
                     resume=(work / "checkpoints" / "last.ckpt").exists(), progress=progress)
        from .train import test_metrics

        val_metrics = {"val": {**test_metrics(model, val_loader), "frames": len(val_frames)}} if val_frames else {}
        metrics = {"train": {**test_metrics(model, train_eval), "frames": n_train}, **val_metrics, **fitted,
                   "steps": fitted["epochs"] * per_epoch, "torch_threads": torch.get_num_threads()}
        parent_training = parent_manifest.get("training") or {}
        training = {"name": name, "seed": s["seed"], "optim": optim.model_dump(mode="json"),
                    "model": parent_training.get("model", {"kind": parent_manifest["kind"]})}
        save_model(target, model, metrics=metrics,
                   data={"name": request["frames"]["source"] or f"{len(frames)} frames", "size": n_train,
                         "sha256": request["frames"]["sha256"]},
                   normalisation={"atomref_eV": {str(z): e for z, e in refs.items()},
                                  "energy_scale_eV": float(model.energy_scale)},
                   training=training, finetune=request)
    return target


def _reuse(target: Path, request: dict[str, Any]) -> Path:
    """``target`` if it was made from ``request``; else refused."""
    done = read_manifest(target, verify=False).get("finetune")
    if done is None or not _same(done, request):
        why = _differences(done, request) if done is not None else "not a fine-tuned model"
        raise OutputExistsError(f"{target} exists and was not made from this request ({why}); delete it or choose "
                                "another name or out_dir")
    return target
