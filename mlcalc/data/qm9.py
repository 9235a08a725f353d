"""QM9 (130,831 small organic molecules of H, C, N, O, F) from the ``qm9pack`` package.

The first :func:`load_qm9` parses qm9pack's CSV files once and writes one ``.npz``
under the cache folder (:func:`mlcalc.data.cache.cache_dir`); later calls read that
file. Labels are stored and returned in the units of :data:`QM9_UNITS` (energies in
eV). qm9pack is found without importing it: its ``__init__`` needs ``pkg_resources``,
which recent setuptools no longer ship, so the CSV files it ships are read directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.units import Hartree

from mlcalc.data.cache import cache_dir
from mlcalc.data.splits import split_indices

__all__ = ["QM9_UNITS", "QM9_EXTENSIVE", "QM9_ENERGIES", "QM9", "load_qm9", "qm9pack_data_dir", "qm9_split", "check_targets"]

#: label -> (unit it is exposed in, factor from the unit qm9pack stores it in); 1 Ha = 27.211386 eV
QM9_UNITS: dict[str, tuple[str, float]] = {
    "A": ("GHz", 1.0), "B": ("GHz", 1.0), "C": ("GHz", 1.0),
    "mu": ("D", 1.0),
    "alpha": ("bohr^3", 1.0),
    "homo": ("eV", Hartree), "lumo": ("eV", Hartree), "gap": ("eV", Hartree),
    "r2": ("bohr^2", 1.0),
    "zpve": ("eV", Hartree),
    "U0": ("eV", Hartree), "U": ("eV", Hartree), "H": ("eV", Hartree), "G": ("eV", Hartree),
    "Cv": ("cal/mol/K", 1.0),
}

#: labels that grow with molecular size: models read them out as sums over atoms (the rest as means)
QM9_EXTENSIVE = frozenset({"U0", "U", "H", "G", "zpve", "Cv", "alpha", "r2"})

#: total energies (eV, about -10^4 eV a molecule): models learn them over per-element references
#: fitted by least squares on the training molecules (the atom-count baseline's fit)
QM9_ENERGIES = frozenset({"U0", "U", "H", "G"})

# qm9pack CSV column of each label (stored in GHz, D, bohr^3, hartree, bohr^2, cal/mol/K)
_COLUMNS = {
    "A": "RotA_GHz", "B": "RotB_GHz", "C": "RotC_GHz", "mu": "Dipole_debye", "alpha": "Polarizability_bohr3",
    "homo": "HOMO_au", "lumo": "LUMO_au", "gap": "HOMO_LUMO_gap_au", "r2": "R2_bohr2", "zpve": "ZPVE_au",
    "U0": "InternalEnergy_0K_au", "U": "InternalEnergy_298K_au", "H": "Enthalphy_298K_au",
    "G": "GibbsFreeEnergy_298K_au", "Cv": "Heatcapacity_Cv_cal_mol_K",
}
_PARTS = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")
_CACHE_FORMAT = 1


def check_targets(targets: Sequence[str]) -> list[str]:
    """``targets`` as a list; ValueError naming any label QM9 does not have (and the ones it has)."""
    targets = list(targets)
    unknown = [t for t in targets if t not in QM9_UNITS]
    if unknown or not targets:
        raise ValueError(f"unknown QM9 target(s) {unknown or targets}; QM9 labels are: {', '.join(QM9_UNITS)}")
    if len(set(targets)) != len(targets):
        raise ValueError(f"QM9 targets repeat a label: {targets}")
    return targets


@dataclass(frozen=True)
class QM9:
    """QM9 as flat arrays: molecule k has atoms ``offsets[k]:offsets[k+1]``.

    ``numbers`` int [n_atoms_total]; ``positions`` float64 [n_atoms_total, 3] Å;
    ``ids`` the QM9 molecule numbers (1..133885) [n]; ``labels`` label -> float64 [n]
    in the units of :data:`QM9_UNITS`; ``source``: where the data came from.
    """

    numbers: np.ndarray
    positions: np.ndarray
    offsets: np.ndarray
    ids: np.ndarray
    labels: dict[str, np.ndarray]
    source: str

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_atoms(self) -> np.ndarray:
        """Atoms per molecule, int [n]."""
        return np.diff(self.offsets)

    def atoms(self, k: int) -> Atoms:
        """Molecule ``k`` (0-based row, not the QM9 id) as Atoms; ``info['qm9_id']`` holds its QM9 number."""
        lo, hi = self.offsets[k], self.offsets[k + 1]
        atoms = Atoms(numbers=self.numbers[lo:hi], positions=self.positions[lo:hi])
        atoms.info["qm9_id"] = int(self.ids[k])
        return atoms

    def structures(self, rows: Sequence[int]) -> list[Atoms]:
        """The molecules of ``rows`` as Atoms."""
        return [self.atoms(int(k)) for k in rows]

    def targets(self, rows: Sequence[int], names: Sequence[str]) -> np.ndarray:
        """Labels ``names`` of the molecules ``rows``, float64 [len(rows), len(names)]."""
        names = check_targets(names)
        rows = np.asarray(rows, dtype=np.int64)
        return np.stack([self.labels[name][rows] for name in names], axis=1)


def qm9pack_data_dir() -> Path:
    """The folder of qm9pack's CSV files; ImportError with the install command when it is missing."""
    import importlib.util

    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("QM9 needs the qm9pack package: pip install 'mlcalc[qm9]'")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _qm9pack_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qm9pack")
    except PackageNotFoundError:
        return "unknown"


