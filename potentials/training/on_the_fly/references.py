"""The reference methods that label frames while MD learns on the fly, by name (:data:`mlcalc.md.settings.LEARN_REFERENCES`)."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator

__all__ = ["reference_factory", "label", "method_of"]


def reference_factory(name: str) -> Callable[[], Calculator]:
    """A function making a fresh calculator of ``name``: GFN2-/GFN1-xTB (tblite, its default accuracy, as training
    data) or ASE's EMT. Fresh per call, so that a label does not depend on the calls before it (a resumed run
    labels as the uninterrupted one)."""
    if name in ("gfn2-xtb", "gfn1-xtb"):
        from mlcalc.data.xtb import xtb_calculator

        method = {"gfn2-xtb": "GFN2-xTB", "gfn1-xtb": "GFN1-xTB"}[name]
        return lambda: xtb_calculator(method)
    if name == "emt":
        from ase.calculators.emt import EMT

        return EMT
    raise ValueError(f"unknown reference {name!r}; choose gfn2-xtb, gfn1-xtb or emt")


def method_of(name: str) -> str | None:
    """The level of theory a foundation parent is moved to before training (None: EMT, no isolated-atom data)."""
    return name if name in ("gfn2-xtb", "gfn1-xtb") else None


def label(atoms: Atoms, calculator: Calculator) -> tuple[Atoms, float]:
    """(a copy of ``atoms``' structure with the reference energy (eV) and forces (eV/Å) as single-point
    results, the call's wall time in s)."""
    copy = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    copy.calc = calculator
    start = time.perf_counter()
    energy, forces = float(copy.get_potential_energy()), np.array(copy.get_forces(), dtype=np.float64)
    seconds = time.perf_counter() - start
    copy.calc = SinglePointCalculator(copy, energy=energy, forces=forces)
    return copy, seconds
