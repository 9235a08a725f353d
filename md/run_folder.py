"""The folder of one MD run: everything written about a system as it is stepped, and read back to resume.

::

    trajectory.traj     frames (positions, momenta, energy, forces) every ``interval`` steps
    trajectory.extxyz   the same frames, when asked for
    energies.csv        step, time (ps), potential/kinetic/total energy (eV), temperature (K),
                        and the force uncertainty (eV/Å) when the calculator is an ensemble;
                        with ``uncertainty_action: flag``, the steps above ``max_uncertainty``
                        since the previous row (``flagged_steps``); a run that learns on the fly:
                        the reference calls since the previous row (``labelled``) and the energy
                        jumps of model updates so far (``model_update_eV``)
    checkpoint.json     the last saved step, the stepper's integrator state (Langevin generator,
                        thermostat/barostat variables; key "rng" in folders written before), the settings,
                        the first step above ``max_uncertainty`` (flag mode), the learning columns' state
    summary.json        status, drift, wall time (written at the end)
    blowup.extxyz       the offending structure, if the run blew up
    .mlcalc.lock        owner (pid, host) while a process writes here (see :mod:`mlcalc.locks`)

A :class:`RunFolder` is fed the system's state after every step (:meth:`RunFolder.record`)
by whatever steps it, checks it with the blow-up monitors and saves a frame when one is
due. One folder per system: a blow-up stops only its own run. A killed run continues
from its last saved frame (:meth:`RunFolder.open` with ``resume=True``) and ends with the
same frames as an uninterrupted one. A folder has one writer at a time (a lock), and a
new run never silently replaces an old one (``overwrite``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from ase import Atoms
from ase.io import write
from ase.io.trajectory import Trajectory
from tqdm.auto import tqdm

from mlcalc.errors import OutputExistsError
from mlcalc.locks import FolderLock
from .settings import MDSettings

from .energy_log import EnergyLog
from .files import BLOWUP, CHECKPOINT, EXTXYZ, LOG, RUN_FILES, SUMMARY, TRAJECTORY
from .monitors import BlowUpError, BlowUpMonitor
from .result import MDResult, load_md_result

__all__ = ["RunFolder"]

log = logging.getLogger(__name__)

#: seconds between checkpoint.json replacements during a run (every saved frame before 2026-12-02)
CHECKPOINT_SECONDS = 2.0


class RunFolder:
    """The run folder ``out_dir`` of one system run with ``settings``.

    Use: :meth:`open` (returns the step to start from), :meth:`record` after every step
    from there on (and at step 0 of a new run), :meth:`close` in the end (also after an
    exception); :attr:`status` is "running", "completed", "blew_up" or "stopped" (:meth:`end`).
    ``checkpoint_seconds``: the least time between two checkpoint.json replacements (0: at every saved
    frame, as a run that learns on the fly needs, so that its folders and its learner commit together).
    """

    def __init__(self, out_dir: str | os.PathLike, settings: MDSettings, label: str = "", progress: bool = False,
                 checkpoint_seconds: float = CHECKPOINT_SECONDS):
        self.out = Path(out_dir)
        self.settings = settings
        self.label, self.progress = label, progress
        self.status, self.message = "running", ""
        self.monitor = BlowUpMonitor(settings.max_force, settings.bond_stretch, settings.max_uncertainty,
                                     settings.uncertainty_action)
        #: flag mode: steps above the uncertainty limit since the last log row, and the first such step
        self.flagging = settings.max_uncertainty is not None and settings.uncertainty_action == "flag"
        self.flagged_since_row, self.first_flagged = 0, None
        self.integrator_state: Any = None  # of the checkpoint resumed from
        #: the checkpoint of the last saved frame, written at most every CHECKPOINT_SECONDS (replacing the
        #: file costs ~1-3 ms; a kill loses at most that much work: resume cuts the files back to the checkpoint)
        self._pending: dict | None = None
        self._checkpointed_at = -float("inf")
        self.checkpoint_seconds = checkpoint_seconds
        self.n_atoms = 0
        #: a run that learns on the fly (:meth:`open` with ``learning``): the reference calls on this system
        #: since the last log row, and the sum of the energy jumps (eV) that model updates caused here so far
        self.labelled_since_row, self.model_update_eV = 0, 0.0

    @property
    def running(self) -> bool:
        return self.status == "running"

    def open(self, atoms: Atoms, resume: bool = False, overwrite: bool = False,
             uncertainty: bool | None = None, learning: bool = False) -> int | None:
        """Get ready to record ``atoms``; returns the step to continue from (0: a new run).

        The folder is locked against a second writer until :meth:`close` (a live one raises
        :class:`~mlcalc.errors.FolderInUseError`; the lock of a killed run is taken over).
        ``resume``: continue the run saved here. Its files are cut back to the checkpoint and
        its last saved state (positions, momenta, cell) is loaded into ``atoms``. Returns None
        when the saved run is already complete (nothing is opened then). Without ``resume``,
        a run already in the folder raises :class:`~mlcalc.errors.OutputExistsError` unless
        ``overwrite`` (its files are deleted then). ``uncertainty``: whether the recorded states
        will carry a force uncertainty (default: whether ``atoms``' calculator gives one). ``learning``: the
        run learns on the fly (log columns ``labelled`` and ``model_update_eV``, fed through
        :attr:`labelled_since_row` and :attr:`model_update_eV`). A run that was :meth:`end`-ed resumes
        like an interrupted one.
        """
        self.lock = FolderLock(self.out, "run folder").acquire()
        try:
            saved = self._read_checkpoint() if resume else self._clear(overwrite)
            if saved is not None and saved["status"] == "completed" and saved["step"] >= self.settings.steps:
                self.lock.release()
                return None
            if resume and saved is None:
                log.warning("no checkpoint in %s: the run starts from the beginning", self.out)
            elif saved is not None and saved["step"] == 0 and saved["status"] == "running":
                saved = None  # checkpointed at its first frame only: the same run again from the start
            if uncertainty is None:
                uncertainty = "uncertainty" in getattr(atoms.calc, "implemented_properties", ())
            if self.settings.max_uncertainty is not None and not uncertainty:
                raise ValueError("max_uncertainty needs an ensemble model (a calculator that gives 'uncertainty'), "
                                 f"got {type(atoms.calc).__name__}; train one with mlcalc train CONFIG --seeds 5")
            first = atoms if saved is None else self._restore(atoms, saved)
            self._start(first, saved, uncertainty, learning)
        except BaseException:
            self.lock.release()
            raise
        self.n_atoms = len(atoms)
        return saved["step"] if saved else 0

    def record(self, step: int, atoms: Atoms, integrator_state: Any = None) -> None:
        """Check ``atoms`` (the state after ``step``) and save it when a frame is due.

        A blow-up ends the run (:attr:`status` "blew_up", the structure in blowup.extxyz).
        """
        try:
            self.monitor.check(atoms, step)
        except BlowUpError as err:
            self.stop(err, atoms)
            return
        if self.flagging and self.monitor.flagged(atoms):
            self.flagged_since_row += 1
            if self.first_flagged is None:
                self.first_flagged = step
                log.warning("%s: force uncertainty %.3g eV/Å above the limit %g eV/Å at step %d (flagged; the run "
                            "goes on)", self.label or self.out, atoms.calc.results["uncertainty"],
                            self.settings.max_uncertainty, step)
        if step:
            self.bar.update()
        if step % self.settings.interval == 0 or step == self.settings.steps:
            self._save(step, atoms, integrator_state)

    def end(self, message: str, step: int | None = None, atoms: Atoms | None = None, integrator_state: Any = None) -> None:
        """End the run on purpose before its last step (:attr:`status` "stopped"). ``atoms``: the state at ``step``
        (recorded already), saved as the last frame if it was not due (an extra frame); the last saved frame is
        where a resume continues."""
        if not self.running:
            return
        if atoms is not None and step % self.settings.interval and step != self.settings.steps:
            self._save(step, atoms, integrator_state)
        self.status, self.message = "stopped", message
        self.stopped_at = self._wall_time()
        log.warning("%s: %s", self.label or self.out, message)

    @staticmethod
    def rewind(out_dir: str | os.PathLike, checkpoint: dict) -> None:
        """Put the run in ``out_dir`` back to ``checkpoint`` (one it wrote earlier: a resume then cuts its files back
        to that step); the summary and blow-up structure of a later end are dropped."""
        out = Path(out_dir)
        _write_json(out / CHECKPOINT, checkpoint)
        for name in (SUMMARY, BLOWUP):
            (out / name).unlink(missing_ok=True)

    def stop(self, err: BlowUpError, atoms: Atoms) -> None:
        """End the run as blown up at ``err.step``; ``atoms`` (the bad structure) goes to blowup.extxyz."""
        self.status, self.message = "blew_up", str(err)
        self.stopped_at = self._wall_time()  # a batch steps on without it: its time ends here
        log.warning("%s (frames so far are in %s)", self.message, self.out / TRAJECTORY)
        snapshot = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        write(self.out / BLOWUP, snapshot, format="extxyz")

    def close(self) -> MDResult | None:
        """Close the files and unlock; an ended run gets its final checkpoint and summary.json, and is returned."""
        try:
            return self._close()
        finally:
            self.lock.release()

    def _close(self) -> MDResult | None:
        self.bar.close()
        self.traj.close()
        self.energies.close()
        self._write_checkpoint()  # a run closed on purpose resumes from its last frame
        if not self.running:
            self._update_checkpoint(status=self.status, message=self.message, wall_time_s=self._wall_time())
        if self.settings.extxyz:
            with Trajectory(self.out / TRAJECTORY) as frames:
                write(self.out / EXTXYZ, list(frames), format="extxyz")
        if self.running:
            return None
        result = load_md_result(self.out, n_atoms=self.n_atoms)
        _write_json(self.out / SUMMARY, result.summary())
        return result

    def _start(self, first: Atoms, saved: dict | None, uncertainty: bool = False, learning: bool = False) -> None:
        """Open the files (appending after a resume point) and find the bonds of ``first``."""
        start = saved["step"] if saved else 0
        self.elapsed = saved["wall_time_s"] if saved else 0.0
        self.extra = saved["extra_frames"] if saved else 0
        self.integrator_state = saved.get("integrator_state", saved.get("rng")) if saved else None
        self.first_flagged = saved.get("first_flagged_step") if saved else None
        self.model_update_eV = saved.get("model_update_eV", 0.0) if saved else 0.0
        self.monitor.start(first)
        self.traj = Trajectory(self.out / TRAJECTORY, "a" if saved else "w")
        self.energies = EnergyLog(self.out / LOG, keep_until=start if saved else None, uncertainty=uncertainty,
                                  flagged=self.flagging, learning=learning)
        self.bar = tqdm(total=self.settings.steps, initial=start, desc=self.label, unit="step",
                        disable=not self.progress, mininterval=1.0, smoothing=0.05)
        self.t0 = time.perf_counter()
        self.stopped_at: float | None = None

    def _save(self, step: int, atoms: Atoms, integrator_state: Any) -> None:
        """Write a frame, a log row and the checkpoint for ``step``."""
        self.traj.write(atoms)
        epot, ekin, temperature = self.energies.record(step, step * self.settings.timestep, atoms,
                                                       self.flagged_since_row, self.labelled_since_row,
                                                       self.model_update_eV)
        self.flagged_since_row = self.labelled_since_row = 0
        if step % self.settings.interval:
            self.extra += 1
        status = "completed" if step == self.settings.steps else "running"
        self._pending = {
            "step": step, "status": status, "extra_frames": self.extra, "settings": self.settings.to_dict(),
            "integrator_state": integrator_state, "wall_time_s": self._wall_time(), "first_flagged_step": self.first_flagged}
        if self.energies.learning:
            self._pending["model_update_eV"] = self.model_update_eV
        if status == "completed" or time.perf_counter() - self._checkpointed_at >= self.checkpoint_seconds:
            self._write_checkpoint()
        self.bar.set_postfix_str(f"T={temperature:.0f} K, Etot={epot + ekin:.4f} eV", refresh=False)
        if status == "completed":
            self.status = status

    def _write_checkpoint(self) -> None:
        """Replace checkpoint.json with the state of the last saved frame (if not written yet)."""
        if self._pending is not None:
            _write_json(self.out / CHECKPOINT, self._pending)
            self._pending = None
        self._checkpointed_at = time.perf_counter()

    def _wall_time(self) -> float:
        if self.stopped_at is not None:
            return self.stopped_at
        return self.elapsed + time.perf_counter() - self.t0

    def _update_checkpoint(self, **changes: Any) -> None:
        path = self.out / CHECKPOINT
        checkpoint = json.loads(path.read_text()) if path.exists() else {
            "step": 0, "extra_frames": 0, "settings": self.settings.to_dict(), "integrator_state": None}
        _write_json(path, {**checkpoint, **changes})

    def _clear(self, overwrite: bool) -> None:
        """Delete the files of a run already here if ``overwrite``; else refuse to replace them."""
        found = [self.out / name for name in RUN_FILES if (self.out / name).exists()]
        if found and not overwrite:
            raise OutputExistsError(f"{self.out} already holds an MD run ({_describe_run(self.out)}); continue it with "
                                    "--resume (resume=True) or replace it with --overwrite (overwrite=True)")
        for path in found:
            path.unlink()

    def _read_checkpoint(self) -> dict | None:
        """The saved checkpoint (None: none), refused if the settings changed or the run blew up."""
        path = self.out / CHECKPOINT
        if not path.exists():
            return None
        state = json.loads(path.read_text())
        # folders written before settings had an engine were run by the engine that resumes them
        changed = self.settings.differences(MDSettings(**{"engine": self.settings.engine, **state["settings"]}))
        if changed:
            raise ValueError(f"cannot resume the run in {self.out}: settings changed ({', '.join(changed)}); "
                             "use the original settings or a new output folder")
        if state["status"] == "blew_up":
            raise ValueError(f"the run in {self.out} blew up ({state.get('message', '')}); replace it with --overwrite "
                             "(overwrite=True) or use a new folder")
        if self.settings.steps < state["step"]:
            raise ValueError(f"the run in {self.out} is already at step {state['step']}, "
                             f"beyond steps={self.settings.steps}")
        return state

    def _restore(self, atoms: Atoms, saved: dict) -> Atoms:
        """Cut the trajectory back to the checkpoint, load its last frame into ``atoms``; returns its first."""
        n_frames = saved["step"] // self.settings.interval + 1 + saved["extra_frames"]
        frames = _read_frames(self.out / TRAJECTORY, n_frames)
        last = frames[-1]
        if list(last.numbers) != list(atoms.numbers):
            raise ValueError(f"cannot resume: the saved run is {last.get_chemical_formula()}, "
                             f"the given structure is {atoms.get_chemical_formula()}")
        tmp = (self.out / TRAJECTORY).with_suffix(".tmp")
        with Trajectory(tmp, "w") as writer:
            for frame in frames:
                writer.write(frame)
        os.replace(tmp, self.out / TRAJECTORY)
        atoms.set_positions(last.positions)
        atoms.set_momenta(last.get_momenta(), apply_constraint=False)
        atoms.set_cell(last.cell)
        return frames[0]


def _describe_run(out: Path) -> str:
    """'completed at step 200', 'stopped at step 40 of 200', ... from the checkpoint (or the files there)."""
    try:
        state = json.loads((out / CHECKPOINT).read_text())
        steps = state["settings"]["steps"]
    except (OSError, ValueError, KeyError, TypeError):
        return "files " + ", ".join(name for name in RUN_FILES if (out / name).exists())
    status = {"completed": "completed", "blew_up": "blew up", "running": "stopped",
              "stopped": "ended early"}.get(state.get("status"), "stopped")
    return f"{status} at step {state.get('step')} of {steps}"


def _read_frames(path: Path, n_frames: int) -> list[Atoms]:
    """The first ``n_frames`` frames of the trajectory at ``path`` (an error if fewer are readable)."""
    frames = []
    try:
        with Trajectory(path) as reader:
            for k in range(min(n_frames, len(reader))):
                frames.append(reader[k])
    except Exception as err:  # a frame cut short by the kill: keep what reads
        log.warning("trajectory %s ends in an unreadable frame (%s)", path, err)
    if len(frames) < n_frames:
        raise ValueError(f"cannot resume: {path} has {len(frames)} readable frames, the checkpoint needs {n_frames}")
    return frames


def _write_json(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, path)
