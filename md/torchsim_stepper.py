"""Batched MD on TorchSim: many systems advanced by one model call per step (a :class:`~mlcalc.md.Stepper`).

NVE is TorchSim's velocity Verlet (``torch_sim.integrators.nve``); Langevin is TorchSim's
BAOAB splitting (its momentum and position steps) with the noise of each system drawn
from that system's own generator (``np.random.default_rng([seed, 1])``, as
:class:`~mlcalc.md.ASEStepper`), so a system's trajectory does not depend on the others
in the batch and a resumed run draws the same noise. The state is integrated in float64
whatever the model's dtype. With an ensemble model each snapshot's results also hold the
system's force ``uncertainty`` (eV/Å), for the run folder's uncertainty monitor. A system
that fails (a non-finite energy or force, a refused structure, or a folder that stopped it)
leaves the batch; the others go on.
This module imports torch_sim; ``import mlcalc.md`` does not.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from torch_sim.integrators import MDState, nve
from torch_sim.integrators.md import momentum_step, position_step
from torch_sim.io import atoms_to_state
from torch_sim.state import concatenate_states

from mlcalc.md_settings import MDSettings

from .stepper import StepError
from .torchsim_model import TorchSimModel

__all__ = ["TorchSimStepper"]


class TorchSimStepper:
    """``systems`` (Atoms with momenta set) stepped together by ``model`` with ``settings``.

    ``seeds``: one per system, for its Langevin noise (default: ``settings.seed`` for all).
    The systems must all be molecules or all periodic (TorchSim's state has one pbc).
    Energies and forces of the starting state are computed here.
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
        self.n_systems = len(systems)
        self.model, self.settings = model, settings
        self.committee = bool(getattr(model, "gives_uncertainty", False))  # an ensemble: snapshots carry uncertainty
        self.rngs = [np.random.default_rng([seed, 1]) for seed in seeds]
        self.dt = torch.tensor(settings.timestep * units.fs, dtype=torch.float64)
        self.kT = torch.tensor(settings.temperature * units.kB, dtype=torch.float64)
        self.gamma = torch.tensor(settings.friction / units.fs, dtype=torch.float64)
        _, self._nve_update = nve(model, dt=self.dt, kT=self.kT)
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

    # -- the Stepper protocol ------------------------------------------------------------------
    def step(self) -> None:
        """Advance every system in the batch one time step; :class:`StepError` lists the ones that failed."""
        self._cache = {}
        if not self.active:
            return
        noise = self._noise() if self.settings.ensemble == "langevin" else None
        before = self.state
        try:
            self.state = self._advance(_copy(before), noise)
            self.uncertainty = self.model.last_uncertainty if self.committee else None
        except (ValueError, FloatingPointError, RuntimeError):
            self.state = self._advance_one_by_one(before, noise)
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

    def random_state(self, k: int = 0) -> dict | None:
        """System ``k``'s Langevin generator state (None for NVE)."""
        return self.rngs[k].bit_generator.state if self.settings.ensemble == "langevin" else None

    def set_random_state(self, state: dict | None, k: int = 0) -> None:
        if state is not None:
            self.rngs[k].bit_generator.state = state

    def release(self, k: int) -> None:
        """Take system ``k`` out of the batch (its folder has stopped); its last snapshot stays readable."""
        if k in self.active:
            self.left[k] = self.snapshot(k).copy()
            self.left[k].calc = self._live[k].calc
            self._remove([k])

    # -- internals ------------------------------------------------------------------------------
    def _advance(self, state: MDState, noise: torch.Tensor | None) -> MDState:
        """One step of ``state``: velocity Verlet (NVE) or BAOAB Langevin with the given ``noise``."""
        if noise is None:
            return self._nve_update(state, dt=self.dt)
        dt = self.dt
        state = momentum_step(state, dt / 2)
        state = position_step(state, dt / 2)
        c1 = torch.exp(-self.gamma * dt)
        c2 = torch.sqrt(self.kT * (1 - c1 ** 2))
        state.momenta = c1 * state.momenta + c2 * torch.sqrt(state.masses).unsqueeze(-1) * noise
        state = position_step(state, dt / 2)
        out = self.model(state)
        state.energy, state.forces = out["energy"], out["forces"]
        return momentum_step(state, dt / 2)

    def _advance_one_by_one(self, before: MDState, noise: torch.Tensor | None) -> MDState:
        """After the batch failed: step each system alone; those that still fail leave the batch."""
        parts, failed, uncertainty = [], [], []
        for b, k in enumerate(self.active):
            mask = before.system_idx == b
            try:
                parts.append(self._advance(before[b], None if noise is None else noise[mask]))
                uncertainty.append(self.model.last_uncertainty if self.committee else None)
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
                                 arrays["forces"][a:z], extra)
        return _make_atoms(arrays["numbers"][a:z], arrays["positions"][a:z], arrays["momenta"][a:z],
                           arrays["cells"][b], bool(self.state.pbc), arrays["energy"][b], arrays["forces"][a:z], extra)

    @staticmethod
    def _atoms_of(state: MDState) -> Atoms:
        """A one-system state as Atoms."""
        return _make_atoms(state.atomic_numbers.cpu().numpy(), _numpy(state.positions), _numpy(state.momenta),
                           _numpy(state.row_vector_cell)[0], bool(state.pbc), _numpy(state.energy)[0],
                           _numpy(state.forces))


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()


def _update_atoms(atoms: Atoms, positions, momenta, energy, forces, extra: dict | None = None) -> Atoms:
    """``atoms`` and its single-point results moved to a new state (the cell stays); ``extra``: more results."""
    atoms.arrays["positions"][:] = positions
    atoms.arrays["momenta"][:] = momenta
    atoms.calc.atoms.arrays["positions"][:] = positions
    atoms.calc.results = {"energy": float(energy), "forces": np.array(forces), **(extra or {})}
    return atoms


def _make_atoms(numbers, positions, momenta, cell, pbc: bool, energy, forces, extra: dict | None = None) -> Atoms:
    atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc, momenta=momenta)
    atoms.calc = SinglePointCalculator(atoms, energy=float(energy), forces=np.array(forces))
    atoms.calc.results.update(extra or {})
    return atoms


def _copy(state: MDState) -> MDState:
    """A shallow copy: the integrator replaces the tensors of the copy, ``state`` keeps its own."""
    import copy

    return copy.copy(state)


def _step_error(failures: list[tuple[int, str]]) -> StepError:
    err = StepError(*failures[0])
    err.failures = failures
    return err
