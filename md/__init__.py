"""Molecular dynamics drivers over ASE integrators (NVE velocity Verlet) with energy-drift monitoring."""
