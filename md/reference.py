"""MD17-style reference data: Langevin MD with a reference calculator (GFN2-xTB by default), thermalised, then sampled.

The MD17 protocol: ab-initio MD at 500 K; frames spaced far enough apart to be
decorrelated. Here the quantum chemistry is GFN2-xTB (tblite), so numbers are not
comparable with published DFT MD17 results.
"""

from __future__ import annotations

import os
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixCom
from tqdm.auto import tqdm

from mlcalc.data.xtb import xtb_calculator
from .settings import ReferenceSettings

from .driver import run_steps
from .monitors import BlowUpError, BlowUpMonitor
from .stepper import ASEStepper
from .velocities import initialise_velocities

__all__ = ["generate_reference"]


def generate_reference(atoms: Atoms, settings: ReferenceSettings, out: str | os.PathLike | None = None,
                       calculator=None, progress: bool = True) -> list[Atoms]:
    """``settings.frames`` structures with energies (eV) and forces (eV/Å) from Langevin MD of ``atoms``.

    ``settings`` (:class:`~mlcalc.md.settings.ReferenceSettings`): after ``thermalise``
    steps, the frame at every multiple of ``interval`` steps is kept. One generator,
    ``np.random.default_rng(seed)``, draws the Maxwell-Boltzmann velocities (not rescaled)
    and then the Langevin noise; the centre of mass is held fixed. ``calculator``: default
    GFN2-xTB (then each frame's ``info["reference"]`` is "gfn2-xtb"). With ``out`` the frames
    are also written as extxyz. The blow-up monitors
    (``max_force``, ``bond_stretch``) raise :class:`~mlcalc.md.BlowUpError`.
    """
    atoms = atoms.copy()
    atoms.calc = calculator if calculator is not None else xtb_calculator()
    rng = np.random.default_rng(settings.seed)
    initialise_velocities(atoms, settings.temperature, rng=rng, rescale=False)
    atoms.set_constraint(FixCom())
    sampled = _sample(ASEStepper(atoms, settings, rng=rng), settings, progress)
    if calculator is None:  # the labelling method, for training's isolated-atom references
        for frame in sampled:
            frame.info["reference"] = "gfn2-xtb"
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        ase.io.write(out, sampled, format="extxyz")
    return sampled


def _sample(stepper: ASEStepper, settings: ReferenceSettings, progress: bool) -> list[Atoms]:
    """Run ``settings.steps`` steps through :func:`~mlcalc.md.run_steps`, checked by the blow-up monitors;
    the frames kept, labelled."""
    sampler = _FrameSampler(settings, stepper.snapshot(0).get_chemical_formula(), progress)
    try:
        run_steps(stepper, [sampler], 0)
    finally:
        sampler.bar.close()
    return sampler.frames


class _FrameSampler:
    """What :func:`~mlcalc.md.run_steps` feeds in place of a run folder: each state is checked by the blow-up
    monitors (a blow-up raises :class:`BlowUpError`), and after ``thermalise`` steps every ``interval``-th is kept."""

    running = True

    def __init__(self, settings: ReferenceSettings, formula: str, progress: bool):
        self.settings = settings
        self.monitor = BlowUpMonitor(settings.max_force, settings.bond_stretch)
        self.frames: list[Atoms] = []
        self.bar = tqdm(total=settings.steps, desc=f"GFN2-xTB MD {formula}", unit="step", disable=not progress)

    def record(self, step: int, atoms: Atoms, integrator_state=None) -> None:
        if step == 0:
            self.monitor.start(atoms)
            return
        self.monitor.check(atoms, step)
        self.bar.update()
        if step > self.settings.thermalise and step % self.settings.interval == 0:
            self.frames.append(_labelled(atoms))

    def stop(self, err: BlowUpError, atoms: Atoms) -> None:
        """The calculator refused a structure: reference data does not go on past it."""
        raise err


def _labelled(atoms: Atoms) -> Atoms:
    """A copy of ``atoms`` (no constraint or momenta) with its energy and raw potential forces."""
    frame = Atoms(atoms.numbers, atoms.positions.copy(), cell=atoms.cell, pbc=atoms.pbc)
    # raw forces: with FixCom attached, get_forces() would return constraint-adjusted ones
    frame.calc = SinglePointCalculator(frame, energy=atoms.get_potential_energy(),
                                       forces=atoms.get_forces(apply_constraint=False))
    return frame

