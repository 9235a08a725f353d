"""MD17 / revised MD17 ``.npz`` files as ASE Atoms with energies (eV) and forces (eV/Å).

MD17 keys: ``R`` (Å) [n, N, 3], ``z`` [N], ``E`` (kcal/mol) [n] or [n, 1], ``F`` (kcal/mol/Å).
rMD17 keys: ``coords``, ``nuclear_charges``, ``energies``, ``forces`` in the same units.
"""

from __future__ import annotations

import os

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.units import kcal, mol

__all__ = ["read_md17", "KCAL_PER_MOL"]

#: 1 kcal/mol in eV
KCAL_PER_MOL = kcal / mol
_LAYOUTS = {
    "md17": ("R", "z", "E", "F"),
    "rmd17": ("coords", "nuclear_charges", "energies", "forces"),
}


def read_md17(path: str | os.PathLike) -> list[Atoms]:
    """Every frame of an MD17 or rMD17 npz file; energies/forces attached as calculator results."""
    with np.load(path, allow_pickle=False) as data:
        keys = set(data.files)
        for names in _LAYOUTS.values():
            if set(names) <= keys:
                R, z, E, F = (np.asarray(data[k]) for k in names)
                break
        else:
            raise ValueError(
                f"{path} is not an MD17/rMD17 file: it has keys {sorted(keys)}, "
                f"expected {list(_LAYOUTS['md17'])} or {list(_LAYOUTS['rmd17'])}"
            )
    R = R.reshape(len(R), -1, 3)
    E = E.reshape(len(R))
    F = F.reshape(R.shape)
    if z.shape != (R.shape[1],):
        raise ValueError(f"{path}: {len(z)} atomic numbers but positions for {R.shape[1]} atoms")
    frames = []
    for r, e, f in zip(R, E, F):
        atoms = Atoms(numbers=z.astype(int), positions=r)
        atoms.calc = SinglePointCalculator(atoms, energy=float(e) * KCAL_PER_MOL, forces=f * KCAL_PER_MOL)
        frames.append(atoms)
    return frames
