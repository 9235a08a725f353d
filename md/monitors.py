"""Blow-up detection during MD: non-finite numbers, runaway forces, broken bonds, ensemble disagreement."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.geometry import find_mic

from mlcalc.bonds import bonded_pairs

__all__ = ["BlowUpError", "BlowUpMonitor", "bonded_pairs"]


class BlowUpError(RuntimeError):
    """The simulation became unphysical at ``step``; ``reason`` says how."""

    def __init__(self, step: int, reason: str):
        super().__init__(f"MD blew up at step {step}: {reason}")
        self.step = step
        self.reason = reason


def _bond_lengths(atoms: Atoms, pairs: np.ndarray) -> np.ndarray:
    positions = atoms.arrays["positions"]
    vectors = positions[pairs[:, 1]] - positions[pairs[:, 0]]
    if atoms.pbc.any():
        vectors, _ = find_mic(vectors, atoms.cell, atoms.pbc)
    return np.sqrt(np.einsum("ij,ij->i", vectors, vectors))


@dataclass
class BlowUpMonitor:
    """Stops MD that has gone wrong.

    ``max_force`` (eV/Å): largest allowed force on any atom (None: no limit).
    ``bond_stretch``: largest allowed ratio of a bond's length to its length in the
    first frame (bonds found once, at :meth:`start`; None: no check). Non-finite
    positions, energies or forces always stop the run. ``max_uncertainty`` (eV/Å): largest
    allowed force uncertainty of an ensemble (its calculator's ``uncertainty`` result;
    None: no check); with ``uncertainty_action="flag"`` it does not stop the run, and
    :meth:`flagged` tells the caller instead.
    """

    max_force: float | None = 50.0
    bond_stretch: float | None = 2.0
    max_uncertainty: float | None = None
    uncertainty_action: str = "stop"
    pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=int), init=False)
    start_lengths: np.ndarray = field(default_factory=lambda: np.zeros(0), init=False)

    def __post_init__(self):
        if self.max_force is not None and self.max_force <= 0:
            raise ValueError(f"max_force must be positive (eV/Å) or None, got {self.max_force}")
        if self.bond_stretch is not None and self.bond_stretch <= 1:
            raise ValueError(f"bond_stretch must be a factor above 1 or None, got {self.bond_stretch}")
        if self.max_uncertainty is not None and self.max_uncertainty <= 0:
            raise ValueError(f"max_uncertainty must be positive (eV/Å) or None, got {self.max_uncertainty}")
        if self.uncertainty_action not in ("stop", "flag"):
            raise ValueError(f"uncertainty_action must be stop or flag, got {self.uncertainty_action!r}")

    def start(self, atoms: Atoms) -> None:
        """Record the bonds of the starting structure and their lengths."""
        self.pairs = bonded_pairs(atoms)
        self.start_lengths = _bond_lengths(atoms, self.pairs)

    def check(self, atoms: Atoms, step: int) -> None:
        """Raise :class:`BlowUpError` if ``atoms`` (with its calculator's latest results) is unphysical."""
        # one reduction per array (a sum is finite only if every entry is; it runs once per system and step)
        if not np.isfinite(atoms.arrays["positions"].sum()) and not np.isfinite(atoms.positions).all():
            raise BlowUpError(step, "positions are not finite (NaN or inf)")
        results = atoms.calc.results if atoms.calc is not None else {}
        energy = results.get("energy")
        if energy is not None and not np.isfinite(energy):
            raise BlowUpError(step, f"potential energy is {energy}")
        forces = results.get("forces")
        if forces is not None and len(forces):
            squared = np.einsum("ij,ij->i", forces, forces)
            worst = int(np.argmax(squared))  # the first NaN, if any
            if not np.isfinite(squared[worst]) and not np.isfinite(forces).all():
                raise BlowUpError(step, "forces are not finite (NaN or inf)")
            if self.max_force is not None and squared[worst] > self.max_force ** 2:
                raise BlowUpError(step, f"force on atom {worst} ({atoms.get_chemical_symbols()[worst]}) is "
                                        f"{np.sqrt(squared[worst]):.1f} eV/Å, above the limit of {self.max_force:g} eV/Å")
        if self.uncertainty_action == "stop" and self.flagged(atoms):
            uncertainty = results["uncertainty"]
            raise BlowUpError(step, f"force uncertainty of the ensemble is {uncertainty:.3g} eV/Å, above the limit of "
                                    f"{self.max_uncertainty:g} eV/Å (the members disagree: the model extrapolates)")
        if self.bond_stretch is not None and len(self.pairs):
            ratio = _bond_lengths(atoms, self.pairs) / self.start_lengths
            worst = int(np.argmax(ratio))
            if ratio[worst] > self.bond_stretch:
                i, j = self.pairs[worst]
                symbols = atoms.get_chemical_symbols()
                raise BlowUpError(step, f"bond {symbols[i]}{i}-{symbols[j]}{j} stretched to {ratio[worst]:.2f} times "
                                        f"its starting length {self.start_lengths[worst]:.2f} Å "
                                        f"(limit {self.bond_stretch:g})")

    def flagged(self, atoms: Atoms) -> bool:
        """Whether the force uncertainty in ``atoms``' calculator results exceeds ``max_uncertainty`` (or is NaN)."""
        results = atoms.calc.results if atoms.calc is not None else {}
        uncertainty = results.get("uncertainty")
        return self.max_uncertainty is not None and uncertainty is not None and not uncertainty <= self.max_uncertainty
