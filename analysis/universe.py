"""MDAnalysis Universes from ASE frames or trajectory files, with the bonds of the first frame."""

from __future__ import annotations

import os
from typing import Sequence

import MDAnalysis as mda
import numpy as np
from ase import Atoms
from ase.io import read
from MDAnalysis.coordinates.memory import MemoryReader

from mlcalc.bonds import bonded_pairs

__all__ = ["universe_from_frames", "universe_from_positions", "universe_from_trajectory"]


def universe_from_frames(frames: Sequence[Atoms], topology: Atoms | None = None) -> mda.Universe:
    """A Universe over ``frames`` (same atoms in each; positions in Å) with bonds and angles.

    Bonds are those of the first frame (:func:`mlcalc.bonds.bonded_pairs`, ASE's natural cutoffs), or of
    ``topology`` (the same atoms, e.g. the start of a reference run, so that runs of one
    molecule share their bonds), and kept fixed for the whole trajectory; angles follow from the bonds.
    """
    frames = list(frames)
    if not frames:
        raise ValueError("no frames to analyse")
    numbers = frames[0].numbers
    for k, atoms in enumerate(frames):
        if len(atoms) != len(numbers) or (atoms.numbers != numbers).any():
            raise ValueError(f"frame {k} ({atoms.get_chemical_formula()}) has other atoms than frame 0 "
                             f"({frames[0].get_chemical_formula()})")
    cells = np.array([atoms.cell.cellpar() for atoms in frames]) if frames[0].pbc.all() else None
    return universe_from_positions(frames[0], np.stack([atoms.positions for atoms in frames]), topology, cells)


def universe_from_positions(atoms: Atoms, positions: np.ndarray, topology: Atoms | None = None,
                            cells: np.ndarray | None = None) -> mda.Universe:
    """A Universe over the frames ``positions`` [T, N, 3] Å of ``atoms``' atoms (e.g. a run's arrays already in
    memory), bonds as in :func:`universe_from_frames`; ``cells``: [T, 6] cell parameters of periodic frames."""
    numbers = atoms.numbers
    positions = np.asarray(positions)
    if positions.ndim != 3 or positions.shape[1:] != (len(numbers), 3) or not len(positions):
        raise ValueError(f"positions must be [frames, {len(numbers)}, 3] for {atoms.get_chemical_formula()}, "
                         f"got {list(positions.shape)}")
    symbols = atoms.get_chemical_symbols()
    universe = mda.Universe.empty(len(numbers), trajectory=False)
    universe.add_TopologyAttr("elements", symbols)
    universe.add_TopologyAttr("types", symbols)
    universe.add_TopologyAttr("names", [f"{s}{i}" for i, s in enumerate(symbols)])
    dimensions = None if cells is None else np.asarray(cells, dtype=np.float32)
    universe.load_new(positions.astype(np.float32), format=MemoryReader, dimensions=dimensions)
    universe.trajectory[0]
    if topology is None:
        topology = Atoms(numbers, positions=positions[0], cell=atoms.cell, pbc=atoms.pbc)
    if len(topology) != len(numbers) or (topology.numbers != numbers).any():
        raise ValueError(f"the topology structure ({topology.get_chemical_formula()}) has other atoms than the "
                         f"frames ({atoms.get_chemical_formula()})")
    universe.add_TopologyAttr("bonds", bonded_pairs(topology))
    universe.guess_TopologyAttrs(to_guess=["angles"])
    return universe


def universe_from_trajectory(path: str | os.PathLike, start: int = 0, stop: int | None = None,
                             step: int = 1, topology: Atoms | None = None) -> mda.Universe:
    """A Universe from any ASE-readable trajectory (.traj, extxyz, ...), frames ``start:stop:step``
    (bonds from ``topology`` when given: :func:`universe_from_frames`)."""
    index = f"{start}:{'' if stop is None else stop}:{step}"
    frames = read(os.fspath(path), index=index)
    return universe_from_frames(frames, topology)
