"""Predictions for a CGCNN-style data folder (``mlcalc predict MODEL FOLDER``): one row per listed structure.

Columns ``id``, ``<target> [unit]`` (the value of ``id_prop.csv``, empty when unknown
or when the folder has only ids), then one column per model output headed
``predicted <name> [unit]``. Unreadable CIFs are reported by name and skipped.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

import numpy as np

from mlcalc.calculator import MLCalc
from mlcalc.validation import validate_atoms

__all__ = ["predict_cif_folder"]

log = logging.getLogger(__name__)


def predict_cif_folder(calc: MLCalc, folder: str | os.PathLike, out: str | os.PathLike, batch_size: int = 32) -> int:
    """Predict every readable structure of ``folder`` (``id_prop.csv`` + ``<id>.cif``); returns the row count."""
    from mlcalc.data.cif_folder import read_cif, read_id_prop

    folder = Path(folder)
    targets = read_id_prop(folder)
    ids, structures = [], []
    for name in targets:
        try:
            atoms = read_cif(folder / f"{name}.cif")
        except Exception as err:  # any parse failure: report and go on
            log.warning("skipped %s.cif: unreadable: %s", name, str(err).splitlines()[0] if str(err) else type(err).__name__)
            continue
        try:
            validate_atoms(atoms, calc.model.elements, calc.model.periodic, calc.min_distance)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{folder / name}.cif: {err}") from None
        ids.append(name)
        structures.append(atoms)
    columns = calc.targets or ["energy"]
    values = calc.predict(structures, batch_size=batch_size) if structures else {c: np.zeros(0) for c in columns}
    label = columns[0]
    unit = calc.units.get(label, "")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", f"{label} [{unit}]"] + [f"predicted {c} [{calc.units.get(c, 'eV')}]" for c in columns])
        for k, name in enumerate(ids):
            known = targets[name]
            writer.writerow([name, "" if np.isnan(known) else f"{known:.10g}"]
                            + [f"{values[c][k]:.10g}" for c in columns])
    return len(ids)
