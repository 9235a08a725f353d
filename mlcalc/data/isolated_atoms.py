"""Energies (eV) of free neutral atoms with a reference method (GFN2-xTB, GFN1-xTB via tblite).

Each atom is taken in the spin of the real atom's ground state (Hund's rule, from ASE's
``ground_state_magnetic_moments``: H doublet, C triplet, N quartet, O triplet, Fe quintet, ...),
not the method's lowest (GFN1-xTB would put C in a quintet, 0.41 eV below its triplet).
The xTB Hamiltonians have no spin term of their own, so the atoms are computed with
tblite's spin polarisation (spin-polarised GFN-xTB); it leaves closed-shell molecules,
such as the reference data, unchanged (ethanol: equal to 1e-12 eV), so atoms and
molecules are energies of one method. Without it a free atom's energy would not depend
on its spin except through the electronic smearing (the triplet O 0.05 eV *above* the
singlet) and GFN2-xTB's atomisation energy of ethanol would be 45.5 eV instead of 35.8 eV.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable

from mlcalc.errors import MLCalcError

__all__ = ["REFERENCE_METHODS", "reference_method", "isolated_atom_energies", "isolated_atom",
           "ground_state_multiplicity"]

#: reference names (as in :func:`mlcalc.named_calculators.get_calculator` and training configs) -> tblite method
REFERENCE_METHODS = {"gfn2-xtb": "GFN2-xTB", "xtb": "GFN2-xTB", "gfn1-xtb": "GFN1-xTB"}

def reference_method(reference: str) -> str:
    """The tblite method name of ``reference`` (case-insensitive); MLCalcError naming the known ones."""
    method = REFERENCE_METHODS.get(str(reference).lower())
    if method is None:
        raise MLCalcError(f"no isolated-atom energies for reference {reference!r}; known: {', '.join(REFERENCE_METHODS)}")
    return method


def ground_state_multiplicity(z: int) -> int:
    """Spin multiplicity 2S + 1 of the free neutral atom ``z`` in its ground state (Hund's rule)."""
    from ase.data import ground_state_magnetic_moments

    return int(round(float(ground_state_magnetic_moments[z]))) + 1


@lru_cache(maxsize=None)
def isolated_atom(method: str, z: int, multiplicity: int | None = None) -> float:
    """Energy (eV) of the free neutral atom ``z`` with tblite ``method`` (cached).

    ``multiplicity``: 2S + 1 (default: the ground state's, :func:`ground_state_multiplicity`).
    """
    from ase import Atoms

    from mlcalc.data.xtb import xtb_calculator

    multiplicity = multiplicity or ground_state_multiplicity(z)
    atom = Atoms(numbers=[z])
    atom.calc = xtb_calculator(method, multiplicity=multiplicity, spin_polarization=1.0)
    try:
        return float(atom.get_potential_energy())
    except Exception as err:  # e.g. a multiplicity the atom's electrons cannot have
        raise MLCalcError(f"{method} gives no energy for the free atom Z={z} with multiplicity {multiplicity}: "
                          f"{err}") from None


def isolated_atom_energies(reference: str, numbers: Iterable[int]) -> dict[int, float]:
    """``{z: energy in eV}`` of the free atoms of the elements in ``numbers`` with ``reference`` (e.g. "gfn2-xtb")."""
    method = reference_method(reference)
    return {int(z): isolated_atom(method, int(z)) for z in sorted({int(z) for z in numbers})}
