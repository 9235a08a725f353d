"""The MD energy log: a CSV file of step, time and energies, truncatable for resume."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from ase import Atoms

__all__ = ["LOG_COLUMNS", "UNCERTAINTY_COLUMN", "FLAGGED_COLUMN", "LABELLED_COLUMN", "MODEL_UPDATE_COLUMN", "EnergyLog",
           "read_energy_log", "energy_drift", "conserved_total"]

#: column name -> unit
LOG_COLUMNS = {"step": "", "time_ps": "ps", "potential_eV": "eV", "kinetic_eV": "eV", "total_eV": "eV",
               "temperature_K": "K"}
#: the extra last column of runs whose calculator gives a force uncertainty (an ensemble), eV/Å
UNCERTAINTY_COLUMN = "uncertainty_eV_per_A"
#: with ``uncertainty_action: flag``: the steps since the previous row (this one's included) whose
#: force uncertainty was above ``max_uncertainty``
FLAGGED_COLUMN = "flagged_steps"
#: runs that learn on the fly: the reference calls on this system since the previous row (this one's included)
LABELLED_COLUMN = "labelled"
#: runs that learn on the fly: the sum of the total-energy jumps (eV) that model updates caused in this system so
#: far (the potential-energy change at the held state, new model minus old, not given back by scaling the momenta);
#: total_eV minus it is what NVE conserves
MODEL_UPDATE_COLUMN = "model_update_eV"


class EnergyLog:
    """Appends one row per recorded step to ``path``; ``keep_until`` drops rows after a resume point.

    ``uncertainty``: add the column :data:`UNCERTAINTY_COLUMN` (the calculator's ``uncertainty``
    result, eV/Å); ``flagged``: and :data:`FLAGGED_COLUMN`; ``learning``: :data:`LABELLED_COLUMN` and
    :data:`MODEL_UPDATE_COLUMN`. A resumed log keeps the columns it has.
    """

    def __init__(self, path: str | os.PathLike, keep_until: int | None = None, uncertainty: bool = False,
                 flagged: bool = False, learning: bool = False):
        self.path = Path(path)
        extra = ([UNCERTAINTY_COLUMN] if uncertainty else []) + ([FLAGGED_COLUMN] if uncertainty and flagged else [])
        extra += [LABELLED_COLUMN, MODEL_UPDATE_COLUMN] if learning else []
        header = ",".join(list(LOG_COLUMNS) + extra)
        if keep_until is None or not self.path.exists():
            self.path.write_text(header + "\n")
        else:
            lines = self.path.read_text().splitlines()
            header, n = lines[0], lines[0].count(",")
            kept = [header] + [ln for ln in lines[1:] if ln and ln.count(",") == n and int(ln.split(",")[0]) <= keep_until]
            self.path.write_text("\n".join(kept) + "\n")
        names = header.split(",")
        self.uncertainty, self.flagged = UNCERTAINTY_COLUMN in names, FLAGGED_COLUMN in names
        self.learning = LABELLED_COLUMN in names
        self._file = self.path.open("a")

    def record(self, step: int, time_fs: float, atoms: Atoms, flagged: int = 0, labelled: int = 0,
               model_update: float = 0.0) -> tuple[float, float, float]:
        """Log ``atoms`` (energies from its calculator's cache) at ``step``; returns (Epot, Ekin, T).

        ``flagged``: the steps above the uncertainty limit since the previous row (if that column is logged);
        ``labelled``, ``model_update``: the learning columns' values (if they are logged).
        """
        epot = atoms.get_potential_energy()
        ekin = atoms.get_kinetic_energy()
        temperature = atoms.get_temperature()
        row = f"{step},{time_fs / 1000:.6f},{epot:.10f},{ekin:.10f},{epot + ekin:.10f},{temperature:.4f}"
        if self.uncertainty:
            row += f",{float(atoms.calc.results.get('uncertainty', np.nan)):.8g}"
        if self.flagged:
            row += f",{flagged}"
        if self.learning:
            row += f",{labelled},{model_update:.10f}"
        self._file.write(row + "\n")
        self._file.flush()
        return epot, ekin, temperature

    def close(self) -> None:
        self._file.close()


def read_energy_log(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The log as ``{column: array}`` (see :data:`LOG_COLUMNS` for units; :data:`UNCERTAINTY_COLUMN` if logged)."""
    lines = Path(path).read_text().splitlines()
    names = lines[0].split(",")
    rows = [ln.split(",") for ln in lines[1:] if ln and ln.count(",") == len(names) - 1]
    table = np.array(rows, dtype=np.float64).reshape(-1, len(names))
    columns = {name: table[:, k] for k, name in enumerate(names)}
    columns["step"] = columns["step"].astype(np.int64)
    return columns


def energy_drift(time_ps: np.ndarray, total_eV: np.ndarray, n_atoms: int) -> float:
    """Slope of total energy against time in meV/atom/ps (float64 least squares)."""
    t = np.asarray(time_ps, dtype=np.float64)
    e = np.asarray(total_eV, dtype=np.float64)
    if len(t) < 2:
        raise ValueError("need at least two logged energies to measure a drift")
    slope = np.polyfit(t, e, 1)[0]
    return float(slope * 1000 / n_atoms)



def conserved_total(columns: dict[str, np.ndarray]) -> np.ndarray:
    """The total energy (eV) that NVE conserves: ``total_eV``, less the jumps of model updates
    (:data:`MODEL_UPDATE_COLUMN`) in a run that learns on the fly."""
    total = np.asarray(columns["total_eV"], dtype=np.float64)
    update = columns.get(MODEL_UPDATE_COLUMN)
    return total if update is None else total - np.asarray(update, dtype=np.float64)
