"""Molecular dynamics: steppers (ASE's NVE velocity Verlet and Langevin) feeding run folders (trajectory,
energy log, blow-up monitors, progress, resume), :func:`run_md` for one system, and MD17-style
reference data (:func:`generate_reference`). Settings: :class:`MDSettings` (from :mod:`mlcalc.md_settings`)."""

from mlcalc.md_settings import ENSEMBLES, MDSettings, ReferenceSettings

from .driver import run_md, run_steps
from .energy_log import energy_drift, read_energy_log
from .monitors import BlowUpError, BlowUpMonitor, bonded_pairs
from .reference import generate_reference
from .result import MDResult, load_md_result
from .run_folder import RunFolder
from .stepper import ASEStepper, StepError, Stepper
from .velocities import initialise_velocities

__all__ = ["run_md", "run_steps", "MDSettings", "ReferenceSettings", "MDResult", "load_md_result", "ENSEMBLES",
           "Stepper", "ASEStepper", "StepError", "RunFolder", "generate_reference", "BlowUpError", "BlowUpMonitor",
           "bonded_pairs", "initialise_velocities", "energy_drift", "read_energy_log"]
