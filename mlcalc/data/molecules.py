"""Molecules shipped with mlcalc (GFN2-xTB-optimised geometries; see molecules/README.md)."""

from __future__ import annotations

import os
from pathlib import Path

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # ase.io is imported on first load (it pulls in scipy)
    from ase import Atoms

__all__ = ["MOLECULES", "load_molecule"]

_DIR = Path(__file__).parent / "molecules"
#: names accepted by :func:`load_molecule`
MOLECULES = ("ethanol", "n-propanol", "iso-propanol", "methyl-ethyl-ether", "uracil", "pyrimidine", "naphthalene")


def load_molecule(name_or_path: str | os.PathLike) -> Atoms:
    """A shipped molecule by name, or the first structure of any ASE-readable file (e.g. XYZ).

    A file that is empty, unreadable, or whose structure has no atoms or NaN coordinates
    raises a ValueError naming the file and the problem.
    """
    import ase.io

    path = Path(name_or_path)
    if path.is_file():
        from mlcalc.data.structure_files import read_structures

        return read_structures(path, index=0)[0]
    if str(name_or_path) in MOLECULES:
        return ase.io.read(_DIR / f"{name_or_path}.xyz", index=0)
    raise ValueError(f"unknown molecule {str(name_or_path)!r}: give an XYZ file or one of {', '.join(MOLECULES)}")
