"""Molecules that general models never train on: every target of a study, the demo, a shipped molecule or a test.

A molecule is identified by its RDKit canonical SMILES without stereochemistry (isomers
differ, stereoisomers count as one molecule), so a QM9 entry matches a shipped XYZ file
whatever its geometry or atom order. The shipped molecules' SMILES are perceived from
their XYZ files (RDKit's bond determination, neutral); :data:`EXTRA_HELD_OUT` adds
molecules that studies and tests give as files.
"""

from __future__ import annotations

from functools import lru_cache

from ase import Atoms

__all__ = ["EXTRA_HELD_OUT", "rdkit_chem", "canonical_smiles", "parse_smarts", "smiles_of_atoms", "held_out_molecules"]

#: name -> SMILES of held-out molecules that are not shipped as XYZ files (the hidden-molecule study's files)
EXTRA_HELD_OUT: dict[str, str] = {"methanol": "CO", "dimethyl-ether": "COC", "propane": "CCC"}


def rdkit_chem():
    """RDKit's Chem module, its logging off; ImportError in one line naming the extra if rdkit is missing."""
    try:
        from rdkit import Chem, RDLogger
    except ImportError:
        raise ImportError("molecule identities need rdkit: pip install 'mlcalc[explain]'") from None
    RDLogger.DisableLog("rdApp.*")
    return Chem


def canonical_smiles(smiles: str) -> str:
    """RDKit canonical SMILES of ``smiles`` without stereochemistry; ValueError if RDKit cannot parse it."""
    Chem = rdkit_chem()
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"RDKit cannot parse the SMILES {smiles!r}")
    return Chem.MolToSmiles(mol, isomericSmiles=False)


def parse_smarts(pattern: str):
    """RDKit query molecule of the SMARTS ``pattern``; ValueError naming it if RDKit cannot parse it."""
    Chem = rdkit_chem()
    query = Chem.MolFromSmarts(pattern) if pattern.strip() else None
    if query is None:
        raise ValueError(f"RDKit cannot parse the SMARTS pattern {pattern!r} (e.g. c1ccccc1: a benzene ring)")
    return query


def smiles_of_atoms(atoms: Atoms, charge: int = 0) -> str:
    """Canonical SMILES (no stereochemistry) of a molecule's geometry, bonds perceived by RDKit."""
    Chem = rdkit_chem()
    from rdkit.Chem import rdDetermineBonds

    block = f"{len(atoms)}\n\n" + "\n".join(f"{s} {x:.6f} {y:.6f} {z:.6f}"
                                             for s, (x, y, z) in zip(atoms.get_chemical_symbols(), atoms.positions))
    mol = Chem.MolFromXYZBlock(block)
    try:
        rdDetermineBonds.DetermineBonds(mol, charge=charge)
    except ValueError as err:
        raise ValueError(f"cannot perceive the bonds of {atoms.get_chemical_formula()}: {err}") from None
    return Chem.MolToSmiles(Chem.RemoveHs(mol), isomericSmiles=False)


@lru_cache(maxsize=1)
def held_out_molecules() -> dict[str, str]:
    """Name -> canonical SMILES of every held-out molecule: the shipped ones (from their XYZ) and the extras."""
    from mlcalc.data.molecules import MOLECULES, load_molecule

    held = {name: smiles_of_atoms(load_molecule(name)) for name in MOLECULES}
    held.update({name: canonical_smiles(s) for name, s in EXTRA_HELD_OUT.items()})
    return held
