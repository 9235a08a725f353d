"""Checks of user input before it reaches a model: clear errors instead of torch tracebacks."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, Iterable

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

from mlcalc.graph import neighbor_pairs

__all__ = ["validate_atoms", "check_elements", "check_close_contacts", "check_pair_distances", "check_device",
           "check_min_distance", "DEFAULT_MIN_DISTANCE"]

#: Å; no chemically sane structure has two nuclei closer than this (H2 bond: 0.74 Å).
DEFAULT_MIN_DISTANCE = 0.5


def _symbols(numbers: Iterable[int]) -> str:
    return ", ".join(chemical_symbols[z] for z in sorted(set(int(z) for z in numbers)))


def _available_devices() -> list[str]:
    import torch

    devices = ["cpu"] + [f"cuda:{k}" for k in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def check_device(device: Any):
    """``device`` as a ``torch.device`` this torch build can use; a one-line ValueError naming the ones it can."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device {device!r} is not a torch device; available here: "
                         f"{', '.join(_available_devices())}") from None
    if dev.type == "cpu":
        return dev
    build = f"torch {torch.__version__}"
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} is not available: this {build} has no usable CUDA GPU; "
                             f"available here: {', '.join(_available_devices())}")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA GPU(s); "
                             f"available here: {', '.join(_available_devices())}")
        return dev
    if dev.type == "mps" and "mps" in _available_devices():
        return dev
    raise ValueError(f"device {device!r} is not available with this {build}; available here: "
                     f"{', '.join(_available_devices())}")


def check_min_distance(value: Any) -> float:
    """``value`` as a distance in Å >= 0 (0 turns the close-contact check off); one-line ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)) or value < 0:
        raise ValueError(f"min_distance must be a finite distance >= 0 Å (0 turns the close-contact check off), "
                         f"got {value!r}")
    return float(value)


def check_elements(numbers: Iterable[int], elements: Iterable[int]) -> None:
    """Raise ValueError naming the elements of ``numbers`` (atomic numbers) not among the model's ``elements``."""
    known = set(int(z) for z in elements)
    unknown = set(int(z) for z in np.unique(np.asarray(numbers))) - known
    if unknown:
        raise ValueError(f"element(s) {_symbols(unknown)} not known to this model; it was trained on: {_symbols(known)}")


def validate_atoms(
    atoms: Atoms,
    elements: Iterable[int] | None = None,
    periodic_model: bool = False,
    min_distance: float = DEFAULT_MIN_DISTANCE,
) -> None:
    """Raise ``TypeError``/``ValueError`` naming what is wrong with ``atoms`` for this model.

    ``elements``: atomic numbers the model was trained on (None: any).
    ``periodic_model``: the model describes periodic systems and needs a cell.
    ``min_distance``: smallest allowed interatomic distance in Å (0 disables the check).
    """
    if not isinstance(atoms, Atoms):
        raise TypeError(f"expected an ase.Atoms object, got {type(atoms).__name__}")
    positions = atoms.positions
    if positions.ndim != 2 or positions.shape[1:] != (3,):
        raise ValueError(f"atoms.positions must have shape (n_atoms, 3), got {positions.shape}")
    sizes = {name: len(values) for name, values in atoms.arrays.items()}
    if any(size != len(positions) for size in sizes.values()):
        raise ValueError("the Atoms' per-atom arrays disagree in length ("
                         + ", ".join(f"{name} {size}" for name, size in sizes.items())
                         + "): build the Atoms anew, e.g. ase.Atoms(numbers, positions, cell=..., pbc=...)")
    if len(atoms) == 0:
        raise ValueError("the Atoms object is empty (0 atoms): nothing to evaluate")
    bad = ~np.isfinite(positions).all(axis=1)
    if bad.any():
        idx = np.flatnonzero(bad)
        raise ValueError(f"positions of atoms {idx[:10].tolist()} are NaN or infinite")
    if elements is not None:
        check_elements(atoms.numbers, elements)
    if atoms.pbc.any():
        if not np.isfinite(atoms.cell.array).all():
            raise ValueError("the cell contains NaN or infinite entries")
        for axis in np.flatnonzero(atoms.pbc):
            if np.linalg.norm(atoms.cell.array[axis]) < 1e-8:
                raise ValueError(f"periodic along axis {axis} but the cell vector {axis} is zero: set atoms.cell")
        if atoms.pbc.all() and abs(atoms.cell.volume) < 1e-8:
            raise ValueError("the periodic cell has zero volume: set a proper atoms.cell")
    elif periodic_model:
        raise ValueError(
            "this model describes periodic systems but the Atoms have no periodic cell: "
            "set atoms.cell and atoms.pbc=True"
        )
    if min_distance > 0 and (len(atoms) > 1 or atoms.pbc.any()):
        edge_index, shifts = neighbor_pairs(positions, atoms.cell.array, atoms.pbc, min_distance)
        check_close_contacts(atoms, edge_index, shifts, min_distance)


def check_close_contacts(atoms: Atoms, edge_index: np.ndarray, shifts: np.ndarray, min_distance: float,
                         positions: np.ndarray | None = None, squared_distances: np.ndarray | None = None) -> None:
    """Raise ValueError naming the closest pair of ``atoms`` (lower index first) if it is closer than
    ``min_distance`` Å.

    ``edge_index`` [2, n_pairs] (source j, target i) and integer ``shifts`` [n_pairs, 3]: any
    pair list that holds every pair closer than ``min_distance`` (e.g. a neighbor list of a
    larger cutoff, as :class:`~mlcalc.neighbor_cache.NeighborCache` keeps), for ``positions``
    (default: ``atoms.positions``; the pairs' shifts refer to these positions), or the pairs'
    ``squared_distances`` (Å²) when they are known already.
    """
    if min_distance <= 0 or not edge_index.shape[1]:
        return
    if squared_distances is None:
        positions = atoms.positions if positions is None else positions
        vec = positions[edge_index[0]] - positions[edge_index[1]] + shifts @ atoms.cell.array
        squared_distances = np.einsum("ij,ij->i", vec, vec)
    check_pair_distances(atoms.numbers, edge_index, squared_distances, min_distance)


def check_pair_distances(numbers: np.ndarray, edge_index: np.ndarray, squared_distances: np.ndarray,
                         min_distance: float, starts: np.ndarray | None = None) -> None:
    """Raise ValueError naming the closest of the pairs ``edge_index`` [2, n_pairs] (squared lengths
    ``squared_distances`` Å²) if it is closer than ``min_distance`` Å.

    ``numbers``: atomic numbers of the atoms the pairs index. ``starts``: for structures laid end
    to end (a batch), the index of each structure's first atom; the pair is then named by its
    structure and its atoms' indices within it.
    """
    if min_distance <= 0 or not edge_index.shape[1]:
        return
    k = int(np.argmin(squared_distances))
    if squared_distances[k] >= min_distance ** 2:
        return
    distance = float(np.sqrt(squared_distances[k]))
    i, j = sorted(int(x) for x in edge_index[:, k])  # the lower index first, whichever way the pair is listed
    where = ""
    if starts is not None and len(starts) > 1:
        structure = int(np.searchsorted(starts, i, side="right")) - 1
        where = f" of structure {structure}"
        offset = int(starts[structure])
    else:
        offset = 0
    raise ValueError(
        f"atoms {i - offset} ({chemical_symbols[int(numbers[i])]}) and {j - offset} "
        f"({chemical_symbols[int(numbers[j])]}){where} are {distance:.3f} Å apart, closer than the sane minimum "
        f"{min_distance} Å"
    )
