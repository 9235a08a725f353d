"""A calculator from a name: an mlcalc model (file or shipped name) or the GFN2-xTB reference."""

from __future__ import annotations

import os

import torch
from ase.calculators.calculator import Calculator

__all__ = ["REFERENCE_NAMES", "get_calculator", "is_reference"]

#: names that mean the GFN2-xTB reference (tblite) instead of a model
REFERENCE_NAMES = ("gfn2-xtb", "xtb")


def is_reference(name: str | os.PathLike) -> bool:
    return str(name).lower() in REFERENCE_NAMES


def get_calculator(name: str | os.PathLike, dtype: torch.dtype = torch.float32) -> Calculator:
    """``"gfn2-xtb"`` (or ``"xtb"``): the tblite reference, converged tightly enough for NVE MD
    (:data:`~mlcalc.data.xtb.MD_ACCURACY`); anything else: ``MLCalc.load(name, dtype=dtype)``."""
    if is_reference(name):
        from mlcalc.data.xtb import MD_ACCURACY, xtb_calculator

        return xtb_calculator(accuracy=MD_ACCURACY)
    from mlcalc.calculator import MLCalc

    return MLCalc.load(name, dtype=dtype)
