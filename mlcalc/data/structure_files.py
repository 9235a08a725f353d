"""Structures from files: any ASE-readable format (extxyz, .traj, ASE db, ...) or MD17 npz."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.io.formats import string2index

from mlcalc import keys as K
from mlcalc.data.md17 import read_md17
from mlcalc.data.labels import reference_labels

__all__ = ["read_structures", "check_structures", "file_sha256", "require_labels"]


def read_structures(path: str | os.PathLike, index: str | int | slice = ":") -> list[Atoms]:
    """All structures (with stored energies/forces) from ``path``; ``.npz`` is read as MD17/rMD17, a frame
    folder (:mod:`mlcalc.data.frame_folder`, e.g. ``mlcalc data broad``) as all its frames.

    Raises ``FileNotFoundError``/``ValueError`` naming the file and what is wrong: missing,
    empty, not a structure file (binary, unknown format), no structures, or a structure
    without atoms or with NaN/infinite coordinates (:func:`check_structures`).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such data file: {path}")
    if path.is_dir():
        from mlcalc.data.frame_folder import read_frame_folder

        frames = read_frame_folder(path, index)
        check_structures(frames, str(path))
        return frames
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty: no structures to read")
    if path.suffix == ".npz":
        picked = read_md17(path)[string2index(index) if isinstance(index, str) else index]
        frames = picked if isinstance(picked, list) else [picked]
    else:
        try:
            frames = ase.io.read(path, index=index)
        except UnicodeDecodeError:
            raise ValueError(f"cannot read structures from {path}: binary content, not a {path.suffix or 'text'} "
                             "structure file") from None
        except Exception as err:  # ASE raises many types for unreadable files
            raise ValueError(f"cannot read structures from {path}: {' '.join(str(err).split())}") from None
        frames = frames if isinstance(frames, list) else [frames]
    check_structures(frames, str(path))
    return frames


def check_structures(structures: list[Atoms], source: str = "structures") -> None:
    """Raise ValueError unless there is a structure and each has atoms and finite coordinates and cell."""
    if not structures:
        raise ValueError(f"{source} holds no structures")
    for k, atoms in enumerate(structures):
        where = f"{source} frame {k}" if len(structures) > 1 else source
        if len(atoms) == 0:
            raise ValueError(f"{where} has no atoms")
        bad = np.flatnonzero(~np.isfinite(atoms.positions).all(axis=1))
        if bad.size:
            raise ValueError(f"{where}: coordinates of atom(s) {bad[:10].tolist()} are NaN or infinite")
        if not np.isfinite(atoms.cell.array).all():
            raise ValueError(f"{where}: the cell has NaN or infinite entries")


def require_labels(structures: list[Atoms], forces: bool = True, source: str = "data") -> None:
    """Raise ValueError unless every structure carries an energy (and forces) where training reads them."""
    for k, atoms in enumerate(structures):
        labels = reference_labels(atoms)
        if K.ENERGY not in labels:
            raise ValueError(f"{source}: structure {k} has no reference energy")
        if forces and K.FORCES not in labels:
            raise ValueError(f"{source}: structure {k} has no reference forces")


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes (data provenance in model manifests); of a frame folder, the sha256 of its
    finished molecules' keys and shard digests (in key order)."""
    if Path(path).is_dir():
        from mlcalc.data.frame_folder import FrameFolder

        folder = FrameFolder(path)
        lines = "".join(f"{key} {file_sha256(folder.shard_path(key))}\n" for key in sorted(folder.keys))
        return hashlib.sha256(lines.encode()).hexdigest()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
