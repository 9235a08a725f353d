"""Steppers: what advances MD systems by one time step, apart from any files.

A :class:`Stepper` holds ``n_systems`` systems and moves all of them one time step per
:meth:`~Stepper.step`; :meth:`~Stepper.snapshot` gives system ``k``'s state as Atoms
(positions, momenta, cell; energy and forces as calculator results) for a run folder or
any other reader. :class:`ASEStepper` is one system over ASE's integrators; a batched
stepper (many systems in one model call per step) implements the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np
from ase import Atoms, units
from ase.md.langevin import Langevin
from ase.md.md import MolecularDynamics
from ase.md.nose_hoover_chain import IsotropicMTKNPT, NoseHooverChainNVT
from ase.md.verlet import VelocityVerlet

from .settings import CELL_ENSEMBLES, ENSEMBLES, MDSettings

__all__ = ["Stepper", "ASEStepper", "StepError", "ASEIntegrator", "ASE_INTEGRATORS", "ase_integrator",
           "check_ensemble"]


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
    (the others have been advanced). System ``k``'s integrator state (JSON-ready; None for NVE)
    is what its checkpoint stores besides positions, momenta and cell: the Langevin noise
    generator, or the Nose-Hoover thermostat (and barostat) variables, so that a resumed
    run continues exactly.
    :meth:`release` tells the stepper that system ``k``'s run has ended (a batched
    stepper stops computing it). :meth:`refresh` computes the energies and forces of the current
    state again, after the model changed in place (a run that learns on the fly); positions,
    momenta and integrator variables stay as they are. :meth:`scale_momenta` multiplies system
    ``k``'s momenta by a factor (NVE: its total energy kept across a model update).
    """

    n_systems: int

    def step(self) -> None: ...

    def snapshot(self, k: int) -> Atoms: ...

    def integrator_state(self, k: int = 0) -> Any: ...

    def set_integrator_state(self, state: Any, k: int = 0) -> None: ...

    def release(self, k: int) -> None: ...

    def refresh(self) -> None: ...

    def scale_momenta(self, k: int, factor: float) -> None: ...


def check_ensemble(atoms: Atoms, settings: MDSettings, stress: bool | None = None) -> None:
    """Refuse (one-line ValueError) an ensemble that ``atoms`` cannot run: one that changes the cell
    (:data:`~mlcalc.md.settings.CELL_ENSEMBLES`) needs a 3D-periodic system and a model that gives
    stress (``stress``; default: ``atoms.calc`` lists it)."""
    if settings.ensemble not in CELL_ENSEMBLES:
        return
    others = [e for e in ENSEMBLES if e not in CELL_ENSEMBLES]
    others = ", ".join(others[:-1]) + " or " + others[-1]
    if not atoms.pbc.all() or atoms.cell.rank < 3:
        raise ValueError(f"ensemble {settings.ensemble} needs a system periodic in 3D with a cell; "
                         f"{atoms.get_chemical_formula()} has pbc={atoms.pbc.tolist()}: use {others}")
    if stress is None:
        stress = "stress" in getattr(atoms.calc, "implemented_properties", ())
    if not stress:
        raise ValueError(f"ensemble {settings.ensemble} needs a model that gives stress; {type(atoms.calc).__name__} "
                         f"does not: use {others}")


@dataclass(frozen=True)
class ASEIntegrator:
    """One ensemble on ASE: ``build(atoms, settings, rng)`` makes its integrator; ``save(integrator, rng)``
    gives the variables a checkpoint keeps (JSON-ready; None: none), ``load(integrator, rng, saved)`` sets them."""

    build: Callable[[Atoms, MDSettings, np.random.Generator], MolecularDynamics]
    save: Callable[[MolecularDynamics, np.random.Generator], Any] = lambda integrator, rng: None
    load: Callable[[MolecularDynamics, np.random.Generator, Any], None] = lambda integrator, rng, saved: None


def _langevin(atoms: Atoms, settings: MDSettings, rng: np.random.Generator) -> MolecularDynamics:
    return Langevin(atoms, settings.timestep * units.fs, temperature_K=settings.temperature,
                    friction=settings.friction / units.fs, fixcm=False, rng=rng)


def _nose_hoover(atoms: Atoms, settings: MDSettings, rng: np.random.Generator) -> MolecularDynamics:
    return NoseHooverChainNVT(atoms, settings.timestep * units.fs, temperature_K=settings.temperature,
                              tdamp=settings.thermostat_time * units.fs)


