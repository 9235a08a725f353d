"""Structures from files: any ASE-readable format (extxyz, .traj, ASE db, ...) or MD17 npz."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import ase.io
from ase import Atoms
from ase.io.formats import string2index

from mlcalc import keys as K
from mlcalc.data.md17 import read_md17
from mlcalc.data.labels import reference_labels

__all__ = ["read_structures", "file_sha256", "require_labels"]


def read_structures(path: str | os.PathLike, index: str | int | slice = ":") -> list[Atoms]:
    """All structures (with stored energies/forces) from ``path``; ``.npz`` is read as MD17/rMD17."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such data file: {path}")
    if path.suffix == ".npz":
        picked = read_md17(path)[string2index(index) if isinstance(index, str) else index]
        return picked if isinstance(picked, list) else [picked]
    try:
        frames = ase.io.read(path, index=index)
    except Exception as err:  # ASE raises many types for unreadable files
        raise ValueError(f"cannot read structures from {path}: {err}") from None
    return frames if isinstance(frames, list) else [frames]


def require_labels(structures: list[Atoms], forces: bool = True, source: str = "data") -> None:
    """Raise ValueError unless every structure carries an energy (and forces) where training reads them."""
    for k, atoms in enumerate(structures):
        labels = reference_labels(atoms)
        if K.ENERGY not in labels:
            raise ValueError(f"{source}: structure {k} has no reference energy")
        if forces and K.FORCES not in labels:
            raise ValueError(f"{source}: structure {k} has no reference forces")


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes (data provenance in model manifests)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