def _parse_csv(source: Path) -> dict[str, np.ndarray]:
    """qm9pack's CSV files -> arrays of :class:`QM9` (labels converted to exposed units)."""
    import pandas as pd
    from ase.data import atomic_numbers

    missing = [p for p in _PARTS if not (source / p).is_file()]
    if missing:
        raise FileNotFoundError(f"qm9pack data folder {source} lacks {missing}; reinstall qm9pack")
    columns = ["Index", "N_atoms", "Elements", "XYZ_Ang", *_COLUMNS.values()]
    df = pd.concat([pd.read_csv(source / p, usecols=columns) for p in _PARTS], ignore_index=True)
    n_atoms = df["N_atoms"].to_numpy(dtype=np.int64)
    flat = ",".join(df["XYZ_Ang"]).replace("[", "").replace("]", "")
    positions = np.array(flat.split(","), dtype=np.float64)
    symbols = ",".join(df["Elements"]).replace("[", "").replace("]", "").replace("'", "").split(",")
    if positions.size != 3 * n_atoms.sum() or len(symbols) != n_atoms.sum():
        raise ValueError(f"qm9pack data in {source} is inconsistent: coordinates or elements do not match N_atoms")
    out = {
        "numbers": np.array([atomic_numbers[s.strip()] for s in symbols], dtype=np.int64),
        "positions": positions.reshape(-1, 3),
        "offsets": np.concatenate([[0], np.cumsum(n_atoms)]).astype(np.int64),
        "ids": df["Index"].to_numpy(dtype=np.int64),
    }
    for label, column in _COLUMNS.items():
        out[f"label_{label}"] = df[column].to_numpy(dtype=np.float64) * QM9_UNITS[label][1]
    return out


def load_qm9(cache: str | os.PathLike | None = None, source: str | os.PathLike | None = None) -> QM9:
    """All of QM9, from the cache file when present, else parsed from qm9pack and cached.

    ``cache``: cache folder (default :func:`~mlcalc.data.cache.cache_dir`);
    ``source``: qm9pack's data folder (default :func:`qm9pack_data_dir`), read only
    when the cache file is missing.
    """
    version = _qm9pack_version()
    path = cache_dir(cache) / f"qm9_qm9pack-{version}_v{_CACHE_FORMAT}.npz"
    if not path.is_file():
        arrays = _parse_csv(Path(source) if source is not None else qm9pack_data_dir())
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    labels = {label: arrays.pop(f"label_{label}") for label in _COLUMNS}
    # the cache file by name only: a model file records where its data came from, not a local folder
    return QM9(labels=labels, source=f"qm9pack {version} ({path.name} in the mlcalc cache)", **arrays)


def qm9_split(n: int, subset: int | None, train: float, val: float, test: float | None,
              seed: int) -> dict[str, np.ndarray]:
    """Seeded disjoint train/val/test rows of a random ``subset`` of ``n`` molecules (None: all).

    ``train``, ``val``, ``test`` are fractions of the subset; ``test=None`` takes the rest.
    """
    size = n if subset is None else int(subset)
    if not 0 < size <= n:
        raise ValueError(f"subset must be between 1 and {n} molecules, got {subset}")
    n_train, n_val = int(round(train * size)), int(round(val * size))
    n_test = size - n_train - n_val if test is None else int(round(test * size))
    if min(n_train, n_val, n_test) < 1:
        raise ValueError(f"a subset of {size} molecules leaves an empty split "
                         f"(train {n_train}, val {n_val}, test {n_test}); use a larger subset")
    return split_indices(n, n_train, n_val, n_test, seed)