def _mtk_npt(atoms: Atoms, settings: MDSettings, rng: np.random.Generator) -> MolecularDynamics:
    check_ensemble(atoms, settings)
    return IsotropicMTKNPT(atoms, settings.timestep * units.fs, temperature_K=settings.temperature,
                           pressure_au=settings.pressure * units.GPa, tdamp=settings.thermostat_time * units.fs,
                           pdamp=settings.barostat_time * units.fs)


def _set_rng_state(integrator: MolecularDynamics, rng: np.random.Generator, saved: dict) -> None:
    rng.bit_generator.state = saved


def _thermostat_state(integrator: MolecularDynamics, rng: np.random.Generator) -> dict:
    """The Nose-Hoover chain (and MTK barostat) variables of an ASE integrator, JSON-ready."""
    thermostat = integrator._thermostat
    state = {"eta": thermostat._eta.tolist(), "p_eta": thermostat._p_eta.tolist()}
    if isinstance(integrator, IsotropicMTKNPT):
        barostat = integrator._barostat
        state.update(xi=barostat._xi.tolist(), p_xi=barostat._p_xi.tolist(), eps=float(integrator._eps),
                     p_eps=float(integrator._p_eps), volume0=float(integrator._volume0),
                     cell0=integrator._cell0.tolist())
    return {"thermostat": state}


def _set_thermostat_state(integrator: MolecularDynamics, rng: np.random.Generator, saved: dict) -> None:
    state = saved["thermostat"]
    thermostat = integrator._thermostat
    thermostat._eta, thermostat._p_eta = np.array(state["eta"]), np.array(state["p_eta"])
    if isinstance(integrator, IsotropicMTKNPT):
        barostat = integrator._barostat
        barostat._xi, barostat._p_xi = np.array(state["xi"]), np.array(state["p_xi"])
        integrator._eps, integrator._p_eps = state["eps"], state["p_eps"]
        integrator._volume0, integrator._cell0 = state["volume0"], np.array(state["cell0"])


#: the ASE integrator of each ensemble (a new ensemble: an entry here, one in the TorchSim table
#: (:data:`mlcalc.md.torchsim_stepper.TORCHSIM_INTEGRATORS`) and its name in :data:`mlcalc.md.settings.Ensemble`)
ASE_INTEGRATORS: dict[str, ASEIntegrator] = {
    "nve": ASEIntegrator(lambda atoms, settings, rng: VelocityVerlet(atoms, settings.timestep * units.fs)),
    "langevin": ASEIntegrator(_langevin, lambda integrator, rng: rng.bit_generator.state, _set_rng_state),
    "nose-hoover": ASEIntegrator(_nose_hoover, _thermostat_state, _set_thermostat_state),
    "npt": ASEIntegrator(_mtk_npt, _thermostat_state, _set_thermostat_state),
}


def ase_integrator(atoms: Atoms, settings: MDSettings, rng: np.random.Generator) -> MolecularDynamics:
    """The ASE integrator for ``settings.ensemble`` (:data:`ASE_INTEGRATORS`): velocity Verlet (NVE), Langevin
    (drawing from ``rng``), Nose-Hoover chain NVT (``NoseHooverChainNVT``) or isotropic MTK NPT (``IsotropicMTKNPT``)."""
    return ASE_INTEGRATORS[settings.ensemble].build(atoms, settings, rng)


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
        check_ensemble(atoms, settings)
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

    def integrator_state(self, k: int = 0) -> dict | None:
        """The Langevin generator's state, the Nose-Hoover variables (nose-hoover, npt), or None (NVE)."""
        return ASE_INTEGRATORS[self.settings.ensemble].save(self.integrator, self.rng)

    def set_integrator_state(self, state: dict | None, k: int = 0) -> None:
        if state is not None:
            ASE_INTEGRATORS[self.settings.ensemble].load(self.integrator, self.rng, state)

    def release(self, k: int = 0) -> None:
        """Nothing to free: the run of the one system has ended."""

    def refresh(self) -> None:
        """Energy and forces of the current state again from the calculator (its model changed in place)."""
        self.atoms.calc.reset()
        self.atoms.get_forces()

    def scale_momenta(self, k: int, factor: float) -> None:
        """Multiply the momenta by ``factor`` (velocity Verlet reads them from the Atoms each step; not for
        ASE's Nose-Hoover chain, which keeps its own copy)."""
        if not isinstance(self.integrator, VelocityVerlet):
            raise ValueError(f"scale_momenta is for NVE (velocity Verlet), not {self.settings.ensemble}")
        self.atoms.set_momenta(self.atoms.get_momenta() * factor, apply_constraint=False)
