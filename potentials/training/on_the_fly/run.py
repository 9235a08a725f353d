"""MD that learns on the fly from a reference (:func:`run_learning_md`; ``mlcalc md MODEL STRUCTURE --learn METHOD``).

The run's output folder holds, besides the run folder(s) (one system: the folder itself;
``--replicas N``: ``replica-000``, ...; trajectory, energy log with the ``uncertainty_eV_per_A``,
``labelled`` and ``model_update_eV`` columns, checkpoint, summary):

::

    labelled.extxyz     every frame the reference labelled (energy, forces; info: step, system,
                        reason, uncertainty and committee force MAE before it was learned)
    learned.mlc         the final committee (kind ensemble); manifest record ``on_the_fly``: the
                        parent (name, kind, sha256), the labelled frames (count, sha256), settings
    learning.json       summary: reference calls and their share of steps, the steps they came at,
                        the budget, the threshold, the audits (their force MAE before learning:
                        the committee's error where it was sure of itself), wall time split
                        (model, reference, fine-tuning)
    learning.csv        one row per reference call
    learning/           the learner's state: state.json (the commit), reference.traj (every
                        reference result, float64), committee-vNNNN.mlc (members' weights)

A killed run continues with ``resume`` (see :mod:`.learner`); a finished one is returned as it is.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator

from mlcalc.errors import OutputExistsError, check_resume_or_overwrite
from mlcalc.locks import FolderLock
from mlcalc.md import RunFolder, initialise_velocities, load_md_result, replica_folders, replica_settings, run_steps
from mlcalc.md.files import RUN_FILES
from mlcalc.md.result import MDResult
from mlcalc.md.settings import LearnSettings, MDSettings

from ..finetune import frames_sha256
from ..parent_model import load_members, parent_record
from .files import CALLS, LABELLED, LEARNED_MODEL, REFERENCE_FRAMES, STATE, STATE_DIR, SUMMARY
from .learner import Learner, _read_frames
from .loop import LearningFolder, LearningStepper
from .references import reference_factory

__all__ = ["run_learning_md", "LearningResult", "LEARNING_ENSEMBLES"]

#: the ensembles a learning run steps (npt's TorchSim states hold their own forces, which a model update cannot renew)
LEARNING_ENSEMBLES = ("nve", "langevin", "nose-hoover")
#: learn settings a resume may change (the budget); any other change is refused
_RESUMABLE_CHANGES = ("max_calls", "on_budget")
#: learn settings added since a run's state may have been written, with the value that the older code behaved as
#: (a function of the run's stored settings); a resume must give that value
_ADDED = {"gap_growth": lambda stored: 1.0, "max_update_steps": lambda stored: stored.get("update_steps")}


@dataclass
class LearningResult:
    """A learning run: its MD runs (one per system), the summary (learning.json) and the output folder."""

    out_dir: Path
    runs: list[MDResult]
    summary: dict[str, Any]

    @property
    def model(self) -> Path:
        """The final committee (an ensemble .mlc)."""
        return self.out_dir / LEARNED_MODEL

    @property
    def labelled(self) -> Path:
        return self.out_dir / LABELLED


def run_learning_md(model: str | os.PathLike, atoms: Atoms | Sequence[Atoms], settings: MDSettings,
                    learn: LearnSettings, out_dir: str | os.PathLike, *, replicas: int = 1, resume: bool = False,
                    overwrite: bool = False, progress: bool = False, dtype: torch.dtype = torch.float32,
                    device: str | torch.device = "cpu", reference_calculator: Calculator | None = None,
                    label: str | None = None) -> LearningResult:
    """MD of ``atoms`` with a committee made from ``model`` that learns from ``learn.reference`` as it goes.

    ``model``: an energy model (``.mlc`` or shipped name; the committee is ``learn.members`` perturbed copies)
    or an ensemble file (its members). ``atoms``: the start of every replica, or one start per replica (the
    first is labelled to make the committee). ``settings``: the MD (ensemble nve, langevin or nose-hoover; engine
    ase or torchsim); ``replicas`` > 1: that many seeds (``settings.seed``, +1, ...) in one TorchSim batch
    (``settings.engine`` torchsim), sharing the labelled frames and the committee. ``dtype``/``device``: where
    the committee is evaluated for MD (members train in float32). ``reference_calculator``: a calculator to
    label with instead of the one ``learn.reference`` names (e.g. a DFT code; used as it is for every call).
    ``resume``: continue the run in ``out_dir``; ``overwrite``: replace it (without either, one there is
    refused). See :mod:`.run` for the outputs and :class:`~mlcalc.md.settings.LearnSettings` for the loop.
    """
    check_resume_or_overwrite(resume, overwrite, "MD run")
    if not isinstance(settings, MDSettings) or not isinstance(learn, LearnSettings):
        raise TypeError("settings must be MDSettings and learn LearnSettings (mlcalc.md)")
    _check_run(settings, replicas)
    starts = _starts(atoms, replicas)
    atoms = starts[0]
    out = Path(out_dir)
    dirs = [out] if replicas == 1 else replica_folders(out, replicas)
    system_settings = [settings] if replicas == 1 else replica_settings(settings, replicas)
    path, members, manifest = load_members(model)
    parent = parent_record(path, manifest)
    factory = (lambda: reference_calculator) if reference_calculator is not None else reference_factory(learn.reference)
    name = label or atoms.get_chemical_formula()
    with FolderLock(out / STATE_DIR, "learning folder"):
        state = _prepare(out, dirs, resume, overwrite, learn, settings, parent, replicas)
        learner = Learner(out, learn, settings, replicas, factory, parent, device, dtype)
        results: dict[int, MDResult] = {}
        opened: list[tuple[int, RunFolder, Atoms, int]] = []
        try:
            for k, folder_dir in enumerate(dirs):
                if state is not None and not state["systems"][k]["running"]:
                    results[k] = load_md_result(folder_dir)
                    continue
                folder = RunFolder(folder_dir, system_settings[k], name if replicas == 1 else f"{name} [{k}]",
                                   progress=progress and not opened, checkpoint_seconds=0)
                given = starts[k]
                system = Atoms(given.numbers, positions=given.positions, cell=given.cell, pbc=given.pbc)
                start = folder.open(system, resume=resume, overwrite=overwrite, uncertainty=True, learning=True)
                if start is None:
                    results[k] = load_md_result(folder_dir)
                    continue
                opened.append((k, folder, system, start))
            starts = sorted({start for *_, start in opened})
            if state is not None and starts and starts != [state["step"]]:
                raise ValueError(f"cannot resume the learning run in {out}: its run folders stand at steps {starts}, "
                                 f"its learner at step {state['step']}; start again with --overwrite")
            if state is not None:
                learner.restore(state)
            else:
                learner.cache = _cached_labels(out) if resume else {}
                learner.start(atoms, members, manifest)
            if opened:
                _run(learner, opened, settings, dtype, device)
        finally:
            for _, folder, _, _ in opened:
                if folder.lock.held:  # interrupted: the folder keeps its last checkpoint
                    folder.close()
        for k, folder, _, _ in opened:
            results[k] = load_md_result(folder.out)
        runs = [results[k] for k in range(replicas)]
        summary = _finish(learner, runs, manifest, model)
    return LearningResult(out, runs, summary)


def _check_run(settings: MDSettings, replicas: int) -> None:
    if settings.ensemble not in LEARNING_ENSEMBLES:
        raise ValueError(f"on-the-fly learning runs the ensembles {', '.join(LEARNING_ENSEMBLES)}; got "
                         f"{settings.ensemble}")
    if settings.max_uncertainty is not None:
        raise ValueError("max_uncertainty does not go with on-the-fly learning, which labels the uncertain steps "
                         "instead of stopping or flagging them: leave it out")
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, got {replicas}")
    if replicas > 1 and settings.engine != "torchsim":
        raise ValueError("replicas run as one TorchSim batch: set engine torchsim (mlcalc md --replicas N does)")


def _starts(atoms: Atoms | Sequence[Atoms], replicas: int) -> list[Atoms]:
    """One start per replica: ``atoms`` for each, or the list given (one per replica, the same atoms in order)."""
    if isinstance(atoms, Atoms):
        return [atoms] * replicas
    starts = list(atoms)
    if len(starts) != replicas:
        raise ValueError(f"give one start structure or one per replica: got {len(starts)} for {replicas} replicas")
    if any(list(s.numbers) != list(starts[0].numbers) for s in starts):
        raise ValueError("the replicas' start structures must hold the same atoms in the same order")
    return starts


def _existing(out: Path) -> list[Path]:
    names = [LABELLED, LEARNED_MODEL, SUMMARY, CALLS, STATE, REFERENCE_FRAMES]
    return [out / name for name in names if (out / name).exists()] + sorted((out / STATE_DIR).glob("committee-v*.mlc"))


def _prepare(out: Path, dirs: Sequence[Path], resume: bool, overwrite: bool, learn: LearnSettings,
             settings: MDSettings, parent: dict[str, Any], replicas: int) -> dict[str, Any] | None:
    """A new run: refuse or clear an earlier one. A resume: the commit to continue from (None: none yet), checked
    against the settings, with every system that was running put back to it."""
    if not resume:
        found = _existing(out) + [d / name for d in dirs for name in RUN_FILES if (d / name).exists()]
        if found and not overwrite:
            raise OutputExistsError(f"{out} already holds a learning run ({found[0].name} ...); continue it with "
                                    "--resume (resume=True) or replace it with --overwrite (overwrite=True)")
        for path in _existing(out):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        return None
    path = out / STATE
    if not path.exists():  # killed before its first commit: a new run, with the labels made so far as a cache
        for stale in _existing(out):
            if stale != out / REFERENCE_FRAMES:
                stale.unlink()
        return None
    state = json.loads(path.read_text())
    if state["n_systems"] != replicas:
        raise ValueError(f"cannot resume the learning run in {out}: it has {state['n_systems']} systems, asked for "
                         f"{replicas}")
    before = {**{k: behaved_as(state["learn"]) for k, behaved_as in _ADDED.items()}, **state["learn"]}
    changed = [f"{k}: {before.get(k)!r} in the run, {v!r} now" for k, v in learn.to_dict().items()
               if k not in _RESUMABLE_CHANGES and before.get(k) != v]
    changed += [f"md.{k}" for k in settings.differences(MDSettings(**state["md"]), ignore=("steps",))]
    if state["parent"]["sha256"] != parent["sha256"]:
        changed.append(f"the model ({parent['name']} is not the run's {state['parent']['name']})")
    if changed:
        raise ValueError(f"cannot resume the learning run in {out}: settings changed ({', '.join(changed)}); use the "
                         "original settings or a new output folder")
    for folder_dir, system in zip(dirs, state["systems"]):
        if system["running"]:
            RunFolder.rewind(folder_dir, system["checkpoint"])
    return state


def _cached_labels(out: Path) -> dict[int, list[Atoms]]:
    cache: dict[int, list[Atoms]] = {}
    for frame in _read_frames(out / REFERENCE_FRAMES):
        cache.setdefault(int(frame.info["index"]), []).append(frame)
    return cache


def _run(learner: Learner, opened: list, settings: MDSettings, dtype: torch.dtype, device) -> None:
    """Step the opened systems (all at one step) with the learner's committee until their runs end."""
    from mlcalc.calculator import MLCalc
    from mlcalc.md.stepper import ASEStepper

    start = opened[0][3]
    for k, folder, system, _ in opened:
        if start == 0:
            initialise_velocities(system, folder.settings.temperature, folder.settings.seed)
    t = time.perf_counter()
    if settings.engine == "ase":
        [(_, folder, system, _)] = opened
        system.calc = MLCalc(learner.committee.ensemble, dtype=dtype, device=device)
        inner = ASEStepper(system, folder.settings)
    else:
        from mlcalc.md.torchsim_model import TorchSimModel
        from mlcalc.md.torchsim_stepper import TorchSimStepper

        model = TorchSimModel(learner.committee.ensemble, device=device, dtype=dtype)
        inner = TorchSimStepper([system for _, _, system, _ in opened], model, opened[0][1].settings.model_copy(
            update={"engine": "torchsim"}), seeds=[folder.settings.seed for _, folder, _, _ in opened])
    learner.times["model_s"] += time.perf_counter() - t
    for b, (_, folder, _, _) in enumerate(opened):
        inner.set_integrator_state(folder.integrator_state, b)
    learner.stepper = inner
    learner.folders = [folder for _, folder, _, _ in opened]
    learner.systems = [k for k, *_ in opened]
    if start == 0:
        learner.start_kinetic = [float(inner.snapshot(b).get_kinetic_energy()) for b in range(len(opened))]
        if any(not np.array_equal(system.positions, opened[0][2].positions) for _, _, system, _ in opened):
            learner.start_positions = [system.positions.tolist() for _, _, system, _ in opened]
        learner.folders[0].labelled_since_row += 1  # the start frame, labelled when the committee was made
    folders = [LearningFolder(folder, learner, b) for b, (_, folder, _, _) in enumerate(opened)]
    run_steps(LearningStepper(inner, learner), folders, start)
    for folder in folders:
        folder.close()


