"""Stability of an MD run (Fu et al. 2023): the time until a bond leaves its reference mean by more than a threshold."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from ase import Atoms

from mlcalc.bonds import BOND_SCALE, bonded_pairs

from .replicas import pool_samples
from .run_arrays import read_run

__all__ = ["BOND_MULT", "bond_pairs", "bond_lengths", "stability_time", "run_stability"]

#: the scale of ASE's natural cutoffs that makes a bond (:data:`mlcalc.bonds.BOND_SCALE`)
BOND_MULT = BOND_SCALE


def bond_pairs(atoms: Atoms, mult: float = BOND_MULT) -> np.ndarray:
    """The bonded pairs [n_bonds, 2] (i < j) of ``atoms``: closer than ``mult`` × the sum of ASE's natural cutoffs.

    The same bond search as the MD blow-up monitor (:func:`mlcalc.bonds.bonded_pairs`).
    """
    return bonded_pairs(atoms, scale=mult)


def bond_lengths(positions: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Lengths [T, n_bonds] Å of ``pairs`` [n_bonds, 2] in non-periodic frames ``positions`` [T, N, 3] Å."""
    positions = np.asarray(positions, dtype=np.float64)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if positions.ndim != 3 or positions.shape[2] != 3:
        raise ValueError(f"positions must have shape [T, N, 3], not {list(positions.shape)}")
    return np.linalg.norm(positions[:, pairs[:, 1]] - positions[:, pairs[:, 0]], axis=-1)


def stability_time(times_ps: np.ndarray, lengths: np.ndarray, reference_means: np.ndarray, threshold: float = 0.5,
                   pairs: np.ndarray | None = None) -> dict:
    """When the first bond deviates from its reference mean length by more than ``threshold`` Å.

    ``times_ps`` [T], ``lengths`` [T, n_bonds] Å, ``reference_means`` [n_bonds] Å; ``pairs``
    [n_bonds, 2] (optional) names the bond. A non-finite length counts as a deviation. Times are
    taken from the first frame. Returns ``stable_ps`` (the time of the first frame past the
    threshold, or the run's length when none is), ``broke`` (bool), ``first_frame`` (int or None),
    ``bond_index`` (column of ``lengths``, or None), ``bond`` ((i, j) from ``pairs``, or None).
    """
    times = np.asarray(times_ps, dtype=np.float64)
    lengths = np.asarray(lengths, dtype=np.float64)
    means = np.asarray(reference_means, dtype=np.float64)
    if lengths.ndim != 2 or lengths.shape != (len(times), len(means)):
        raise ValueError(f"lengths must have shape [T={len(times)}, n_bonds={len(means)}], "
                         f"not {list(lengths.shape)}")
    if not len(times):
        raise ValueError("stability_time needs at least one frame")
    past = ~(np.abs(lengths - means) <= threshold)  # NaN counts as past
    frames = np.flatnonzero(past.any(axis=1))
    if not len(frames):
        return {"stable_ps": float(times[-1] - times[0]), "broke": False, "first_frame": None, "bond_index": None,
                "bond": None}
    first = int(frames[0])
    column = int(np.flatnonzero(past[first])[0])
    bond = None if pairs is None else tuple(int(k) for k in np.asarray(pairs)[column])
    return {"stable_ps": float(times[first] - times[0]), "broke": True, "first_frame": first, "bond_index": column,
            "bond": bond}


def run_stability(run_dir: str | os.PathLike, reference_dirs: str | os.PathLike | Sequence[str | os.PathLike],
                  threshold: float = 0.5, mult: float = BOND_MULT) -> dict:
    """:func:`stability_time` of the run folder ``run_dir`` against reference run folder(s).

    Bonds come from the first frame of the first reference run; their mean lengths pool the frames
    of all reference runs (replicas). Adds ``n_bonds`` and ``reference_means_A`` to the result.
    """
    if isinstance(reference_dirs, (str, os.PathLike)):
        reference_dirs = [reference_dirs]
    references = [read_run(path) for path in reference_dirs]
    pairs = bond_pairs(references[0].first, mult=mult)
    means = pool_samples([bond_lengths(ref.positions, pairs) for ref in references]).mean(axis=0)
    run = read_run(run_dir)
    result = stability_time(run.times_ps, bond_lengths(run.positions, pairs), means, threshold, pairs=pairs)
    return {**result, "n_bonds": len(pairs), "reference_means_A": means.tolist()}
