"""What an MD run does: ensemble, time step, length, temperature, output interval, monitor limits."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional

__all__ = ["ENSEMBLES", "MDSettings"]

ENSEMBLES = ("nve", "langevin")


@dataclass(frozen=True)
class MDSettings:
    """Settings of one MD run (units: fs, K).

    ``steps`` integration steps of ``timestep`` fs; velocities start Maxwell-Boltzmann at
    ``temperature`` K from ``seed``. ``ensemble``: ``"nve"`` (velocity Verlet) or
    ``"langevin"`` (NVT at ``temperature`` with ``friction`` in 1/fs). A frame and a log
    row are written every ``interval`` steps (and after the last step); ``extxyz`` also
    writes the frames as extended XYZ. ``max_force`` (eV/Å) and ``bond_stretch`` (factor
    of a bond's starting length) stop a run that blows up; None disables a check.
    """

    steps: int
    timestep: float = 0.5
    temperature: float = 300.0
    ensemble: str = "nve"
    friction: float = 0.01
    seed: int = 0
    interval: int = 10
    extxyz: bool = False
    max_force: Optional[float] = 50.0
    bond_stretch: Optional[float] = 2.0

    def __post_init__(self):
        if self.ensemble not in ENSEMBLES:
            raise ValueError(f"unknown ensemble {self.ensemble!r}; choose one of {', '.join(ENSEMBLES)}")
        if int(self.steps) != self.steps or self.steps < 1:
            raise ValueError(f"steps must be a positive integer, got {self.steps}")
        if int(self.interval) != self.interval or self.interval < 1:
            raise ValueError(f"interval must be a positive integer number of steps, got {self.interval}")
        if not self.timestep > 0:
            raise ValueError(f"timestep must be positive (fs), got {self.timestep}")
        if self.timestep > 5:
            raise ValueError(f"timestep {self.timestep} fs is far too long for atomistic MD (use ≤ 5 fs)")
        if not self.temperature >= 0:
            raise ValueError(f"temperature must be non-negative (K), got {self.temperature}")
        if self.ensemble == "langevin" and not self.friction > 0:
            raise ValueError(f"Langevin friction must be positive (1/fs), got {self.friction}")

    @property
    def duration_ps(self) -> float:
        return self.steps * self.timestep / 1000

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def differences(self, other: "MDSettings", ignore: tuple[str, ...] = ("steps",)) -> list[str]:
        """Names of the settings that differ from ``other`` (except those in ``ignore``)."""
        a, b = self.to_dict(), other.to_dict()
        return [k for k in a if k not in ignore and a[k] != b[k]]
