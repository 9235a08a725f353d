"""The MD driver: an ASE integrator with trajectory, energy log, blow-up monitor, progress and resume.

One run lives in one folder::

    trajectory.traj     frames (positions, momenta, energy, forces) every ``interval`` steps
    trajectory.extxyz   the same frames, when asked for
    energies.csv        step, time (ps), potential/kinetic/total energy (eV), temperature (K)
    checkpoint.json     the last saved step, the Langevin random state, the settings
    summary.json        status, drift, wall time (written at the end)
    blowup.extxyz       the offending structure, if the run blew up

A killed run continues with ``resume=True`` from the last saved frame and ends with the
same frames as an uninterrupted run (bit for bit for NVE; Langevin restores its random
state too).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.io import write
from ase.io.trajectory import Trajectory
from ase.md.langevin import Langevin
from ase.md.verlet import VelocityVerlet
from tqdm.auto import tqdm

from .energy_log import EnergyLog
from .files import BLOWUP, CHECKPOINT, EXTXYZ, LOG, SUMMARY, TRAJECTORY
from .monitors import BlowUpError, BlowUpMonitor
from .result import MDResult, load_md_result
from mlcalc.md_settings import MDSettings
from .velocities import initialise_velocities

__all__ = ["run_md"]

log = logging.getLogger(__name__)


def run_md(atoms: Atoms, settings: MDSettings, out_dir: str | os.PathLike, resume: bool = False,
           progress: bool = False, label: str | None = None) -> MDResult:
    """Run MD of ``atoms`` (its calculator attached) into ``out_dir``; see the module doc.

    ``resume``: continue the run saved in ``out_dir`` (a finished run is returned as is;
    ``settings.steps`` may be raised to extend it). A blow-up ends the run early with
    ``status == "blew_up"`` and a message; frames written until then stay readable.
    """
    if atoms.calc is None:
        raise ValueError("attach a calculator to the Atoms before running MD")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = _read_checkpoint(out, settings) if resume else None
    if state is not None and state["status"] == "completed" and state["step"] >= settings.steps:
        return load_md_result(out)
    if resume and state is None:
        log.warning("no checkpoint in %s: the run starts from the beginning", out)

    rng = np.random.default_rng([settings.seed, 1])
    if state is None:
        start, elapsed, first = 0, 0.0, atoms.copy()
        initialise_velocities(atoms, settings.temperature, settings.seed)
    else:
        start, elapsed = state["step"], state["wall_time_s"]
        first = _restore(atoms, out / TRAJECTORY, state["step"] // settings.interval + 1 + state["extra_frames"])
        if state["rng"] is not None:
            rng.bit_generator.state = state["rng"]
    integrator = _integrator(atoms, settings, rng)
    monitor = BlowUpMonitor(settings.max_force, settings.bond_stretch)
    monitor.start(first)

    traj = Trajectory(out / TRAJECTORY, "a" if state else "w")
    energies = EnergyLog(out / LOG, keep_until=start if state else None)
    bar = tqdm(total=settings.steps, initial=start, desc=label or atoms.get_chemical_formula(), unit="step",
               disable=not progress, mininterval=1.0, smoothing=0.05)
    extra = state["extra_frames"] if state else 0
    t0 = time.perf_counter()

    def save(step: int, status: str) -> None:
        nonlocal extra
        traj.write(atoms)
        epot, ekin, temperature = energies.record(step, step * settings.timestep, atoms)
        if step % settings.interval:
            extra += 1
        _write_json(out / CHECKPOINT, {
            "step": step, "status": status, "extra_frames": extra, "settings": settings.to_dict(),
            "rng": rng.bit_generator.state if settings.ensemble == "langevin" else None,
            "wall_time_s": elapsed + time.perf_counter() - t0})
        bar.set_postfix_str(f"T={temperature:.0f} K, Etot={epot + ekin:.4f} eV", refresh=False)

    status, message = "running", ""
    try:
        if state is None:
            atoms.get_forces()
            monitor.check(atoms, 0)
            save(0, status)
        for step in range(start + 1, settings.steps + 1):
            try:
                integrator.step()
            except (ValueError, FloatingPointError) as err:
                raise BlowUpError(step, f"the calculator refused the structure: {err}") from None
            monitor.check(atoms, step)
            bar.update()
            if step % settings.interval == 0 or step == settings.steps:
                save(step, "completed" if step == settings.steps else status)
        status = "completed"
    except BlowUpError as err:
        status, message = "blew_up", str(err)
        log.warning("%s (frames so far are in %s)", message, out / TRAJECTORY)
        _write_blowup(atoms, out / BLOWUP)
    finally:
        bar.close()
        traj.close()
        energies.close()
        if status != "running":
            checkpoint = json.loads((out / CHECKPOINT).read_text())
            checkpoint.update(status=status, message=message, wall_time_s=elapsed + time.perf_counter() - t0)
            _write_json(out / CHECKPOINT, checkpoint)
        if settings.extxyz:
            _write_extxyz(out)
    result = load_md_result(out, n_atoms=len(atoms))
    _write_json(out / SUMMARY, result.summary())
    return result


def _integrator(atoms: Atoms, settings: MDSettings, rng: np.random.Generator):
    dt = settings.timestep * units.fs
    if settings.ensemble == "nve":
        return VelocityVerlet(atoms, dt)
    return Langevin(atoms, dt, temperature_K=settings.temperature, friction=settings.friction / units.fs,
                    fixcm=False, rng=rng)


def _read_checkpoint(out: Path, settings: MDSettings) -> dict | None:
    path = out / CHECKPOINT
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    saved = MDSettings(**state["settings"])
    changed = settings.differences(saved)
    if changed:
        raise ValueError(f"cannot resume the run in {out}: settings changed ({', '.join(changed)}); "
                         "use the original settings or a new output folder")
    if state["status"] == "blew_up":
        raise ValueError(f"the run in {out} blew up ({state.get('message', '')}); start a new run instead")
    if settings.steps < state["step"]:
        raise ValueError(f"the run in {out} is already at step {state['step']}, beyond steps={settings.steps}")
    return state


def _restore(atoms: Atoms, path: Path, n_frames: int) -> Atoms:
    """Cut ``path`` to its first ``n_frames`` frames, load the last one into ``atoms``; returns the first."""
    frames = []
    try:
        with Trajectory(path) as reader:
            for k in range(min(n_frames, len(reader))):
                frames.append(reader[k])
    except Exception as err:  # a frame cut short by the kill: keep what reads
        log.warning("trajectory %s ends in an unreadable frame (%s)", path, err)
    if len(frames) < n_frames:
        raise ValueError(f"cannot resume: {path} has {len(frames)} readable frames, the checkpoint needs {n_frames}")
    last = frames[-1]
    if list(last.numbers) != list(atoms.numbers):
        raise ValueError(f"cannot resume: the saved run is {last.get_chemical_formula()}, "
                         f"the given structure is {atoms.get_chemical_formula()}")
    tmp = path.with_suffix(".tmp")
    with Trajectory(tmp, "w") as writer:
        for frame in frames:
            writer.write(frame)
    os.replace(tmp, path)
    atoms.set_positions(last.positions)
    atoms.set_momenta(last.get_momenta(), apply_constraint=False)
    atoms.set_cell(last.cell)
    return frames[0]


def _write_json(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, path)


def _write_blowup(atoms: Atoms, path: Path) -> None:
    snapshot = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    write(path, snapshot, format="extxyz")


def _write_extxyz(out: Path) -> None:
    with Trajectory(out / TRAJECTORY) as frames:
        write(out / EXTXYZ, list(frames), format="extxyz")
