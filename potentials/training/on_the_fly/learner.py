"""The learner of an on-the-fly run: decides which steps are labelled, labels them, updates the committee,
and commits its state together with the MD checkpoints.

One :class:`Learner` serves every system of a run (the replicas share the labelled frames and the
committee). :meth:`Learner.visit` sees each system's state after each step, before its run folder
records it: a step above the threshold (or, while an auto threshold calibrates, every
``calibration_interval`` steps; or an audit, a system ``audit_gap`` steps without a label; threshold labels
of one system at least ``label_gap`` apart, a gap that grows after false alarms) is
held, labelled by the reference, every member is fitted on all labelled frames, the stepper
recomputes every system's forces with the new weights (``Stepper.refresh``) and the state goes on
to the folder. An update changes each system's potential
energy at its positions (new model minus old). In NVE the system's momenta are then scaled
(``Stepper.scale_momenta``) so that its total energy becomes its start state's (its start geometry,
its step-0 kinetic energy) on the new model (``update_energy: anchor``) or stays (``conserve``); with
``jump``, or when the kinetic energy cannot pay for the change, the momenta stay and the total jumps
by the potential-energy change. An anchor the kinetic energy cannot pay for at the update (the held
geometry lies above it on the new model) keeps the total and is paid at the first later step that can
(:meth:`Learner.visit`; pending anchors are part of the commit). Each
total's jump is added to the folder's ``model_update_eV`` (energy-log column): an NVE run conserves
``total_eV - model_update_eV``.

**Resume.** The run folders checkpoint at every saved frame, and at the next step :meth:`commit`
writes ``learning/state.json`` (atomically): the learner's state (labelled count, committee
version, threshold, counters, times) and each running system's checkpoint of that step. A resume
first puts every folder back to the committed checkpoint (:meth:`~mlcalc.md.RunFolder.rewind`), so
that MD state, labelled frames and member weights are those of one step. Every reference result is
appended to ``learning/reference.traj`` (float64) as soon as it exists, numbered by label; a label
that a killed process made after the last commit is found there again when the replayed run asks
for it at the same positions, so no reference call is lost.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.io import write
from ase.io.trajectory import Trajectory

from mlcalc.md.files import CHECKPOINT
from mlcalc.md.settings import LearnSettings, MDSettings

from .committee import Committee, start_committee
from .files import CALLS, LABELLED, REFERENCE_FRAMES, STATE, committee_file
from .references import label
from .threshold import Threshold

__all__ = ["Learner", "CALL_COLUMNS"]

log = logging.getLogger(__name__)

#: the columns of learning.csv, one row per reference call
CALL_COLUMNS = ("call", "step", "time_ps", "system", "reason", "uncertainty_eV_per_A", "force_mae_eV_per_A",
                "threshold_eV_per_A", "reference_s", "finetune_s", "loss")


class Learner:
    """The learning state of a run in ``out`` with ``learn`` and ``md`` settings over ``n_systems`` systems.

    ``reference``: makes the calculator that labels a frame (a fresh one per call). Make the committee with
    :meth:`start` (a new run) or :meth:`restore` (a resume); then set :attr:`stepper`, :attr:`folders` (the
    run folders of the systems the stepper holds, in its order) and :attr:`systems` (each one's system
    number in the run, 0 .. n_systems - 1) before the MD starts.
    """

    def __init__(self, out: Path, learn: LearnSettings, md: MDSettings, n_systems: int,
                 reference: Callable[[], Calculator], parent: dict[str, Any], device: str | torch.device,
                 dtype: torch.dtype):
        self.out, self.learn, self.md, self.n_systems = Path(out), learn, md, n_systems
        self.reference, self.parent, self.device, self.dtype = reference, parent, device, dtype
        self.frames: list[Atoms] = []  # the labelled frames, in order
        self.cache: dict[int, list[Atoms]] = {}  # label number -> reference results of an earlier process
        self.threshold = Threshold.from_settings(learn.threshold, learn.target_error, learn.calibration,
                                                 learn.calibration_window)
        self.committee: Committee | None = None
        self.last_label = [0] * n_systems
        self.audit_gap = [learn.audit] * n_systems  # steps without a label before each system's next audit
        self.label_gap = [learn.min_gap] * n_systems  # steps after a label before each system's next threshold label
        self.step = 0
        self.committed_step: int | None = None
        self.times = {"model_s": 0.0, "reference_s": 0.0, "finetune_s": 0.0}
        self.elapsed = 0.0  # wall time of earlier processes, as committed
        self.t0 = time.perf_counter()
        self.start_kinetic: list[float] = []  # each system's kinetic energy at step 0 (eV), for update_energy anchor
        self.start_positions: list[list] = []  # each system's start geometry (Å; [] : all at the first label's)
        self.pending: dict[int, float] = {}  # system -> the anchor (total energy, eV) its kinetic energy could not pay
        self.budget_step: int | None = None  # the first step that needed a label past the budget
        self.unlabelled_above = 0  # steps above the threshold once the budget was spent
        self.stepper: Any = None
        self.folders: list[Any] = []
        self.systems: list[int] = list(range(n_systems))
        self._written = -1  # labelled frames in labelled.extxyz

    # -- making and restoring the committee ---------------------------------------------------------
    def start(self, atoms: Atoms, members: Sequence[torch.nn.Module], manifest: dict[str, Any]) -> None:
        """A new run from ``atoms``: label it (the first reference call), then make the committee from ``members``
        (one model: ``learn.members`` perturbed copies fitted on that frame; an ensemble's members: fitted on it)."""
        frame = self._reference(atoms, 0, 0, 0, "start", lambda frame: self._spread_and_error(members, frame))
        t = time.perf_counter()
        one_model = len(members) == 1
        self.committee, loss = start_committee(members, manifest, frame, self.learn, self.device, self.dtype)
        self.committee.version = 0
        self.committee.save(self.out / committee_file(0))
        fit_s = time.perf_counter() - t
        self.times["finetune_s"] += fit_s
        if not one_model:  # an ensemble's own spread at the frame: a calibration pair like any later label
            self.threshold.add(frame.info["uncertainty"], frame.info["force_mae"])
        self._keep(frame, fit_s, loss)
        self.last_label = [0] * self.n_systems
        log.info("on-the-fly: start frame labelled (force MAE %.3f eV/Å before learning); committee of %d members",
                 frame.info["force_mae"], len(self.committee.members))

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a commit (``learning/state.json``): labelled frames, committee, threshold, counters."""
        n = state["labelled"]
        found = _read_frames(self.out / REFERENCE_FRAMES)
        by_index: dict[int, list[Atoms]] = {}
        for frame in found:
            by_index.setdefault(int(frame.info["index"]), []).append(frame)
        missing = [i for i in range(n) if i not in by_index]
        if missing:
            raise ValueError(f"cannot resume the learning run in {self.out}: {REFERENCE_FRAMES} lacks labelled frames "
                             f"{missing[:5]}; start again with --overwrite")
        self.frames = [by_index[i][-1] for i in range(n)]
        self.cache = {i: frames for i, frames in by_index.items() if i >= n}
        self.committee = Committee.load(self.out / committee_file(state["version"]), state["optim"], state["version"],
                                        self.device, self.dtype)
        self.threshold = Threshold.from_state(state["threshold"])
        self.last_label = list(state["last_label"])
        self.audit_gap = list(state.get("audit_gap", [self.learn.audit] * self.n_systems))
        self.label_gap = list(state.get("label_gap", [self.learn.min_gap] * self.n_systems))
        self.step = self.committed_step = state["step"]
        self.times = dict(state["times"])
        self.start_kinetic = list(state.get("start_kinetic", []))
        self.start_positions = list(state.get("start_positions", []))
        self.pending = {int(k): v for k, v in state.get("pending_anchor", {}).items()}
        self.elapsed = state["wall_time_s"]
        self.budget_step, self.unlabelled_above = state["budget_step"], state["unlabelled_above"]
        _cut_csv(self.out / CALLS, n)
        self._write_labelled()

    def _spread_and_error(self, members: Sequence[torch.nn.Module], frame: Atoms) -> tuple[float, float]:
        """(force uncertainty, force MAE against ``frame``) in eV/Å of ``members`` as they came (one model: no
        uncertainty, NaN)."""
        import copy

        from mlcalc.calculator import MLCalc
        from mlcalc.model import create_model

        copies = [copy.deepcopy(m) for m in members]
        model = copies[0] if len(copies) == 1 else create_model("ensemble", members=copies)
        atoms = Atoms(frame.numbers, positions=frame.positions, cell=frame.cell, pbc=frame.pbc)
        atoms.calc = MLCalc(model, dtype=self.dtype, device=self.device)
        error = float(np.mean(np.abs(atoms.get_forces() - frame.get_forces())))
        return float(atoms.calc.results.get("uncertainty", np.nan)), error

    # -- every step ---------------------------------------------------------------------------------
    def visit(self, b: int, step: int, atoms: Atoms) -> Atoms | None:
        """The state after ``step`` of the stepper's system ``b`` (its calculator results hold the committee's
        ``uncertainty``): labelled and learned if due; returns the state to record (recomputed after an
        update), or None when the budget is spent and ``on_budget`` is ``stop`` (the system's run ends here)."""
        self.step = step
        if step == 0:
            return atoms  # the start frame was labelled when the committee was made
        k = self.systems[b]
        if k in self.pending:
            atoms = self._anchor_late(b, step, atoms)
        uncertainty = float(atoms.calc.results.get("uncertainty", np.nan))
        since = step - self.last_label[k]
        calibrating = self.threshold.calibrating
        above = self.threshold.exceeded(uncertainty)
        due = since >= self.learn.calibration_interval if calibrating else above and since >= self.label_gap[k]
        audit = not calibrating and 0 < self.audit_gap[k] <= since
        if len(self.frames) >= self.learn.max_calls:  # audits end with the budget; a step above the threshold counts
            self.unlabelled_above += int(above)
            if not due:
                return atoms
            if self.budget_step is None:
                self.budget_step = step
                log.warning("on-the-fly: the budget of %d reference calls is spent; step %d (system %d, uncertainty "
                            "%.3g eV/Å) is not labelled (on_budget: %s)", self.learn.max_calls, step, k, uncertainty,
                            self.learn.on_budget)
            return None if self.learn.on_budget == "stop" else atoms
        if not (due or audit):
            return atoms
        reason = "calibration" if calibrating else "threshold" if due else "audit"
        self._label_and_learn(b, step, atoms, uncertainty, reason)
        right = self.frames[-1].info["force_mae"] <= self.learn.target_error
        if reason == "audit":  # a confident committee that was right is checked half as often from now on
            self.audit_gap[k] = 2 * self.audit_gap[k] if right else self.learn.audit
        elif reason == "threshold":  # a false alarm spaces the next threshold label further out
            self.label_gap[k] = self._next_label_gap(k) if right else self.learn.min_gap
        return self.stepper.snapshot(b)

    def _next_label_gap(self, k: int) -> int:
        """System ``k``'s gap after a false alarm: ``gap_growth`` times the last, at most ``audit`` steps (audits on)."""
        gap = int(round(self.label_gap[k] * self.learn.gap_growth))
        return max(self.learn.min_gap, min(gap, self.learn.audit) if self.learn.audit else gap)

    def _label_and_learn(self, b: int, step: int, atoms: Atoms, uncertainty: float, reason: str) -> None:
        k = self.systems[b]
        forces = np.array(atoms.calc.results["forces"])
        frame = self._reference(atoms, len(self.frames), step, k, reason,
                                lambda frame: (uncertainty, float(np.mean(np.abs(forces - frame.get_forces())))))
        t = time.perf_counter()
        held = {j: self.stepper.snapshot(j) for j, folder in enumerate(self.folders) if folder.running}
        before = {j: (float(atoms.get_potential_energy()), float(atoms.get_total_energy())) for j, atoms in held.items()}
        self.times["model_s"] += time.perf_counter() - t
        t = time.perf_counter()
        s = self.learn
        loss = self.committee.fit(self.frames + [frame], s.update_steps, s.lr, s.batch_size, s.seed,
                                  max_steps=s.max_update_steps, fit_error=s.target_error)
        self.committee.save(self.out / committee_file(self.committee.version))
        fit_s = time.perf_counter() - t
        self.times["finetune_s"] += fit_s
        t = time.perf_counter()
        self.stepper.refresh()
        start = self._start_energies({self.systems[j] for j in before}) if self._anchoring() else None
        for j, (energy, total) in before.items():
            change = float(self.stepper.snapshot(j).get_potential_energy()) - energy
            system = self.systems[j]
            target = None if start is None else start[system] + self.start_kinetic[system]
            self.folders[j].model_update_eV += self._settle(j, change, total, target)
        self.times["model_s"] += time.perf_counter() - t
        self.folders[b].labelled_since_row += 1
        self.last_label[k] = step
        self.threshold.add(frame.info["uncertainty"], frame.info["force_mae"])
        self._keep(frame, fit_s, loss)

    def _anchoring(self) -> bool:
        return self.learn.update_energy == "anchor" and self.md.ensemble == "nve"

    def _start_energies(self, systems: set[int]) -> dict[int, float]:
        """The committee's potential energy (eV) at each of ``systems``' start geometry: one evaluation when
        the replicas all started at one geometry (the first labelled frame's), else one per system."""
        from mlcalc.calculator import MLCalc

        start = self.frames[0]
        calc = MLCalc(self.committee.ensemble, dtype=self.dtype, device=self.device)

        def energy(positions) -> float:
            atoms = Atoms(start.numbers, positions=positions, cell=start.cell, pbc=start.pbc)
            atoms.calc = calc
            return float(atoms.get_potential_energy())

        if not self.start_positions:
            shared = energy(start.positions)
            return {k: shared for k in systems}
        return {k: energy(self.start_positions[k]) for k in systems}

    def _settle(self, b: int, change: float, total: float, target: float | None) -> float:
        """After an update that changed system ``b``'s potential energy by ``change`` (eV; its total was ``total``
        before), in NVE: with ``target`` (update_energy anchor: the start state's total on the new model, eV)
        scale its momenta so that its total becomes ``target``; else (conserve) so that it stays. Returns the
        jump of its total energy (eV). When the kinetic energy cannot pay for the anchor, the total is kept
        (conserve) if it can, and the anchor is paid at the first later step where it can (:meth:`visit`); with
        ``jump``, a thermostat, or nothing that can pay, the momenta stay and the total jumps by ``change``."""
        if self.learn.update_energy == "jump" or self.md.ensemble != "nve":
            return change
        k = self.systems[b]
        if target is not None:
            if self._rescale(b, change - (target - total)):
                self.pending.pop(k, None)
                return target - total
            self.pending[k] = target
            log.warning("on-the-fly: the update moved system %d's total energy %.3g eV off its anchor, more than its "
                        "kinetic energy can give now; anchored at the first step it can", k, total + change - target)
        if self._rescale(b, change):
            return 0.0
        log.warning("on-the-fly: a model update raised the potential energy of system %d by %.3g eV, more than its "
                    "kinetic energy can give: its total energy jumps", k, change)
        return change

    def _rescale(self, b: int, excess: float) -> bool:
        """Scale system ``b``'s momenta so that its kinetic energy falls by ``excess`` (eV; negative: rises);
        False (momenta unchanged) when its kinetic energy is not larger than ``excess``."""
        kinetic = float(self.stepper.snapshot(b).get_kinetic_energy())
        if not kinetic - excess > 0:
            return False
        if excess != 0:
            self.stepper.scale_momenta(b, float(np.sqrt((kinetic - excess) / kinetic)))
        return True

    def _anchor_late(self, b: int, step: int, atoms: Atoms) -> Atoms:
        """System ``b``'s state after ``step`` on its pending anchor when its kinetic energy can now pay for it."""
        k = self.systems[b]
        excess = float(atoms.get_total_energy()) - self.pending[k]
        if not self._rescale(b, excess):
            return atoms
        del self.pending[k]
        self.folders[b].model_update_eV -= excess
        log.info("on-the-fly: system %d anchored at step %d (total energy moved by %.3g eV)", k, step, -excess)
        return self.stepper.snapshot(b)

    def _reference(self, atoms: Atoms, index: int, step: int, system: int, reason: str,
                   describe: Callable[[Atoms], tuple[float, float]]) -> Atoms:
        """Label number ``index``, of ``atoms`` at ``step`` of ``system``: found again in the cache of an earlier
        process, or a reference call. A new frame's info gets ``describe(frame)``, the committee's (uncertainty,
        force MAE) there before learning it, and the frame is appended to reference.traj at once."""
        for frame in self.cache.pop(index, []):
            if np.array_equal(frame.numbers, atoms.numbers) and np.array_equal(frame.positions, atoms.positions):
                log.info("on-the-fly: label %d found in %s (made before the resume)", index, REFERENCE_FRAMES)
                return frame
        frame, seconds = label(atoms, self.reference())
        uncertainty, error = describe(frame)
        frame.info.update(index=index, step=step, system=system, reason=reason, uncertainty=uncertainty,
                          force_mae=error, reference_s=seconds)
        with Trajectory(self.out / REFERENCE_FRAMES, "a") as traj:
            traj.write(frame)
        return frame

    def _keep(self, frame: Atoms, fit_s: float, loss: float) -> None:
        """Add ``frame`` (learned) to the labelled set and its row to learning.csv."""
        self.frames.append(frame)
        info = frame.info
        step, system, reason, uncertainty, error = (info[k] for k in ("step", "system", "reason", "uncertainty",
                                                                     "force_mae"))
        self.times["reference_s"] += info["reference_s"]
        threshold = self.threshold.value
        row = [len(self.frames), step, step * self.md.timestep / 1000, system, reason, uncertainty, error,
               np.nan if threshold is None else threshold, info["reference_s"], fit_s, loss]
        path = self.out / CALLS
        if not path.exists():
            path.write_text(",".join(CALL_COLUMNS) + "\n")
        with path.open("a") as fh:
            fh.write(",".join(f"{x:.10g}" if isinstance(x, float) else str(x) for x in row) + "\n")
        if reason in ("threshold", "calibration", "audit"):
            log.info("on-the-fly: step %d system %d labelled (%s; uncertainty %.3g, force MAE %.3g eV/Å); members "
                     "fitted %s steps; threshold %s", step, system, reason, uncertainty, error,
                     "/".join(map(str, self.committee.last_steps)) or "no", self.threshold.describe())

    # -- commits --------------------------------------------------------------------------------------
    def commit_due(self) -> bool:
        """Whether the step the folders recorded last was a saved frame not yet committed."""
        step = self.step
        return step != self.committed_step and (step % self.md.interval == 0 or step == self.md.steps)

    def commit(self) -> None:
        """Write the learner's state and each running system's checkpoint of :attr:`step` as one file."""
        running = {k: folder for k, folder in zip(self.systems, self.folders) if folder.running}
        systems = [{"running": k in running,
                    "checkpoint": json.loads((running[k].out / CHECKPOINT).read_text()) if k in running else None}
                   for k in range(self.n_systems)]
        state = {"step": self.step, "labelled": len(self.frames), "version": self.committee.version,
                 "threshold": self.threshold.state(), "last_label": self.last_label,
                 "audit_gap": self.audit_gap, "label_gap": self.label_gap, "times": self.times,
                 "wall_time_s": self.wall_time(), "budget_step": self.budget_step,
                 "unlabelled_above": self.unlabelled_above, "start_kinetic": self.start_kinetic,
                 "start_positions": self.start_positions,
                 "pending_anchor": {str(k): v for k, v in self.pending.items()},
                 "learn": self.learn.to_dict(), "md": self.md.to_dict(),
                 "n_systems": self.n_systems, "parent": self.parent, "optim": self.committee.optim,
                 "systems": systems}
        _write_json(self.out / STATE, state)
        self._write_labelled()
        self.committed_step = self.step
        for path in (self.out / committee_file(0)).parent.glob("committee-v*.mlc"):
            if int(path.stem.rpartition("-v")[2]) < self.committee.version:
                path.unlink(missing_ok=True)

    def wall_time(self) -> float:
        return self.elapsed + time.perf_counter() - self.t0

    def _write_labelled(self) -> None:
        """labelled.extxyz: the labelled frames with their info but the reference call's wall time (when they changed)."""
        if self._written == len(self.frames):
            return
        path = self.out / LABELLED
        tmp = path.with_name(path.name + ".tmp")
        frames = []
        for frame in self.frames:
            copy = frame.copy()
            copy.calc = frame.calc
            copy.info = {k: v for k, v in frame.info.items() if k != "reference_s"}
            frames.append(copy)
        write(tmp, frames, format="extxyz")
        os.replace(tmp, path)
        self._written = len(frames)


def _read_frames(path: Path) -> list[Atoms]:
    """The readable frames of a trajectory (a frame cut short by a kill ends the list)."""
    frames: list[Atoms] = []
    if not path.exists():
        return frames
    try:
        with Trajectory(path) as traj:
            for k in range(len(traj)):
                frames.append(traj[k])
    except Exception as err:  # the last frame written when the process was killed
        log.warning("%s ends in an unreadable frame (%s); the frames before it are kept", path, err)
    return frames


def _cut_csv(path: Path, rows: int) -> None:
    """Keep the header and the first ``rows`` rows of ``path``."""
    if path.exists():
        lines = path.read_text().splitlines()
        path.write_text("\n".join(lines[:rows + 1]) + "\n")


def _write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, path)
