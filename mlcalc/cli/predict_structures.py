"""Predictions for structure files as one CSV table (``mlcalc predict``).

One row per frame: ``file``, ``index`` (frame in its file), ``formula``, then one
column per per-structure property of the model, headed ``name [unit]``
(property models: their targets, e.g. ``homo [eV]``; energy models: ``energy [eV]``).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Sequence

from mlcalc.calculator import MLCalc
from mlcalc.data.structure_files import read_structures
from mlcalc.validation import validate_atoms

__all__ = ["predict_files"]


def predict_files(calc: MLCalc, files: Sequence[str | os.PathLike], out: str | os.PathLike,
                  batch_size: int = 32) -> int:
    """Evaluate every frame of ``files`` with ``calc`` and write the CSV table ``out``; returns the row count.

    Raises ValueError naming the file and frame of any structure the model cannot take.
    """
    columns = calc.targets or ["energy"]
    header = ["file", "index", "formula"] + [f"{name} [{calc.units.get(name, 'eV')}]" for name in columns]
    rows = []
    for file in files:
        frames = read_structures(file)
        for k, atoms in enumerate(frames):
            try:
                validate_atoms(atoms, calc.model.elements, calc.model.periodic, calc.min_distance)
            except (TypeError, ValueError) as err:
                raise ValueError(f"{file} frame {k}: {err}") from None
        values = calc.predict(frames, batch_size=batch_size)
        for k, atoms in enumerate(frames):
            rows.append([str(file), k, atoms.get_chemical_formula()] + [f"{values[c][k]:.10g}" for c in columns])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(out, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
    except OSError as err:  # a full or read-only disk: name the file
        raise OSError(err.errno, err.strerror, str(out)) from err
    return len(rows)
