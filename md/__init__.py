"""Molecular dynamics: steppers (ASE's and TorchSim's integrators for every ensemble in
:data:`ENSEMBLES`: NVE, Langevin, Nose-Hoover chain NVT, MTK NPT; one table per engine) feeding run
folders (trajectory, energy log, blow-up monitors, progress, resume) through one loop (:func:`run_steps`),
:func:`run_md` for one system, MD17-style reference data (:func:`generate_reference`) and a transfer
target's training frames (:func:`target_training_frames`). Settings: :class:`MDSettings` (``engine``:
ase or torchsim).

Every name is imported from its submodule when first used (batched MD on TorchSim loads torch and
torch_sim then); the settings schema is :mod:`mlcalc.md.settings`."""

#: public name -> the submodule that defines it; each is imported when first named, so that
#: ``import mlcalc.md`` and the settings schema (``mlcalc.md.settings``, which the CLI builds its options
#: from) load neither ASE's integrators nor torch
_NAMES = {
    "MDSettings": "settings", "ReferenceSettings": "settings", "ENSEMBLES": "settings", "CELL_ENSEMBLES": "settings",
    "LearnSettings": "settings", "LEARN_REFERENCES": "settings",
    "energy_conservation": "conservation", "run_md": "driver", "run_steps": "driver",
    "energy_drift": "energy_log", "read_energy_log": "energy_log",
    "BlowUpError": "monitors", "BlowUpMonitor": "monitors", "bonded_pairs": "monitors",
    "generate_reference": "reference", "MDResult": "result", "load_md_result": "result",
    "nested_subsets": "target_frames", "target_training_frames": "target_frames", "RunFolder": "run_folder",
    "ASEStepper": "stepper", "StepError": "stepper", "Stepper": "stepper", "initialise_velocities": "velocities",
    "run_batched_md": "batched", "replica_settings": "batched", "replica_folders": "batched",
    "TorchSimStepper": "torchsim_stepper", "TorchSimModel": "torchsim_model",
}
__all__ = list(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
