"""The NVE energy-conservation criterion: total-energy drift and span against the kinetic-energy fluctuations."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from .energy_log import conserved_total, energy_drift, read_energy_log

__all__ = ["DRIFT_FRACTION", "SPAN_FRACTION", "energy_conservation"]

#: largest allowed |drift × duration| as a fraction of the kinetic-energy standard deviation
DRIFT_FRACTION = 0.05
#: largest allowed total-energy span (max − min) as a fraction of the kinetic-energy standard deviation
SPAN_FRACTION = 0.2


def energy_conservation(log: Mapping[str, np.ndarray] | str | os.PathLike, drift_fraction: float = DRIFT_FRACTION,
                        span_fraction: float = SPAN_FRACTION) -> dict:
    """Whether an NVE run conserved energy, judged on its energy log.

    ``log``: an energies.csv path or ``{column: array}`` with ``time_ps``, ``total_eV`` and
    ``kinetic_eV`` (as :func:`read_energy_log` and ``MDResult.log`` give; plain arrays go in a dict).
    The drift is the least-squares slope of the total energy (:func:`energy_drift`; a run that learned on
    the fly: of the total less its model updates' jumps, :func:`~.energy_log.conserved_total`); the run is
    ``conserved`` when ``ratio`` = |drift × duration| / std(kinetic energy) < ``drift_fraction`` and
    ``span_ratio`` = (max − min total energy) / std(kinetic energy) < ``span_fraction`` (the
    project's NVE test). Non-finite energies or a motionless run (zero kinetic std) are not conserved.

    Returns ``drift_eV_per_ps``, ``change_over_run_eV`` (drift × duration, signed), ``kinetic_std_eV``,
    ``ratio``, ``span_eV``, ``span_ratio``, ``duration_ps``, ``conserved`` (bool).
    """
    columns = read_energy_log(log) if isinstance(log, (str, os.PathLike)) else log
    missing = [name for name in ("time_ps", "total_eV", "kinetic_eV") if name not in columns]
    if missing:
        raise ValueError(f"energy log lacks the columns {missing} (needs time_ps, total_eV, kinetic_eV)")
    time = np.asarray(columns["time_ps"], dtype=np.float64)
    total = conserved_total(columns)
    kinetic = np.asarray(columns["kinetic_eV"], dtype=np.float64)
    if not len(time) == len(total) == len(kinetic):
        raise ValueError(f"energy log columns differ in length: time_ps {len(time)}, total_eV {len(total)}, "
                         f"kinetic_eV {len(kinetic)}")
    finite = bool(np.isfinite(total).all() and np.isfinite(kinetic).all())
    duration = float(time[-1] - time[0]) if len(time) else 0.0
    drift = energy_drift(time, total, n_atoms=1) / 1000 if finite else float("nan")  # meV/ps -> eV/ps
    change = drift * duration
    kinetic_std = float(np.std(kinetic)) if finite else float("nan")
    span = float(total.max() - total.min()) if finite else float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(np.divide(abs(change), kinetic_std)) if kinetic_std > 0 else float("inf")
        span_ratio = float(np.divide(span, kinetic_std)) if kinetic_std > 0 else float("inf")
    conserved = finite and ratio < drift_fraction and span_ratio < span_fraction
    return {"drift_eV_per_ps": drift, "change_over_run_eV": change, "kinetic_std_eV": kinetic_std, "ratio": ratio,
            "span_eV": span, "span_ratio": span_ratio, "duration_ps": duration, "conserved": bool(conserved)}
