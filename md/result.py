"""What an MD run leaves behind, read back from its folder: status, energies, drift."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase.io.trajectory import Trajectory

from .settings import MDSettings

from .conservation import energy_conservation
from .energy_log import FLAGGED_COLUMN, UNCERTAINTY_COLUMN, conserved_total, energy_drift, read_energy_log
from .files import CHECKPOINT, LOG, TRAJECTORY

__all__ = ["MDResult", "load_md_result"]


@dataclass
class MDResult:
    """An MD run: ``status`` is "completed", "blew_up", "stopped" (ended on purpose before its last step: a
    learning run out of reference calls with ``on_budget: stop``) or "running" (interrupted).

    ``log`` holds the energy log columns (``time_ps``, ``potential_eV``, ``kinetic_eV``,
    ``total_eV``, ``temperature_K``); ``trajectory`` is the .traj file. ``first_flagged_step``:
    the first step whose force uncertainty exceeded ``max_uncertainty`` in flag mode (None: none).
    """

    out_dir: Path
    settings: MDSettings
    n_atoms: int
    status: str
    message: str
    steps_done: int
    wall_time_s: float
    log: dict[str, np.ndarray]
    first_flagged_step: int | None = None

    @property
    def trajectory(self) -> Path:
        return self.out_dir / TRAJECTORY

    @property
    def frames(self) -> int:
        return len(self.log["step"])

    @property
    def drift(self) -> float | None:
        """NVE total-energy drift in meV/atom/ps (None for Langevin or fewer than two rows); a run that
        learned on the fly: of the total less the model updates' jumps (:func:`~.energy_log.conserved_total`)."""
        if self.settings.ensemble != "nve" or self.frames < 2:
            return None
        return energy_drift(self.log["time_ps"], conserved_total(self.log), self.n_atoms)

    @property
    def kinetic_std(self) -> float:
        """Standard deviation of the kinetic energy in meV/atom (the yardstick for drift)."""
        return float(np.std(self.log["kinetic_eV"]) * 1000 / self.n_atoms)

    def energy_conservation(self) -> dict[str, Any]:
        """The NVE criterion on this run's log (:func:`~mlcalc.md.conservation.energy_conservation`)."""
        return energy_conservation(self.log)

    @property
    def ms_per_step(self) -> float:
        return 1000 * self.wall_time_s / max(self.steps_done, 1)

    def summary(self) -> dict[str, Any]:
        """The run's headline numbers as JSON-ready values."""
        return {
            "status": self.status, "message": self.message, "settings": self.settings.to_dict(),
            "n_atoms": self.n_atoms, "steps_done": self.steps_done, "frames": self.frames,
            "duration_ps": self.steps_done * self.settings.timestep / 1000,
            "drift_meV_per_atom_per_ps": self.drift, "kinetic_std_meV_per_atom": self.kinetic_std,
            "mean_temperature_K": float(np.mean(self.log["temperature_K"])) if self.frames else None,
            "wall_time_s": round(self.wall_time_s, 2), "ms_per_step": round(self.ms_per_step, 3),
            **self.uncertainty_summary(),
        }

    def uncertainty_summary(self) -> dict[str, Any]:
        """Largest and mean logged force uncertainty (eV/Å) of an ensemble's run; empty for other models.

        Flag mode (``uncertainty_action: flag``) adds the steps above ``max_uncertainty``
        (``flagged_steps``), the log rows with such steps (``flagged_rows``) and the first one.
        """
        values = self.log.get(UNCERTAINTY_COLUMN)
        if values is None or not len(values):
            return {}
        out = {"max_uncertainty_eV_per_A": float(np.nanmax(values)),
               "mean_uncertainty_eV_per_A": float(np.nanmean(values))}
        flagged = self.log.get(FLAGGED_COLUMN)
        if flagged is not None:
            out.update(flagged_steps=int(flagged.sum()), flagged_rows=int(np.count_nonzero(flagged)),
                       first_flagged_step=self.first_flagged_step,
                       first_flagged_ps=None if self.first_flagged_step is None
                       else self.first_flagged_step * self.settings.timestep / 1000)
        return out


def load_md_result(out_dir: str | os.PathLike, n_atoms: int | None = None) -> MDResult:
    """Read the run saved in ``out_dir`` (see :func:`mlcalc.md.run_md`)."""
    out = Path(out_dir)
    checkpoint = out / CHECKPOINT
    if not checkpoint.exists():
        raise FileNotFoundError(f"no MD run in {out} (missing {checkpoint.name})")
    state = json.loads(checkpoint.read_text())
    if n_atoms is None:
        with Trajectory(out / TRAJECTORY) as traj:
            n_atoms = len(traj[0])
    return MDResult(out_dir=out, settings=MDSettings(**state["settings"]), n_atoms=n_atoms, status=state["status"],
                    message=state.get("message", ""), steps_done=state["step"], wall_time_s=state["wall_time_s"],
                    log=read_energy_log(out / LOG), first_flagged_step=state.get("first_flagged_step"))
