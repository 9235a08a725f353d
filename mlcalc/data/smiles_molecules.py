"""Molecules given as SMILES: read a SMILES file, check an entry, and build a 3-D geometry (RDKit).

A SMILES entry is ``"SMILES"`` or ``"SMILES NAME"`` (a ``.smi`` line: the SMILES, then anything after
whitespace names it). Only neutral closed-shell molecules are accepted: the reference methods label
them without a charge or spin. Geometries come from RDKit's ETKDG embedding (seeded), then its MMFF94
force field (UFF where MMFF lacks parameters): a start for the reference method's own relaxation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

__all__ = ["SMILES_FILE_SUFFIXES", "SmilesEntry", "read_smiles_file", "parse_smiles_entry", "embed_smiles"]

#: a ``smiles`` item ending in one of these (or naming an existing file) is a file of SMILES lines, not a SMILES
SMILES_FILE_SUFFIXES = (".smi", ".txt")

#: the heaviest element the xTB methods have parameters for (radon)
_HEAVIEST = 86


@dataclass(frozen=True)
class SmilesEntry:
    """One checked SMILES: ``canonical`` (RDKit, no stereochemistry), ``name`` (may be empty), ``key`` (stable id)."""

    smiles: str
    canonical: str
    name: str

    @property
    def key(self) -> str:
        """``smi-`` and 12 hex digits of the canonical SMILES' SHA-1: the same molecule, the same key."""
        return "smi-" + hashlib.sha1(self.canonical.encode()).hexdigest()[:12]


def read_smiles_file(path: str | Path) -> list[str]:
    """The entries of a SMILES file: one per line, blank lines and ``#`` comments skipped; each line checked
    (ValueError naming the file and line)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"SMILES file {str(path)!r} not found (one SMILES per line, optionally a name after it)")
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = "" if line.lstrip().startswith("#") else line.strip()  # '#' inside a SMILES is a triple bond
        if not text:
            continue
        try:
            parse_smiles_entry(text)
        except ValueError as err:
            raise ValueError(f"{path}, line {number}: {err}") from None
        entries.append(" ".join(text.split()))
    if not entries:
        raise ValueError(f"SMILES file {str(path)!r} holds no SMILES")
    return entries


def parse_smiles_entry(entry: str) -> SmilesEntry:
    """``"SMILES [NAME]"`` checked: RDKit reads it, every element has xTB parameters, no net charge, no radical."""
    from mlcalc.data.held_out import canonical_smiles

    parts = entry.split(maxsplit=1)
    if not parts:
        raise ValueError("an empty SMILES")
    smiles, name = parts[0], (parts[1] if len(parts) > 1 else "")
    canonical = canonical_smiles(smiles)
    mol = _molecule(smiles)
    charge = sum(atom.GetFormalCharge() for atom in mol.GetAtoms())
    if charge:
        raise ValueError(f"{smiles!r} has a net charge of {charge:+d}; only neutral molecules can be labelled")
    if any(atom.GetNumRadicalElectrons() for atom in mol.GetAtoms()):
        raise ValueError(f"{smiles!r} is a radical; only closed-shell molecules can be labelled")
    odd = sorted({atom.GetSymbol() for atom in mol.GetAtoms() if not 0 < atom.GetAtomicNum() <= _HEAVIEST})
    if odd:
        raise ValueError(f"{smiles!r} holds {', '.join(odd)}: elements H to Rn only")
    return SmilesEntry(smiles=smiles, canonical=canonical, name=name)


def embed_smiles(smiles: str, seed: int) -> Atoms:
    """A 3-D geometry (Å) of ``smiles`` with its hydrogens: ETKDG embedding seeded by ``seed``, then MMFF94
    (UFF without MMFF parameters). ValueError if RDKit finds no embedding."""
    mol = _molecule(smiles)  # first: a missing rdkit is said in one line
    from rdkit.Chem import AllChem

    mol = AllChem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed) % 2**31
    if AllChem.EmbedMolecule(mol, params) != 0:
        raise ValueError(f"RDKit finds no 3-D embedding of {smiles!r}")
    if AllChem.MMFFHasAllMoleculeParams(mol):
        AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
    else:
        AllChem.UFFOptimizeMolecule(mol, maxIters=2000)
    numbers = [atom.GetAtomicNum() for atom in mol.GetAtoms()]
    return Atoms(numbers=numbers, positions=np.asarray(mol.GetConformer().GetPositions(), dtype=float))


def _molecule(smiles: str):
    from mlcalc.data.held_out import rdkit_chem

    mol = rdkit_chem().MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"RDKit cannot parse the SMILES {smiles!r}")
    return mol
