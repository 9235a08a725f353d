"""Element feature vectors in the spirit of CGCNN's 92-dimensional encoding, built from pymatgen's element data.

Each element is the concatenation of one-hot blocks: group (18), period (7), block
(s, p, d, f: 4), valence electrons (1..12), and 10 bins each of Pauling
electronegativity, covalent radius (Å, ASE's table), first ionisation energy (eV, log
bins), electron affinity (eV) and atomic volume (molar volume, cm³/mol, log bins):
91 features. A property an element lacks leaves its block all zero. CGCNN's own
``atom_init.json`` (``{"Z": [features...]}``) can replace the table
(:func:`read_atom_init`).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["MAX_Z", "FEATURE_BLOCKS", "element_features", "read_atom_init"]

#: highest atomic number with a feature row
MAX_Z = 100

#: block name -> (number of one-hot entries, bin edges or None for categorical)
FEATURE_BLOCKS: dict[str, tuple[int, tuple[float, float] | None]] = {
    "group": (18, None), "period": (7, None), "block": (4, None), "valence_electrons": (12, None),
    "electronegativity": (10, (0.5, 4.0)), "covalent_radius": (10, (0.25, 2.5)),
    "first_ionisation_energy_log": (10, (math.log(3.5), math.log(25.0))),
    "electron_affinity": (10, (-3.0, 3.7)), "atomic_volume_log": (10, (math.log(5.0), math.log(80.0))),
}


def _bin(value: float | None, n: int, bounds: tuple[float, float]) -> np.ndarray:
    """One-hot of ``value`` in ``n`` equal bins between ``bounds`` (clipped); zeros for None/NaN."""
    out = np.zeros(n, dtype=np.float32)
    if value is None or not math.isfinite(value):
        return out
    lo, hi = bounds
    out[int(np.clip((value - lo) / (hi - lo) * n, 0, n - 1))] = 1.0
    return out


def _category(index: int | None, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.float32)
    if index is not None and 0 <= index < n:
        out[index] = 1.0
    return out


def _valence(group: int, block: str) -> int | None:
    """Valence electrons from the group (s and d blocks: the group; p block: group - 10); None for f."""
    if block in ("s", "d"):
        return group
    if block == "p":
        return group - 10
    return None


def _properties(z: int) -> dict[str, float | int | str | None]:
    from ase.data import covalent_radii
    from pymatgen.core import Element

    el = Element.from_Z(z)

    def get(name):
        try:
            value = getattr(el, name)
        except (AttributeError, KeyError, ValueError):
            return None
        return value

    ionisation = get("ionization_energies")
    volume = get("molar_volume")
    affinity = get("electron_affinity")
    return {"group": el.group, "period": el.row, "block": el.block, "electronegativity": get("X"),
            "covalent_radius": float(covalent_radii[z]),
            "ionisation": float(ionisation[0]) if ionisation and ionisation[0] else None,
            "affinity": float(affinity) if affinity is not None else None,
            "volume": float(volume) if volume else None}


@lru_cache(maxsize=1)
def _default_table() -> np.ndarray:
    rows = [np.zeros(sum(n for n, _ in FEATURE_BLOCKS.values()), dtype=np.float32)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns for every missing datum (NaN is what we want)
        for z in range(1, MAX_Z + 1):
            p = _properties(z)
            block = "spdf".find(p["block"]) if p["block"] in ("s", "p", "d", "f") else None
            valence = _valence(p["group"], p["block"]) if block is not None else None
            b = FEATURE_BLOCKS
            rows.append(np.concatenate([
                _category(p["group"] - 1, 18), _category(p["period"] - 1, 7), _category(block, 4),
                _category(valence - 1 if valence else None, 12),
                _bin(p["electronegativity"], 10, b["electronegativity"][1]),
                _bin(p["covalent_radius"], 10, b["covalent_radius"][1]),
                _bin(math.log(p["ionisation"]) if p["ionisation"] else None, 10, b["first_ionisation_energy_log"][1]),
                _bin(p["affinity"], 10, b["electron_affinity"][1]),
                _bin(math.log(p["volume"]) if p["volume"] else None, 10, b["atomic_volume_log"][1]),
            ]))
    table = np.stack(rows)
    table.setflags(write=False)
    return table


def element_features() -> np.ndarray:
    """Feature table, float32 [MAX_Z + 1, 91]; row z is element z (row 0 unused, zeros)."""
    return _default_table().copy()


def read_atom_init(path: str | os.PathLike) -> np.ndarray:
    """CGCNN's ``atom_init.json`` (``{"Z": [f_1, ...], ...}``) as a table float32 [MAX_Z + 1, n_features].

    Elements the file lacks get zero rows. ValueError naming the file if it is not such a mapping.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
        rows = {int(z): np.asarray(v, dtype=np.float32) for z, v in raw.items()}
    except (json.JSONDecodeError, ValueError, TypeError, AttributeError) as err:
        raise ValueError(f"{path}: not a CGCNN atom_init.json mapping atomic number -> feature list ({err})") from None
    sizes = {len(v) for v in rows.values()}
    if not rows or len(sizes) != 1 or any(not 1 <= z <= MAX_Z for z in rows):
        raise ValueError(f"{path}: atom_init.json needs equally long feature lists for atomic numbers 1..{MAX_Z}")
    table = np.zeros((MAX_Z + 1, sizes.pop()), dtype=np.float32)
    for z, v in rows.items():
        table[z] = v
    return table