def _finish(learner: Learner, runs: list[MDResult], manifest: dict[str, Any], model) -> dict[str, Any]:
    """The final commit, the learned model and learning.json; the summary."""
    learner.folders = []
    learner.commit()
    frames = learner.frames
    s = learner.learn
    record = {"parent": learner.parent, "reference": s.reference,
              "frames": {"count": len(frames), "sha256": frames_sha256(frames), "file": LABELLED},
              "settings": s.to_dict(), "md": learner.md.to_dict(), "updates": learner.committee.version}
    parent_training = manifest.get("training") or {}
    learner.committee.save(learner.out / LEARNED_MODEL, on_the_fly=record,
                           data={"name": f"{LABELLED} (on-the-fly, {s.reference})", "size": len(frames),
                                 "sha256": record["frames"]["sha256"]},
                           training={"name": f"{learner.parent['name']}-otf",
                                     "model": parent_training.get("model", {"kind": manifest["kind"]})})
    summary = summarise(learner, runs)
    path = learner.out / SUMMARY
    path.write_text(json.dumps(summary, indent=1))
    return summary


def summarise(learner: Learner, runs: list[MDResult]) -> dict[str, Any]:
    """learning.json: reference calls, share of steps, budget, threshold, uncertainty before/after, wall time split."""
    from mlcalc.calculator import MLCalc

    frames, s = learner.frames, learner.learn
    steps = sum(r.steps_done for r in runs)
    calc = MLCalc(learner.committee.ensemble, dtype=learner.dtype, device=learner.device)
    after_u, after_e = [], []
    for frame in frames:
        atoms = Atoms(frame.numbers, positions=frame.positions, cell=frame.cell, pbc=frame.pbc)
        atoms.calc = calc
        after_e.append(float(np.mean(np.abs(atoms.get_forces() - frame.get_forces()))))
        after_u.append(float(atoms.calc.results["uncertainty"]))
    before_u = [f.info["uncertainty"] for f in frames]
    audits = [f for f in frames if f.info["reason"] == "audit"]  # the committee's error where it was sure, before learning
    times = learner.times
    total = learner.wall_time()
    reference_per_call = times["reference_s"] / max(len(frames), 1)
    return {
        "reference": s.reference, "reference_calls": len(frames), "max_calls": s.max_calls,
        "budget_spent": len(frames) >= s.max_calls, "budget_spent_at_step": learner.budget_step,
        "on_budget": s.on_budget, "unlabelled_steps_above_threshold": learner.unlabelled_above,
        "steps": steps, "share_of_steps": len(frames) / max(steps, 1),
        "call_steps": [int(f.info["step"]) for f in frames], "call_systems": [int(f.info["system"]) for f in frames],
        "threshold": {"mode": learner.threshold.mode, "value_eV_per_A": learner.threshold.value,
                      "slope": learner.threshold.slope, "target_error_eV_per_A": s.target_error,
                      "pairs": len(learner.threshold.pairs), "window": learner.threshold.window},
        "update_energy": s.update_energy,
        "audits": len(audits), "audit_steps": [int(f.info["step"]) for f in audits],
        "audit_force_mae_eV_per_A": _mean([f.info["force_mae"] for f in audits]),
        "labelled_uncertainty_before_eV_per_A": _mean(before_u), "labelled_uncertainty_after_eV_per_A": _mean(after_u),
        "labelled_force_mae_before_eV_per_A": _mean([f.info["force_mae"] for f in frames]),
        "labelled_force_mae_after_eV_per_A": _mean(after_e),
        "members": len(learner.committee.members), "committee_updates": learner.committee.version,
        "wall_time_s": {"total": round(total, 2), "model": round(times["model_s"], 2),
                        "reference": round(times["reference_s"], 2), "finetune": round(times["finetune_s"], 2),
                        "other": round(total - sum(times.values()), 2)},
        "reference_s_per_call": reference_per_call,
        "plain_reference_md_estimate_s": steps * reference_per_call,
        "model": LEARNED_MODEL, "labelled": LABELLED,
        "runs": [{"folder": str(r.out_dir), "status": r.status, "message": r.message, "steps_done": r.steps_done,
                  "drift_meV_per_atom_per_ps": r.drift} for r in runs],
    }


def _mean(values: Sequence[float]) -> float | None:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else None
