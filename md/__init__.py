"""Molecular dynamics: steppers (ASE's and TorchSim's integrators for every ensemble in
:data:`ENSEMBLES`: NVE, Langevin, Nose-Hoover chain NVT, MTK NPT; one table per engine) feeding run
folders (trajectory, energy log, blow-up monitors, progress, resume) through one loop (:func:`run_steps`),
:func:`run_md` for one system, MD17-style reference data (:func:`generate_reference`) and a transfer
target's training frames (:func:`target_training_frames`). Settings: :class:`MDSettings` (``engine``:
ase or torchsim).

Batched MD on TorchSim (:func:`run_batched_md`, :class:`TorchSimStepper`, :class:`TorchSimModel`,
:func:`replica_settings`, :func:`replica_folders`) loads torch and torch_sim when first named."""

from mlcalc.md_settings import ENSEMBLES, MDSettings, ReferenceSettings

from .conservation import energy_conservation
from .driver import run_md, run_steps
from .energy_log import energy_drift, read_energy_log
from .monitors import BlowUpError, BlowUpMonitor, bonded_pairs
from .reference import generate_reference
from .result import MDResult, load_md_result
from .target_frames import nested_subsets, target_training_frames
from .run_folder import RunFolder
from .stepper import ASEStepper, StepError, Stepper
from .velocities import initialise_velocities

__all__ = ["run_md", "run_steps", "MDSettings", "ReferenceSettings", "MDResult", "load_md_result", "ENSEMBLES",
           "Stepper", "ASEStepper", "StepError", "RunFolder", "generate_reference", "BlowUpError", "BlowUpMonitor",
           "bonded_pairs", "initialise_velocities", "energy_drift", "read_energy_log",
           "energy_conservation", "target_training_frames", "nested_subsets"]

_BATCHED = {"run_batched_md": "batched", "replica_settings": "batched", "replica_folders": "batched",
            "TorchSimStepper": "torchsim_stepper", "TorchSimModel": "torchsim_model"}


def __getattr__(name: str):
    if name in _BATCHED:
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_BATCHED[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
