"""Molecular dynamics drivers over ASE integrators (NVE velocity Verlet) with energy-drift monitoring."""

from .nve import NVEResult, energy_drift, run_nve

__all__ = ["run_nve", "NVEResult", "energy_drift"]
