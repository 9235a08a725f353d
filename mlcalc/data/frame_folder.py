"""A frame folder: labelled frames of many molecules, one ``.npz`` shard per molecule plus an append-only index.

Layout::

    <folder>/index.jsonl        one JSON line per finished molecule (status done or failed)
    <folder>/shards/<key>.npz   numbers [n_atoms], positions [n_frames, n_atoms, 3] (Å),
                                energy [n_frames] (eV), forces [n_frames, n_atoms, 3] (eV/Å),
                                temperature [n_frames] (K, the bath the frame was drawn at)
    <folder>/settings.json      what made the frames (the writer's business)

Why this form: a molecule is the unit of work and of resume, so each finished molecule is
one shard written atomically (temporary file, then rename) and then one index line
(flushed); a killed writer loses only the molecules in flight, and a shard without its
index line is simply redone. Shards hold plain arrays (no pickle), so a reader can stream
10^5-10^6 frames molecule by molecule or concatenate them into flat arrays
(:meth:`FrameFolder.arrays`) without building an ``Atoms`` object per frame.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from ase import Atoms

__all__ = ["FrameFolder", "FlatFrames", "INDEX_FILE", "is_frame_folder", "read_frame_folder", "write_shard",
           "write_failure"]

INDEX_FILE = "index.jsonl"
SHARDS = "shards"
_ARRAYS = ("numbers", "positions", "energy", "forces", "temperature")


def is_frame_folder(path: str | os.PathLike) -> bool:
    """True if ``path`` is a folder with a frame-folder index."""
    return (Path(path) / INDEX_FILE).is_file()


@dataclass(frozen=True)
class FlatFrames:
    """Every frame of a folder as flat arrays: frame k has atoms ``offsets[k]:offsets[k+1]``.

    ``numbers`` int64 [n_atoms_total]; ``positions``, ``forces`` float64 [n_atoms_total, 3]
    (Å, eV/Å); ``energy``, ``temperature`` float64 [n_frames]; ``molecule`` int64 [n_frames]:
    the row of the frame's molecule in ``keys``.
    """

    numbers: np.ndarray
    positions: np.ndarray
    forces: np.ndarray
    energy: np.ndarray
    temperature: np.ndarray
    offsets: np.ndarray
    molecule: np.ndarray
    keys: list[str]
    reference: str | None = None

    def __len__(self) -> int:
        return len(self.energy)

    def __getitem__(self, k: int) -> Atoms:
        """Frame ``k`` as Atoms (made on demand: a list of frames without an Atoms object per frame)."""
        if not -len(self) <= k < len(self):
            raise IndexError(f"frame {k} of {len(self)}")
        return self.atoms(int(k) % len(self))

    def frames_of(self, molecules: np.ndarray) -> np.ndarray:
        """Indices of every frame of the molecule rows ``molecules`` (rows of ``keys``), sorted."""
        return np.flatnonzero(np.isin(self.molecule, molecules))

    def atom_rows(self, frames: np.ndarray) -> np.ndarray:
        """Rows of ``numbers``/``positions``/``forces`` that belong to the frames ``frames``."""
        frames = np.asarray(frames, dtype=np.int64)
        sizes = self.offsets[frames + 1] - self.offsets[frames]
        starts = np.repeat(self.offsets[frames] - np.cumsum(sizes) + sizes, sizes)
        return starts + np.arange(int(sizes.sum()))

    def element_counts(self, frames: np.ndarray) -> tuple[list[int], np.ndarray]:
        """``(elements, counts)``: the sorted atomic numbers of ``frames`` and their [frames, elements] counts."""
        frames = np.asarray(frames, dtype=np.int64)
        sizes = self.offsets[frames + 1] - self.offsets[frames]
        numbers = self.numbers[self.atom_rows(frames)]
        elements, column = np.unique(numbers, return_inverse=True)
        counts = np.zeros((len(frames), len(elements)))
        np.add.at(counts, (np.repeat(np.arange(len(frames)), sizes), column), 1.0)
        return [int(z) for z in elements], counts

    def atoms(self, k: int) -> Atoms:
        """Frame ``k`` as Atoms with its energy and forces (a SinglePointCalculator)."""
        from ase.calculators.singlepoint import SinglePointCalculator

        lo, hi = self.offsets[k], self.offsets[k + 1]
        atoms = Atoms(self.numbers[lo:hi], self.positions[lo:hi])
        atoms.calc = SinglePointCalculator(atoms, energy=float(self.energy[k]), forces=self.forces[lo:hi].copy())
        atoms.info["molecule"] = self.keys[self.molecule[k]]
        if self.reference:
            atoms.info["reference"] = self.reference
        return atoms


def read_frame_folder(path: str | os.PathLike, index: str | int | slice = ":") -> list[Atoms]:
    """The frames ``index`` (ASE's index syntax) of the frame folder ``path`` as Atoms with energy and forces.

    Each frame's ``info`` names its molecule and the method in the folder's ``settings.json``
    (``reference``), which training reads for isolated-atom energies. Training reads large
    folders through :meth:`FrameFolder.arrays` instead (frames made on demand).
    """
    from ase.io.formats import string2index

    if not is_frame_folder(path):
        raise ValueError(f"{path} is a folder but not a frame folder (no {INDEX_FILE}); give a structure file")
    flat = FrameFolder(path).arrays()
    picked = range(len(flat))[string2index(index) if isinstance(index, str) else index]
    return [flat.atoms(k) for k in picked] if isinstance(picked, range) else [flat[picked]]


def write_shard(folder: str | os.PathLike, key: str, arrays: dict[str, np.ndarray], record: dict[str, Any]) -> None:
    """Add molecule ``key`` to the frame folder: its shard (atomically), then its index line (flushed).

    ``arrays``: the shard's arrays (see the module docstring); ``record``: JSON-able facts kept
    in the index (smiles, source id, timings). A failed molecule goes through :func:`write_failure`.
    """
    folder = Path(folder)
    missing = [name for name in _ARRAYS if name not in arrays]
    if missing:
        raise ValueError(f"shard {key} lacks {missing}")
    shards = folder / SHARDS
    shards.mkdir(parents=True, exist_ok=True)
    path = shards / f"{key}.npz"
    tmp = path.with_name(f".{key}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **{name: np.asarray(arrays[name]) for name in _ARRAYS})
    os.replace(tmp, path)
    n_frames, n_atoms = np.asarray(arrays["positions"]).shape[:2]
    _append(folder, {**record, "key": key, "status": "done", "frames": int(n_frames), "atoms": int(n_atoms)})


def write_failure(folder: str | os.PathLike, key: str, reason: str, record: dict[str, Any]) -> None:
    """Record that molecule ``key`` failed (``reason``: one line); it is skipped, not retried, on resume."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    _append(Path(folder), {**record, "key": key, "status": "failed", "reason": reason})


def _append(folder: Path, line: dict[str, Any]) -> None:
    with open(folder / INDEX_FILE, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


class FrameFolder:
    """Read a frame folder: its index, molecule by molecule, as flat arrays or as Atoms."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not is_frame_folder(self.path):
            raise FileNotFoundError(f"{self.path} is not a frame folder (no {INDEX_FILE})")
        self.records: dict[str, dict[str, Any]] = {}
        self.failures: dict[str, dict[str, Any]] = {}
        for record in _read_index(self.path / INDEX_FILE):
            if record["status"] == "done" and (self.path / SHARDS / f"{record['key']}.npz").is_file():
                self.records[record["key"]] = record
                self.failures.pop(record["key"], None)
            elif record["status"] == "failed" and record["key"] not in self.records:
                self.failures[record["key"]] = record

    @property
    def keys(self) -> list[str]:
        """Keys of the finished molecules, in the order they were written."""
        return list(self.records)

    @property
    def n_frames(self) -> int:
        return sum(r["frames"] for r in self.records.values())

    def shard_path(self, key: str) -> Path:
        return self.path / SHARDS / f"{key}.npz"

    def provenance(self) -> dict[str, Any]:
        """What a model manifest records of the folder: molecules, frames, held-out molecules, reference."""
        settings = self.path / "settings.json"
        stored = json.loads(settings.read_text()) if settings.is_file() else {}
        return {"molecules": len(self.records), "frames": self.n_frames, "held_out": stored.get("held_out", {}),
                "reference": stored.get("reference"), "generation": stored.get("settings", {})}

    def shard(self, key: str) -> dict[str, np.ndarray]:
        """The arrays of molecule ``key``."""
        with np.load(self.shard_path(key), allow_pickle=False) as data:
            return {name: data[name] for name in data.files}

    def molecules(self, keys: list[str] | None = None) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
        """``(key, arrays)`` of each molecule (default: all), one shard in memory at a time."""
        for key in self.keys if keys is None else keys:
            yield key, self.shard(key)

    def arrays(self, keys: list[str] | None = None) -> FlatFrames:
        """The frames of ``keys`` (default: all) concatenated into :class:`FlatFrames`."""
        keys = self.keys if keys is None else list(keys)
        parts: dict[str, list[np.ndarray]] = {name: [] for name in ("numbers", "positions", "forces")}
        energy, temperature, molecule, sizes = [], [], [], []
        for row, (key, shard) in enumerate(self.molecules(keys)):
            n_frames, n_atoms = shard["positions"].shape[:2]
            parts["numbers"].append(np.tile(shard["numbers"], n_frames))
            parts["positions"].append(shard["positions"].reshape(-1, 3))
            parts["forces"].append(shard["forces"].reshape(-1, 3))
            energy.append(shard["energy"])
            temperature.append(shard["temperature"])
            molecule.append(np.full(n_frames, row))
            sizes.append(np.full(n_frames, n_atoms))
        if not keys:
            raise ValueError(f"{self.path} holds no finished molecule")
        sizes = np.concatenate(sizes)
        return FlatFrames(numbers=np.concatenate(parts["numbers"]).astype(np.int64),
                          positions=np.concatenate(parts["positions"]), forces=np.concatenate(parts["forces"]),
                          energy=np.concatenate(energy), temperature=np.concatenate(temperature),
                          offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
                          molecule=np.concatenate(molecule).astype(np.int64), keys=keys,
                          reference=self.provenance()["reference"])

    def structures(self, keys: list[str] | None = None) -> list[Atoms]:
        """Every frame of ``keys`` (default: all) as Atoms with energy and forces."""
        flat = self.arrays(keys)
        return [flat.atoms(k) for k in range(len(flat))]


def _read_index(path: Path) -> Iterator[dict[str, Any]]:
    """The index's records; a torn last line (a writer killed mid-write) is skipped."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and "key" in record and "status" in record:
                yield record
