"""Molecular dynamics over ASE integrators: NVE velocity Verlet and Langevin, with a trajectory,
an energy log, blow-up monitors, progress and resume (:func:`run_md`)."""

from .driver import run_md
from .energy_log import energy_drift, read_energy_log
from .monitors import BlowUpError, BlowUpMonitor, bonded_pairs
from .result import MDResult, load_md_result
from mlcalc.md_settings import ENSEMBLES, MDSettings
from .velocities import initialise_velocities

__all__ = ["run_md", "MDSettings", "MDResult", "load_md_result", "ENSEMBLES", "BlowUpError", "BlowUpMonitor",
           "bonded_pairs", "initialise_velocities", "energy_drift", "read_energy_log"]
