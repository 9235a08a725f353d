"""Initial velocities for MD: Maxwell-Boltzmann, seeded, with no net momentum or rotation."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation

__all__ = ["initialise_velocities"]


def initialise_velocities(atoms: Atoms, temperature: float, seed: int = 0, rng: np.random.Generator | None = None,
                          rescale: bool = True) -> None:
    """Set ``atoms`` momenta from a Maxwell-Boltzmann distribution at ``temperature`` K.

    The total linear momentum is removed, and for non-periodic systems of more than two
    atoms the angular momentum too (a free molecule must not spin up or drift). With
    ``rescale`` the velocities are then scaled so that ``atoms.get_temperature()`` equals
    ``temperature`` exactly (a few atoms sampled from the distribution can be far from it).
    Seeded: draws from ``rng`` if given (which moves on), else from
    ``np.random.default_rng(seed)``; the same seed and structure give the same velocities.
    """
    if temperature < 0 or not np.isfinite(temperature):
        raise ValueError(f"temperature must be a non-negative number of kelvin, got {temperature}")
    rng = rng if rng is not None else np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
    Stationary(atoms)
    if not atoms.pbc.any() and len(atoms) > 2:
        ZeroRotation(atoms)
    current = atoms.get_temperature()
    if rescale and current > 0:
        atoms.set_momenta(atoms.get_momenta() * np.sqrt(temperature / current), apply_constraint=False)
