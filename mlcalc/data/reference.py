"""MD17-style reference data from GFN2-xTB (tblite): thermalise with Langevin MD, then sample.

The MD17 protocol: ab-initio MD at 500 K; frames spaced far enough apart to be
decorrelated. Here the quantum chemistry is GFN2-xTB, so numbers are not
comparable with published DFT MD17 results.
"""

from __future__ import annotations

import os
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation
from tqdm.auto import tqdm

__all__ = ["xtb_calculator", "generate_reference"]


def xtb_calculator(method: str = "GFN2-xTB"):
    """A tblite ASE calculator (install mlcalc[tblite])."""
    try:
        from tblite.ase import TBLite
    except ImportError:
        raise ImportError("reference data needs tblite: pip install 'mlcalc[tblite]'") from None
    return TBLite(method=method, verbosity=0)


def generate_reference(
    atoms: Atoms,
    frames: int,
    temperature: float = 500.0,
    seed: int = 0,
    timestep: float = 0.5,
    thermalise: float = 1000.0,
    interval: float = 20.0,
    friction: float = 0.01,
    out: str | os.PathLike | None = None,
    calculator=None,
    progress: bool = True,
) -> list[Atoms]:
    """Sample ``frames`` structures with energies (eV) and forces (eV/Å) from Langevin MD.

    ``temperature`` K; ``timestep``, ``thermalise`` (discarded start) and ``interval``
    (spacing of kept frames) in fs; ``friction`` in 1/fs. Deterministic for a ``seed``.
    With ``out`` the frames are written as extxyz.
    """
    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    if temperature <= 0 or timestep <= 0 or interval < timestep:
        raise ValueError("temperature and timestep must be positive and interval >= timestep")
    rng = np.random.default_rng(seed)
    atoms = atoms.copy()
    atoms.calc = calculator if calculator is not None else xtb_calculator()
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
    Stationary(atoms)
    ZeroRotation(atoms)
    atoms.set_constraint(FixCom())
    dyn = Langevin(atoms, timestep * units.fs, temperature_K=temperature, friction=friction / units.fs,
                   fixcm=False, rng=rng)
    stride = max(1, round(interval / timestep))
    warm = max(0, round(thermalise / timestep))
    sampled: list[Atoms] = []
    with tqdm(total=warm + frames * stride, desc=f"GFN2-xTB MD {atoms.get_chemical_formula()}",
              unit="step", disable=not progress) as bar:
        dyn.attach(bar.update, interval=1)
        dyn.run(warm)

        def keep():
            frame = Atoms(atoms.numbers, atoms.positions.copy(), cell=atoms.cell, pbc=atoms.pbc)
            # raw potential forces: with FixCom attached, get_forces() would return constraint-adjusted ones
            frame.calc = SinglePointCalculator(frame, energy=atoms.get_potential_energy(),
                                               forces=atoms.get_forces(apply_constraint=False))
            sampled.append(frame)

        dyn.attach(keep, interval=stride)
        dyn.run(frames * stride)
    sampled = sampled[-frames:]
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        ase.io.write(out, sampled, format="extxyz")
    return sampled
