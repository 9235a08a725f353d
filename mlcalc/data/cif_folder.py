"""CGCNN-style data folders: ``id_prop.csv`` (``id,target`` per line, no header) beside ``<id>.cif`` files.

An optional ``atom_init.json`` in the folder (CGCNN's element features) replaces
mlcalc's own table (:func:`mlcalc.data.elements.element_features`). CIFs are parsed
with pymatgen; a CIF that is missing or cannot be read is reported by name and skipped.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import warnings
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from ase import Atoms

from mlcalc.data.crystals import CrystalSet, build_crystal_set, structure_to_atoms

__all__ = ["read_id_prop", "read_cif", "load_cif_folder", "folder_atom_features"]


def read_id_prop(folder: str | os.PathLike) -> dict[str, float]:
    """``id_prop.csv`` of ``folder`` as id -> target (NaN where the target column is empty or missing).

    ValueError naming the file and line for a non-numeric target or a repeated id.
    """
    path = Path(folder) / "id_prop.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not a CGCNN data folder: it has no id_prop.csv (lines 'id,target')")
    out: dict[str, float] = {}
    with open(path, newline="") as fh:
        for line, row in enumerate(csv.reader(fh), start=1):
            if not row or not row[0].strip():
                continue
            name = row[0].strip()
            text = row[1].strip() if len(row) > 1 else ""
            try:
                value = float(text) if text else math.nan
            except ValueError:
                raise ValueError(f"{path} line {line}: target {text!r} of {name!r} is not a number "
                                 "(id_prop.csv has lines 'id,target' and no header)") from None
            if name in out:
                raise ValueError(f"{path} line {line}: id {name!r} appears twice")
            out[name] = value
    if not out:
        raise ValueError(f"{path} lists no structures")
    return out


def read_cif(path: str | os.PathLike) -> Atoms:
    """One CIF (first structure) read by pymatgen, as periodic Atoms; ValueError if it holds no structure."""
    from pymatgen.core import Structure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns about every CIF oddity it repairs
        structure = Structure.from_file(str(path))
    if len(structure) == 0:
        raise ValueError("no atoms")
    return structure_to_atoms(structure)


def _reader(folder: Path):
    def read(ids: Sequence[str]) -> Iterator[tuple[str, Atoms | Exception]]:
        for name in ids:
            path = folder / f"{name}.cif"
            try:
                if not path.is_file():
                    raise FileNotFoundError(f"{path.name} not found")
                yield name, read_cif(path)
            except Exception as err:  # any parse failure: report the file and go on
                yield name, err
    return read


def folder_atom_features(folder: str | os.PathLike) -> np.ndarray | None:
    """The folder's ``atom_init.json`` as a feature table, or None when it has none."""
    from mlcalc.data.elements import read_atom_init

    path = Path(folder) / "atom_init.json"
    return read_atom_init(path) if path.is_file() else None


def load_cif_folder(folder: str | os.PathLike, radius: float, max_neighbors: int | None,
                    cache: str | os.PathLike | None = None, progress: bool = True) -> CrystalSet:
    """All structures of a CGCNN folder with their targets and graphs (cached; unreadable CIFs skipped)."""
    folder = Path(folder)
    targets = read_id_prop(folder)
    digest = hashlib.sha256((folder / "id_prop.csv").read_bytes())
    for name in targets:
        path = folder / f"{name}.cif"
        digest.update(name.encode() + (path.read_bytes() if path.is_file() else b"<missing>"))
    return build_crystal_set(list(targets), targets, _reader(folder), radius, max_neighbors,
                             key={"source": "cif_folder", "sha256": digest.hexdigest()}, cache=cache,
                             progress=progress, source=f"CGCNN folder {folder.resolve()}")
