"""An MD run folder's frames as arrays: times, positions, velocities and masses, for the stability metrics."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io.trajectory import Trajectory

from mlcalc.md.energy_log import read_energy_log
from mlcalc.md.files import LOG, TRAJECTORY

__all__ = ["RunArrays", "read_run"]


@dataclass
class RunArrays:
    """One run's saved frames: ``times_ps`` [T], ``positions`` [T, N, 3] Å, ``velocities`` [T, N, 3]
    Å per ASE time unit (ASE's ``get_velocities``), ``masses`` [N] amu; ``first`` is the first frame."""

    times_ps: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    masses: np.ndarray
    first: Atoms

    def uniform(self) -> "RunArrays":
        """The leading frames evenly spaced in time (drops a run's extra last frame off the ``interval`` grid)."""
        steps = np.diff(self.times_ps)
        if not len(steps):
            return self
        off = np.flatnonzero(~np.isclose(steps, steps[0], rtol=1e-6, atol=1e-9))
        n = int(off[0]) + 1 if len(off) else len(self.times_ps)
        return RunArrays(self.times_ps[:n], self.positions[:n], self.velocities[:n], self.masses, self.first)


def read_run(run_dir: str | os.PathLike) -> RunArrays:
    """The frames of the run folder ``run_dir`` (trajectory.traj, times from energies.csv: one log row per frame)."""
    out = Path(run_dir)
    if not (out / TRAJECTORY).exists():
        raise FileNotFoundError(f"no MD run in {out} (missing {TRAJECTORY})")
    with Trajectory(out / TRAJECTORY) as traj:
        frames = list(traj)
    if not frames:
        raise ValueError(f"the trajectory in {out} has no frames")
    times = read_energy_log(out / LOG)["time_ps"]
    n = min(len(frames), len(times))
    frames = frames[:n]
    return RunArrays(times_ps=np.asarray(times[:n], dtype=np.float64),
                     positions=np.stack([f.positions for f in frames]),
                     velocities=np.stack([f.get_velocities() for f in frames]),
                     masses=frames[0].get_masses(), first=frames[0])
