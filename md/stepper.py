"""Steppers: what advances MD systems by one time step, apart from any files.

A :class:`Stepper` holds ``n_systems`` systems and moves all of them one time step per
:meth:`~Stepper.step`; :meth:`~Stepper.snapshot` gives system ``k``'s state as Atoms
(positions, momenta, cell; energy and forces as calculator results) for a run folder or
any other reader. :class:`ASEStepper` is one system over ASE's integrators; a batched
stepper (many systems in one model call per step) implements the same protocol.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from ase import Atoms, units
from ase.md.langevin import Langevin
from ase.md.md import MolecularDynamics
from ase.md.verlet import VelocityVerlet

from mlcalc.md_settings import MDSettings

__all__ = ["Stepper", "ASEStepper", "StepError", "ase_integrator"]


class StepError(RuntimeError):
    """System ``system`` could not be stepped (its calculator refused the structure): ``reason`` says why.

    ``failures``: every ``(system, reason)`` of this step (a batched stepper can lose several at once).
    """

    def __init__(self, system: int, reason: str):
        super().__init__(f"system {system}: {reason}")
        self.system = system
        self.reason = reason
        self.failures: list[tuple[int, str]] = [(system, reason)]


class Stepper(Protocol):
    """Advances ``n_systems`` MD systems together, one time step per :meth:`step`.

    Energies and forces of the current state are ready before the first step and after
    each one. :meth:`step` raises :class:`StepError` for a system it cannot advance
    (the others have been advanced). System ``k``'s random state (JSON-ready; None without
    noise) is what its checkpoint stores so that a resumed run draws the same noise.
    :meth:`release` tells the stepper that system ``k``'s run has ended (a batched
    stepper stops computing it).
    """

    n_systems: int

    def step(self) -> None: ...

    def snapshot(self, k: int) -> Atoms: ...

    def random_state(self, k: int = 0) -> Any: ...

    def set_random_state(self, state: Any, k: int = 0) -> None: ...

    def release(self, k: int) -> None: ...


def ase_integrator(atoms: Atoms, settings: MDSettings, rng: np.random.Generator) -> MolecularDynamics:
    """The ASE integrator for ``settings.ensemble``: velocity Verlet (NVE) or Langevin (drawing from ``rng``)."""
    dt = settings.timestep * units.fs
    if settings.ensemble == "nve":
        return VelocityVerlet(atoms, dt)
    return Langevin(atoms, dt, temperature_K=settings.temperature, friction=settings.friction / units.fs,
                    fixcm=False, rng=rng)


class ASEStepper:
    """One system (``atoms`` with its calculator and momenta) stepped by an ASE integrator in place.

    ``rng``: the Langevin noise (default: ``np.random.default_rng([settings.seed, 1])``).
    The forces of the starting state are computed here.
    """

    n_systems = 1

    def __init__(self, atoms: Atoms, settings: MDSettings, rng: np.random.Generator | None = None):
        self.atoms = atoms
        self.settings = settings
        self.rng = rng if rng is not None else np.random.default_rng([settings.seed, 1])
        self.integrator = ase_integrator(atoms, settings, self.rng)
        atoms.get_forces()

    def step(self) -> None:
        """Advance one time step; a calculator's ValueError or FloatingPointError becomes a :class:`StepError`."""
        try:
            self.integrator.step()
        except (ValueError, FloatingPointError) as err:
            raise StepError(0, f"the calculator refused the structure: {err}") from None

    def snapshot(self, k: int = 0) -> Atoms:
        """The live Atoms (not a copy): read it before the next step."""
        if k != 0:
            raise IndexError(f"an ASEStepper holds one system, asked for system {k}")
        return self.atoms

    def random_state(self, k: int = 0) -> dict | None:
        """The Langevin generator's state (None for NVE)."""
        return self.rng.bit_generator.state if self.settings.ensemble == "langevin" else None

    def set_random_state(self, state: dict | None, k: int = 0) -> None:
        if state is not None:
            self.rng.bit_generator.state = state

    def release(self, k: int = 0) -> None:
        """Nothing to free: the run of the one system has ended."""
