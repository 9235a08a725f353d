"""QM9's SMILES strings, from the ``SMILES`` column of qm9pack's CSV files, row-aligned with :func:`load_qm9`.

The strings are the ones qm9pack ships (QM9's GDB-17 SMILES, one per molecule). Parsed
once and cached as a fixed-width unicode array (no pickle) next to the QM9 cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mlcalc.data.cache import cache_dir
from mlcalc.data.qm9 import _PARTS, _qm9pack_version, qm9pack_data_dir

__all__ = ["load_qm9_smiles"]


def load_qm9_smiles(cache: str | os.PathLike | None = None, source: str | os.PathLike | None = None) -> np.ndarray:
    """SMILES of every QM9 molecule, str array [n] in the row order of :func:`mlcalc.data.qm9.load_qm9`."""
    path = cache_dir(cache) / f"qm9_smiles_qm9pack-{_qm9pack_version()}_v1.npz"
    if not path.is_file():
        import pandas as pd

        folder = Path(source) if source is not None else qm9pack_data_dir()
        missing = [p for p in _PARTS if not (folder / p).is_file()]
        if missing:
            raise FileNotFoundError(f"qm9pack data folder {folder} lacks {missing}; reinstall qm9pack")
        df = pd.concat([pd.read_csv(folder / p, usecols=["Index", "SMILES"]) for p in _PARTS], ignore_index=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, ids=df["Index"].to_numpy(np.int64), smiles=df["SMILES"].to_numpy(str))
        os.replace(tmp, path)
    with np.load(path, allow_pickle=False) as data:
        return data["smiles"]
