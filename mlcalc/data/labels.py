"""Reference labels (energy, forces, stress) stored with a structure, wherever ASE keeps them."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.stress import voigt_6_to_full_3x3_stress

from mlcalc import keys as K

__all__ = ["reference_labels"]


def reference_labels(atoms: Atoms) -> dict[str, np.ndarray]:
    """Energy [1], forces [n, 3] and stress [1, 3, 3] stored with ``atoms``, where present."""
    out: dict[str, np.ndarray] = {}
    results = getattr(atoms.calc, "results", {}) if atoms.calc is not None else {}
    energy = results.get("energy", atoms.info.get(K.ENERGY))
    forces = results.get("forces", atoms.arrays.get(K.FORCES))
    stress = results.get("stress", atoms.info.get(K.STRESS))
    if energy is not None:
        out[K.ENERGY] = np.array([float(energy)])
    if forces is not None:
        out[K.FORCES] = np.asarray(forces, dtype=np.float64).reshape(len(atoms), 3)
    if stress is not None:
        stress = np.asarray(stress, dtype=np.float64)
        if stress.shape == (6,):
            stress = voigt_6_to_full_3x3_stress(stress)
        out[K.STRESS] = stress.reshape(1, 3, 3)
    return out
