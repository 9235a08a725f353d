"""Molecules shipped with mlcalc (GFN2-xTB-optimised geometries; see molecules/README.md)."""

from __future__ import annotations

import os
from pathlib import Path

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # ase.io is imported on first load (it pulls in scipy)
    from ase import Atoms

__all__ = ["MOLECULES", "SMILES_PREFIX", "load_molecule"]

_DIR = Path(__file__).parent / "molecules"
#: names accepted by :func:`load_molecule`
MOLECULES = ("ethanol", "n-propanol", "iso-propanol", "methyl-ethyl-ether", "uracil", "pyrimidine", "naphthalene")
#: ``smiles:CCO``: a molecule from its SMILES (RDKit geometry, seed 0)
SMILES_PREFIX = "smiles:"


def load_molecule(name_or_path: str | os.PathLike) -> Atoms:
    """A shipped molecule by name, the first structure of any ASE-readable file (e.g. XYZ), or ``smiles:SMILES``
    (any neutral closed-shell molecule: hydrogens added, RDKit's ETKDG geometry with seed 0 relaxed by MMFF94,
    not by the reference method; needs rdkit).

    A file that is empty, unreadable, or whose structure has no atoms or NaN coordinates
    raises a ValueError naming the file and the problem; so does a SMILES that RDKit cannot read or embed.
    """
    import ase.io

    if str(name_or_path).startswith(SMILES_PREFIX):
        return _from_smiles(str(name_or_path)[len(SMILES_PREFIX):].strip())
    path = Path(name_or_path)
    if path.is_file():
        from mlcalc.data.structure_files import read_structures

        return read_structures(path, index=0)[0]
    if str(name_or_path) in MOLECULES:
        return ase.io.read(_DIR / f"{name_or_path}.xyz", index=0)
    raise ValueError(f"unknown molecule {str(name_or_path)!r}: give an XYZ file, {SMILES_PREFIX}SMILES (e.g. "
                     f"{SMILES_PREFIX}CCO) or one of {', '.join(MOLECULES)}")


def _from_smiles(smiles: str) -> Atoms:
    from mlcalc.data.smiles_molecules import embed_smiles, parse_smiles_entry

    if not smiles or len(smiles.split()) > 1:
        raise ValueError(f"{SMILES_PREFIX} needs one SMILES after it, e.g. {SMILES_PREFIX}CCO; got {smiles!r}")
    return embed_smiles(parse_smiles_entry(smiles).smiles, seed=0)
