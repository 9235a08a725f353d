"""Periodic reference data for a copper force field from ASE's EMT: strained and rattled bulk cells and a slab.

EMT (effective medium theory, ASE's built-in periodic calculator) gives energies,
forces and stress. Bulk: fcc Cu 2x2x2 cubic cells (32 atoms) with random symmetric
strains (up to ``max_strain``) and rattles (``rattle`` Å); slab: fcc(111) 2x2x4 with 10 Å
of vacuum, rattled. EMT's own lattice constant is :func:`emt_lattice_constant` (3.590 Å).
``mlcalc data emt-copper OUT.extxyz [--bulk N] [--slab N]`` writes a file that ``data.source: file``
configs read (``configs/cu_emt_et.yaml``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk, fcc111

__all__ = ["copper_reference", "write_copper_reference", "emt_lattice_constant"]


def _label(atoms: Atoms) -> Atoms:
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    atoms.calc = EMT()
    energy, forces, stress = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces, stress=stress)
    return atoms


def copper_reference(n_bulk: int = 300, n_slab: int = 60, max_strain: float = 0.04, rattle: float = 0.08,
                     seed: int = 0) -> list[Atoms]:
    """``n_bulk`` strained + rattled bulk cells and ``n_slab`` rattled slabs, labelled by EMT (eV, eV/Å, eV/Å³)."""
    rng = np.random.default_rng(seed)
    a0 = emt_lattice_constant()
    frames = []
    for _ in range(n_bulk):
        atoms = bulk("Cu", "fcc", a=a0, cubic=True) * (2, 2, 2)
        strain = rng.uniform(-max_strain, max_strain, (3, 3))
        atoms.set_cell(atoms.cell.array @ (np.eye(3) + 0.5 * (strain + strain.T)), scale_atoms=True)
        atoms.positions += rng.normal(0.0, rattle, atoms.positions.shape)
        frames.append(_label(atoms))
    for _ in range(n_slab):
        atoms = fcc111("Cu", size=(2, 2, 4), a=a0, vacuum=10.0, periodic=False)
        atoms.pbc = (True, True, False)
        atoms.info.pop("adsorbate_info", None)
        atoms.positions += rng.normal(0.0, rattle, atoms.positions.shape)
        frames.append(_label(atoms))
    return frames


def emt_lattice_constant() -> float:
    """EMT's fcc Cu lattice constant (Å), from the minimum of E(a) (a cubic fit around 3.59 Å)."""
    from ase.calculators.emt import EMT

    a = np.linspace(3.54, 3.64, 11)
    energies = []
    for x in a:
        atoms = bulk("Cu", "fcc", a=x, cubic=True)
        atoms.calc = EMT()
        energies.append(atoms.get_potential_energy())
    c = np.polyfit(a, energies, 3)
    roots = np.roots(np.polyder(c))
    return float(min((r.real for r in roots if abs(r.imag) < 1e-12), key=lambda r: abs(r - 3.59)))


def write_copper_reference(path: str | os.PathLike, n_bulk: int = 300, n_slab: int = 60, seed: int = 0) -> Path:
    """:func:`copper_reference` written as extxyz (energies, forces, stress)."""
    from ase.io import write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path, copper_reference(n_bulk, n_slab, seed=seed), format="extxyz")
    return path
