"""NVE molecular dynamics (ASE velocity Verlet) with an energy log and drift.

A minimal driver: the full one (Langevin, monitors, resume, CLI) grows on top of it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from ase import Atoms, units
from ase.io.trajectory import Trajectory
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation
from ase.md.verlet import VelocityVerlet

__all__ = ["NVEResult", "run_nve", "energy_drift"]


@dataclass
class NVEResult:
    """Energies logged along an NVE run: ``time`` (ps), ``potential``, ``kinetic``, ``total`` (eV)."""

    time: np.ndarray
    potential: np.ndarray
    kinetic: np.ndarray
    total: np.ndarray
    n_atoms: int

    @property
    def drift(self) -> float:
        """Total-energy drift in meV/atom/ps (slope of a straight-line fit)."""
        return energy_drift(self.time, self.total, self.n_atoms)

    @property
    def kinetic_std(self) -> float:
        """Standard deviation of the kinetic energy, meV/atom (the drift pass criterion's yardstick)."""
        return float(np.std(self.kinetic) * 1000 / self.n_atoms)


def energy_drift(time_ps: np.ndarray, total_eV: np.ndarray, n_atoms: int) -> float:
    """Slope of total energy vs time in meV/atom/ps (float64 least squares)."""
    t = np.asarray(time_ps, dtype=np.float64)
    e = np.asarray(total_eV, dtype=np.float64)
    if len(t) < 2:
        raise ValueError("need at least two logged energies to measure a drift")
    slope = np.polyfit(t, e, 1)[0]
    return float(slope * 1000 / n_atoms)


def run_nve(
    atoms: Atoms,
    steps: int,
    timestep: float = 0.5,
    temperature: float = 300.0,
    seed: int = 0,
    log_interval: int = 10,
    trajectory: str | os.PathLike | None = None,
) -> NVEResult:
    """Run ``steps`` velocity-Verlet steps of ``timestep`` fs on ``atoms`` (its calculator attached).

    Velocities start Maxwell-Boltzmann at ``temperature`` K (seeded) with zero total
    linear and angular momentum. Energies are logged (and frames written to the
    ``trajectory`` .traj file) every ``log_interval`` steps.
    """
    if atoms.calc is None:
        raise ValueError("attach a calculator to the Atoms before running MD")
    if steps < 1 or log_interval < 1:
        raise ValueError("steps and log_interval must be at least 1")
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=np.random.default_rng(seed))
    Stationary(atoms)
    ZeroRotation(atoms)
    dyn = VelocityVerlet(atoms, timestep * units.fs)
    rows: list[tuple[float, float, float]] = []

    def record():
        rows.append((dyn.get_time() / (1000 * units.fs), atoms.get_potential_energy(), atoms.get_kinetic_energy()))

    dyn.attach(record, interval=log_interval)
    traj = Trajectory(trajectory, "w", atoms) if trajectory is not None else None
    if traj is not None:
        dyn.attach(traj.write, interval=log_interval)
    try:
        dyn.run(steps)
    finally:
        if traj is not None:
            traj.close()
    t, pot, kin = (np.array(c) for c in zip(*rows))
    return NVEResult(t, pot, kin, pot + kin, len(atoms))
