"""Batched MD on TorchSim: many systems advanced by one model call per step (a :class:`~mlcalc.md.Stepper`).

NVE is TorchSim's velocity Verlet (``torch_sim.integrators.nve``); Langevin is TorchSim's
BAOAB splitting (its momentum and position steps) with the noise of each system drawn
from that system's own generator (``np.random.default_rng([seed, 1])``, as
:class:`~mlcalc.md.ASEStepper`), so a system's trajectory does not depend on the others
in the batch and a resumed run draws the same noise. Nose-Hoover (NVT) is velocity Verlet
between half steps of TorchSim's Nose-Hoover chain (``construct_nose_hoover_chain``), one
chain per system (TorchSim 0.3 shares one chain over a batch; here each system's chain
sees only its own kinetic energy and degrees of freedom). NPT is TorchSim's
``npt_nose_hoover`` (isotropic MTK) run on each system as a batch of one (its chains are
shared over a batch in 0.3): one model call per system per step, no batching gain. The
thermostat and barostat variables are part of each system's checkpoint. The state is
integrated in float64 whatever the model's dtype. With an ensemble model each snapshot's results
also hold the system's force ``uncertainty`` (eV/Å), for the run folder's uncertainty monitor. A system that fails (a non-finite energy or force, a
refused structure, or a folder that stopped it) leaves the batch; the others go on.
This module imports torch_sim; ``import mlcalc.md`` does not.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from torch_sim.integrators import MDState, nve
from torch_sim.integrators.md import (NoseHooverChain, construct_nose_hoover_chain, momentum_step, position_step,
                                      velocity_verlet)
from torch_sim.integrators.npt import NPTNoseHooverState, npt_nose_hoover
from torch_sim.io import atoms_to_state
from torch_sim.quantities import calc_kinetic_energy
from torch_sim.state import concatenate_states

from .settings import MDSettings

from .stepper import StepError, check_ensemble
from .torchsim_model import TorchSimModel

__all__ = ["TorchSimStepper", "TorchSimIntegrator", "TORCHSIM_INTEGRATORS"]


class TorchSimStepper:
    """``systems`` (Atoms with momenta set) stepped together by ``model`` with ``settings``.

    ``seeds``: one per system, for its Langevin noise (default: ``settings.seed`` for all).
    The systems must all be molecules or all periodic (TorchSim's state has one pbc).
    Energies and forces of the starting state are computed here. ``npt`` switches on the
    model's stress (periodic systems only).
    """

    def __init__(self, systems: Sequence[Atoms], model: TorchSimModel, settings: MDSettings,
                 seeds: Sequence[int] | None = None):
        if not systems:
            raise ValueError("TorchSimStepper needs at least one system")
        seeds = [settings.seed] * len(systems) if seeds is None else list(seeds)
        if len(seeds) != len(systems):
            raise ValueError(f"need one seed per system: {len(systems)} systems, {len(seeds)} seeds")
        periodic = {bool(a.pbc.all()) for a in systems}
        if len(periodic) > 1 or any(a.pbc.any() and not a.pbc.all() for a in systems):
            raise ValueError("batched MD needs all systems non-periodic or all periodic in 3D")
        for atoms in systems:
            check_ensemble(atoms, settings, stress=True)
        integrator = TORCHSIM_INTEGRATORS[settings.ensemble]
        if integrator.changes_cell:
            model.compute_stress = True
        self.n_systems = len(systems)
        self.model, self.settings = model, settings
        self.committee = bool(getattr(model, "gives_uncertainty", False))  # an ensemble: snapshots carry uncertainty
        self.rngs = [np.random.default_rng([seed, 1]) for seed in seeds]
        self.dt = torch.tensor(settings.timestep * units.fs, dtype=torch.float64)
        self.kT = torch.tensor(settings.temperature * units.kB, dtype=torch.float64)
        self.gamma = torch.tensor(settings.friction / units.fs, dtype=torch.float64)
        self.active = list(range(self.n_systems))  # stepper index of each system in the batch, in order
        self.left: dict[int, Atoms] = {}  # last snapshot of each system that left the batch
        self._cache: dict[Any, Any] = {}  # this step's snapshots, and the batch as numpy arrays
        self._live: dict[int, Atoms] = {}  # one Atoms per system, updated in place
        state = atoms_to_state(list(systems), model.device, torch.float64)
        momenta = torch.as_tensor(np.concatenate([a.get_momenta() for a in systems]), dtype=torch.float64)
        out = model(state)
        self.uncertainty = out.get("uncertainty")  # [n systems in the batch], ensembles only
        self.state = MDState(positions=state.positions, momenta=momenta.to(model.device), energy=out["energy"],
                             forces=out["forces"], masses=state.masses, cell=state.cell, pbc=state.pbc,
                             system_idx=state.system_idx, atomic_numbers=state.atomic_numbers)
        self.tau = torch.tensor(settings.thermostat_time * units.fs, dtype=torch.float64)
        self.chain: NoseHooverChain | None = None  # nose-hoover: one chain per system, columns in batch order
        self.npt: list[NPTNoseHooverState] = []  # npt: one single-system state per system in the batch
        self.integrator = integrator(self)

    # -- the Stepper protocol ------------------------------------------------------------------
    def step(self) -> None:
        """Advance every system in the batch one time step; :class:`StepError` lists the ones that failed."""
        self._cache = {}
        if not self.active:
            return
        self.integrator.step(self._noise() if self.integrator.draws_noise else None)
        self._drop_failures()

    def snapshot(self, k: int) -> Atoms:
        """System ``k`` as Atoms (positions, momenta, cell; energy and forces as calculator results).

        The same Atoms object every step, updated in place (as :class:`ASEStepper`'s): read it
        before the next step.
        """
        if k in self.left:
            return self.left[k]
        if k not in self._cache:
            self._cache[k] = self._atoms(self.active.index(k), self._live.get(k))
            self._live[k] = self._cache[k]
        return self._cache[k]

    def integrator_state(self, k: int = 0) -> dict | None:
        """System ``k``'s Langevin generator state, its Nose-Hoover (and barostat) variables, or None (NVE)."""
        return self.integrator.save(k)

    def set_integrator_state(self, state: dict | None, k: int = 0) -> None:
        if state is not None:
            self.integrator.load(k, state)

    def refresh(self) -> None:
        """Energies, forces (and uncertainty) of the systems in the batch again from the model (its weights
        changed in place); positions, momenta and thermostat variables stay. Not for npt, whose per-system
        states hold their own forces."""
        if self.npt:
            raise ValueError("refresh is not supported for npt (each system's state holds its own forces)")
        self._cache = {}
        if not self.active:
            return
        out = self.model(self.state)
        self.state.energy, self.state.forces = out["energy"], out["forces"]
        self.uncertainty = out.get("uncertainty")

    def scale_momenta(self, k: int, factor: float) -> None:
        """Multiply system ``k``'s momenta by ``factor`` (it must be in the batch)."""
        mask = self.state.system_idx == self.active.index(k)
        self.state.momenta = torch.where(mask.unsqueeze(-1), self.state.momenta * factor, self.state.momenta)
        self._cache = {}

    def release(self, k: int) -> None:
        """Take system ``k`` out of the batch (its folder has stopped); its last snapshot stays readable."""
        if k in self.active:
            self.left[k] = self.snapshot(k).copy()
            self.left[k].calc = self._live[k].calc
            self._remove([k])

    # -- internals ------------------------------------------------------------------------------
    def _step_batch(self, noise: torch.Tensor | None) -> None:
        """One step of the whole batch by the integrator; if it fails, each system alone."""
        before, chain = self.state, _copy_chain(self.chain)
        try:
            self.state = self.integrator.advance(_copy(before), noise)
            self.uncertainty = self.model.last_uncertainty if self.committee else None
        except (ValueError, FloatingPointError, RuntimeError):
            self.chain = chain
            self.state = self._advance_one_by_one(before, noise)

    def _advance_one_by_one(self, before: MDState, noise: torch.Tensor | None) -> MDState:
        """After the batch failed: step each system alone; those that still fail leave the batch."""
        parts, failed, uncertainty = [], [], []
        for b, k in enumerate(self.active):
            mask = before.system_idx == b
            chain = None if self.chain is None else _chain_columns(self.chain, [b])
            try:
                parts.append(self.integrator.advance(before[b], None if noise is None else noise[mask], chain))
                uncertainty.append(self.model.last_uncertainty if self.committee else None)
                if chain is not None:
                    _set_chain_column(self.chain, b, chain)
            except (ValueError, FloatingPointError, RuntimeError) as err:
                failed.append((k, f"the model refused the structure: {err}"))
                self.left[k] = self._atoms_of(before[b])
                parts.append(before[b])  # placeholder, removed below
                uncertainty.append(torch.full((1,), float("nan"), dtype=torch.float64))
        state = concatenate_states(parts) if len(parts) > 1 else parts[0]
        self.uncertainty = (torch.cat([u.reshape(-1).cpu().double() for u in uncertainty])
                            if self.committee else None)
        if failed:
            self.state = state
            self._remove([k for k, _ in failed])
            raise _step_error(failed)
        return state

    def _noise(self) -> torch.Tensor:
        """Standard normal noise [n_atoms, 3], each system's rows from its own generator."""
        counts = torch.bincount(self.state.system_idx, minlength=len(self.active)).tolist()
        draws = [self.rngs[k].standard_normal((n, 3)) for k, n in zip(self.active, counts)]
        return torch.as_tensor(np.concatenate(draws), dtype=torch.float64, device=self.state.device)

    def _drop_failures(self) -> None:
        """Systems with a non-finite energy, force or position leave the batch (:class:`StepError`)."""
        state = self.state
        n = len(self.active)
        atom_ok = torch.isfinite(state.forces).all(1) & torch.isfinite(state.positions).all(1)
        bad_atoms = torch.zeros(n, dtype=torch.long, device=state.device).index_add(
            0, state.system_idx, (~atom_ok).long())
        bad = (bad_atoms > 0) | ~torch.isfinite(state.energy)
        if not bool(bad.any()):
            return
        failed = [(self.active[b], "non-finite energy, forces or positions") for b in torch.nonzero(bad)[:, 0].tolist()]
        for k, _ in failed:
            self.left[k] = self._atoms(self.active.index(k))
        self._remove([k for k, _ in failed])
        raise _step_error(failed)

    def _remove(self, systems: list[int]) -> None:
        keep = [b for b, k in enumerate(self.active) if k not in systems]
        self.active = [self.active[b] for b in keep]
        self._cache = {}
        if self.uncertainty is not None:
            self.uncertainty = self.uncertainty[keep]
        if keep:
            self.state = self.state[keep]
            if self.chain is not None:
                self.chain = _chain_columns(self.chain, keep)
            self.npt = [self.npt[b] for b in keep] if self.npt else []

    def _atoms(self, b: int, live: Atoms | None = None) -> Atoms:
        """System at batch position ``b`` as Atoms (the batch's arrays copied to numpy once per step);
        ``live``: an Atoms of this system to update in place instead of making a new one."""
        if "arrays" not in self._cache:
            state = self.state
            sizes = torch.bincount(state.system_idx, minlength=len(self.active)).cpu().numpy()
            self._cache["arrays"] = {
                "starts": np.concatenate([[0], np.cumsum(sizes)]), "numbers": state.atomic_numbers.cpu().numpy(),
                "positions": _numpy(state.positions), "momenta": _numpy(state.momenta),
                "forces": _numpy(state.forces), "energy": _numpy(state.energy), "cells": _numpy(state.row_vector_cell),
                "uncertainty": None if self.uncertainty is None else _numpy(self.uncertainty)}
        arrays = self._cache["arrays"]
        a, z = arrays["starts"][b], arrays["starts"][b + 1]
        extra = {} if arrays["uncertainty"] is None else {"uncertainty": float(arrays["uncertainty"][b])}
        if live is not None:
            return _update_atoms(live, arrays["positions"][a:z], arrays["momenta"][a:z], arrays["energy"][b],
                                 arrays["forces"][a:z], arrays["cells"][b], extra)
        return _make_atoms(arrays["numbers"][a:z], arrays["positions"][a:z], arrays["momenta"][a:z],
                           arrays["cells"][b], bool(self.state.pbc), arrays["energy"][b], arrays["forces"][a:z], extra)

    @staticmethod
    def _atoms_of(state: MDState) -> Atoms:
        """A one-system state as Atoms."""
        return _make_atoms(state.atomic_numbers.cpu().numpy(), _numpy(state.positions), _numpy(state.momenta),
                           _numpy(state.row_vector_cell)[0], bool(state.pbc), _numpy(state.energy)[0],
                           _numpy(state.forces))


class TorchSimIntegrator:
    """One ensemble on TorchSim, bound to a :class:`TorchSimStepper` (``stepper``): sets up its variables,
    advances a batch state (:meth:`advance`), and gives/takes a system's variables for its checkpoint."""

    #: draws per-system noise each step (handed to :meth:`advance`)
    draws_noise = False
    #: changes the cell (the model computes stress)
    changes_cell = False

    def __init__(self, stepper: "TorchSimStepper"):
        self.stepper = stepper

    def step(self, noise: torch.Tensor | None) -> None:
        """Advance the stepper's batch one time step (by default all systems in one :meth:`advance`)."""
        self.stepper._step_batch(noise)

    def advance(self, state: MDState, noise: torch.Tensor | None, chain: NoseHooverChain | None = None) -> MDState:
        """One time step of ``state`` (a batch, or one system stepped alone with its ``chain``)."""
        raise NotImplementedError  # pragma: no cover

    def save(self, k: int) -> dict | None:
        """System ``k``'s variables for its checkpoint (JSON-ready; None: none)."""
        return None

    def load(self, k: int, saved: dict) -> None:
        """Set system ``k``'s variables from its checkpoint."""


class _VelocityVerlet(TorchSimIntegrator):
    """NVE: TorchSim's velocity Verlet."""

    def __init__(self, stepper: "TorchSimStepper"):
        super().__init__(stepper)
        _, self._update = nve(stepper.model, dt=stepper.dt, kT=stepper.kT)

    def advance(self, state: MDState, noise: torch.Tensor | None, chain: NoseHooverChain | None = None) -> MDState:
        return self._update(state, dt=self.stepper.dt)


class _Langevin(TorchSimIntegrator):
    """NVT: TorchSim's BAOAB splitting with each system's noise from its own generator."""

    draws_noise = True

    def advance(self, state: MDState, noise: torch.Tensor | None, chain: NoseHooverChain | None = None) -> MDState:
        s = self.stepper
        dt = s.dt
        state = momentum_step(state, dt / 2)
        state = position_step(state, dt / 2)
        c1 = torch.exp(-s.gamma * dt)
        c2 = torch.sqrt(s.kT * (1 - c1 ** 2))
        state.momenta = c1 * state.momenta + c2 * torch.sqrt(state.masses).unsqueeze(-1) * noise
        state = position_step(state, dt / 2)
        out = s.model(state)
        state.energy, state.forces = out["energy"], out["forces"]
        return momentum_step(state, dt / 2)

    def save(self, k: int) -> dict:
        return self.stepper.rngs[k].bit_generator.state

    def load(self, k: int, saved: dict) -> None:
        self.stepper.rngs[k].bit_generator.state = saved


class _NoseHoover(TorchSimIntegrator):
    """NVT: velocity Verlet between half steps of TorchSim's Nose-Hoover chain, one chain per system."""

    def __init__(self, stepper: "TorchSimStepper"):
        super().__init__(stepper)
        self._chain_fns = construct_nose_hoover_chain(stepper.dt, chain_length=3, chain_steps=3, sy_steps=3,
                                                      tau=stepper.tau)
        stepper.chain = _new_chains(stepper.state, stepper.kT, stepper.tau)

    def advance(self, state: MDState, noise: torch.Tensor | None, chain: NoseHooverChain | None = None) -> MDState:
        """Chain half step, velocity Verlet, chain half step; each system scaled by its own chain.

        TorchSim's chain half step scales the momenta it is given by the chain's factor; given
        ones [n_systems] and chains with one column per system, it returns each system's factor.
        """
        s = self.stepper
        target = chain = s.chain if chain is None else chain
        ones = torch.ones(state.n_systems, dtype=state.momenta.dtype, device=state.device)
        chain.kinetic_energy = calc_kinetic_energy(masses=state.masses, momenta=state.momenta,
                                                   system_idx=state.system_idx)  # from the momenta: exact resume
        scale, chain = self._chain_fns.half_step(ones, chain, s.kT)
        state.momenta = state.momenta * scale[state.system_idx].unsqueeze(-1)
        state = velocity_verlet(state, s.dt, s.model)
        chain.kinetic_energy = calc_kinetic_energy(masses=state.masses, momenta=state.momenta,
                                                   system_idx=state.system_idx)
        scale, chain = self._chain_fns.half_step(ones, chain, s.kT)
        state.momenta = state.momenta * scale[state.system_idx].unsqueeze(-1)
        _assign_chain(target, chain)
        return state

    def save(self, k: int) -> dict | None:
        s = self.stepper
        if k not in s.active:
            return None
        b = s.active.index(k)
        return {"thermostat": {"positions": s.chain.positions[:, b].tolist(), "momenta": s.chain.momenta[:, b].tolist()}}

    def load(self, k: int, saved: dict) -> None:
        b = self.stepper.active.index(k)
        for name in ("positions", "momenta"):
            getattr(self.stepper.chain, name)[:, b] = torch.tensor(saved["thermostat"][name], dtype=torch.float64)


class _MTKNPT(TorchSimIntegrator):
    """NPT: TorchSim's ``npt_nose_hoover`` (isotropic MTK), each system stepped alone (its chains are shared
    over a batch in TorchSim 0.3)."""

    changes_cell = True

    def __init__(self, stepper: "TorchSimStepper"):
        super().__init__(stepper)
        s, settings = stepper, stepper.settings
        npt_init, self._update = npt_nose_hoover(model=s.model, kT=s.kT, dt=s.dt,
                                                 external_pressure=torch.tensor(settings.pressure * units.GPa))
        s.npt = [npt_init(s.state[b], t_tau=s.tau, b_tau=torch.tensor(settings.barostat_time * units.fs),
                          momenta=s.state[b].momenta) for b in range(s.n_systems)]

    def step(self, noise: torch.Tensor | None) -> None:
        """One NPT step of each system alone; the batch state is rebuilt from theirs."""
        s = self.stepper
        failed, uncertainty = [], []
        for b, k in enumerate(s.active):
            try:
                s.npt[b] = self._update(s.npt[b])
                uncertainty.append(s.model.last_uncertainty if s.committee else None)
            except (ValueError, FloatingPointError, RuntimeError) as err:
                failed.append((k, f"the model refused the structure: {err}"))
                uncertainty.append(torch.full((1,), float("nan"), dtype=torch.float64))
        s.state = concatenate_states([_md_state(x) for x in s.npt]) if len(s.npt) > 1 else _md_state(s.npt[0])
        s.uncertainty = torch.cat([u.reshape(-1).cpu().double() for u in uncertainty]) if s.committee else None
        if failed:
            for k, _ in failed:
                s.left[k] = s._atoms(s.active.index(k))
            s._remove([k for k, _ in failed])
            raise _step_error(failed)

    def save(self, k: int) -> dict | None:
        s = self.stepper
        return {"thermostat": _npt_variables(s.npt[s.active.index(k)])} if k in s.active else None

    def load(self, k: int, saved: dict) -> None:
        _set_npt_variables(self.stepper.npt[self.stepper.active.index(k)], saved["thermostat"])


#: the TorchSim integrator of each ensemble, as TorchSim's own ``INTEGRATOR_REGISTRY`` (a new ensemble: a
#: :class:`TorchSimIntegrator` here, an entry in :data:`mlcalc.md.stepper.ASE_INTEGRATORS` and its name in
#: :data:`mlcalc.md.settings.Ensemble`)
TORCHSIM_INTEGRATORS: dict[str, type[TorchSimIntegrator]] = {
    "nve": _VelocityVerlet, "langevin": _Langevin, "nose-hoover": _NoseHoover, "npt": _MTKNPT}


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()


def _update_atoms(atoms: Atoms, positions, momenta, energy, forces, cell, extra: dict | None = None) -> Atoms:
    """``atoms`` and its single-point results moved to a new state; ``extra``: more results."""
    atoms.arrays["positions"][:] = positions
    atoms.arrays["momenta"][:] = momenta
    atoms.calc.atoms.arrays["positions"][:] = positions
    if atoms.pbc.any():
        atoms.cell[:] = cell
        atoms.calc.atoms.cell[:] = cell
    atoms.calc.results = {"energy": float(energy), "forces": np.array(forces), **(extra or {})}
    return atoms


class _StateResults(SinglePointCalculator):
    """Single-point results that the stepper moves together with their Atoms (both updated in place), so
    that reading them from those Atoms skips ASE's comparison of the two structures (``check_state``:
    about 1.2 ms per trajectory frame of ethanol, more than writing it)."""

    def __init__(self, atoms: Atoms, **results):
        super().__init__(atoms, **results)
        self.owner = atoms

    def check_state(self, atoms: Atoms, tol: float = 1e-15) -> list[str]:
        return [] if atoms is self.owner else super().check_state(atoms, tol)


def _make_atoms(numbers, positions, momenta, cell, pbc: bool, energy, forces, extra: dict | None = None) -> Atoms:
    atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc, momenta=momenta)
    atoms.calc = _StateResults(atoms, energy=float(energy), forces=np.array(forces))
    atoms.calc.results.update(extra or {})
    return atoms


def _copy(state: MDState) -> MDState:
    """A shallow copy: the integrator replaces the tensors of the copy, ``state`` keeps its own."""
    import copy

    return copy.copy(state)


def _new_chains(state: MDState, kT: torch.Tensor, tau: torch.Tensor, length: int = 3) -> NoseHooverChain:
    """Nose-Hoover chains at rest, one column per system: masses kT tau² (the first times the system's 3N)."""
    n = state.n_systems
    dof = 3 * torch.bincount(state.system_idx, minlength=n).to(state.positions.dtype)
    masses = kT * tau ** 2 * torch.ones(length, n, dtype=state.positions.dtype, device=state.device)
    masses[0] = masses[0] * dof
    zeros = torch.zeros(length, n, dtype=state.positions.dtype, device=state.device)
    ke = calc_kinetic_energy(masses=state.masses, momenta=state.momenta, system_idx=state.system_idx)
    return NoseHooverChain(zeros, zeros.clone(), masses, tau, ke, dof)


def _chain_columns(chain: NoseHooverChain, columns: list[int]) -> NoseHooverChain:
    return NoseHooverChain(chain.positions[:, columns], chain.momenta[:, columns], chain.masses[:, columns],
                           chain.tau, chain.kinetic_energy[columns], chain.degrees_of_freedom[columns])


def _set_chain_column(chain: NoseHooverChain, b: int, one: NoseHooverChain) -> None:
    for name in ("positions", "momenta"):
        getattr(chain, name)[:, b] = getattr(one, name)[:, 0]
    chain.kinetic_energy[b] = one.kinetic_energy[0]


def _assign_chain(target: NoseHooverChain, new: NoseHooverChain) -> None:
    target.positions, target.momenta, target.kinetic_energy = new.positions, new.momenta, new.kinetic_energy


def _copy_chain(chain: NoseHooverChain | None) -> NoseHooverChain | None:
    if chain is None:
        return None
    return NoseHooverChain(chain.positions.clone(), chain.momenta.clone(), chain.masses, chain.tau,
                           chain.kinetic_energy.clone(), chain.degrees_of_freedom)


_NPT_TENSORS = ("reference_cell", "cell_position", "cell_momentum", "cell_mass")
_CHAIN_TENSORS = ("positions", "momenta", "masses", "kinetic_energy")


def _npt_variables(state: NPTNoseHooverState) -> dict:
    """The cell and chain variables of a one-system NPT state, JSON-ready."""
    out = {name: getattr(state, name).tolist() for name in _NPT_TENSORS}
    for chain in ("thermostat", "barostat"):
        out[chain] = {name: getattr(getattr(state, chain), name).tolist() for name in _CHAIN_TENSORS}
    return out


def _set_npt_variables(state: NPTNoseHooverState, saved: dict) -> None:
    for name in _NPT_TENSORS:
        old = getattr(state, name)
        setattr(state, name, torch.tensor(saved[name], dtype=old.dtype, device=old.device))
    for chain in ("thermostat", "barostat"):
        for name in _CHAIN_TENSORS:
            old = getattr(getattr(state, chain), name)
            setattr(getattr(state, chain), name, torch.tensor(saved[chain][name], dtype=old.dtype, device=old.device))


def _md_state(state: NPTNoseHooverState) -> MDState:
    return MDState(positions=state.positions, momenta=state.momenta, energy=state.energy, forces=state.forces,
                   masses=state.masses, cell=state.cell, pbc=state.pbc, system_idx=state.system_idx,
                   atomic_numbers=state.atomic_numbers)


def _step_error(failures: list[tuple[int, str]]) -> StepError:
    err = StepError(*failures[0])
    err.failures = failures
    return err
