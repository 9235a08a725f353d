"""When an on-the-fly run labels a step: the force-uncertainty threshold, fixed or calibrated on labelled frames.

Every labelled frame gives a pair (u, e): the committee's force uncertainty u (eV/Å, the mean over
atoms of the norm of the members' force standard deviation) and its force MAE e against the
reference (eV/Å), both before the frame is learned. With ``threshold: auto`` the first
``calibration`` frames are labelled at a fixed interval (no threshold yet); from then on the
threshold is ``target_error / a``, a the slope of the line through the origin fitted to all pairs
so far (least squares: a = Σue / Σu²), refitted at every label: the uncertainty at which the
committee's error is expected to reach ``target_error``. A fixed threshold only records the pairs
(the summary reports their slope).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Threshold"]


@dataclass
class Threshold:
    """The threshold of one run: ``mode`` "auto" or "fixed"; ``value`` (eV/Å; None while an auto threshold
    calibrates); ``pairs``: the (uncertainty, error) of each labelled frame used, in eV/Å."""

    mode: str
    target_error: float
    calibration: int
    value: float | None = None
    pairs: list[tuple[float, float]] = field(default_factory=list)

    @classmethod
    def from_settings(cls, threshold: str | float, target_error: float, calibration: int) -> Threshold:
        if threshold == "auto":
            return cls("auto", target_error, calibration)
        return cls("fixed", target_error, calibration, value=float(threshold))

    @property
    def calibrating(self) -> bool:
        """An auto threshold without its ``calibration`` pairs yet: label at a fixed interval."""
        return self.mode == "auto" and len(self.pairs) < self.calibration

    @property
    def slope(self) -> float | None:
        """Force MAE per unit of uncertainty (the line through the origin of the pairs; None without pairs)."""
        if not self.pairs:
            return None
        u, e = np.array(self.pairs, dtype=np.float64).T
        denominator = float(np.dot(u, u))
        return float(np.dot(u, e) / denominator) if denominator > 0 else None

    def exceeded(self, uncertainty: float) -> bool:
        """Whether ``uncertainty`` is above the threshold (NaN is; nothing is while calibrating)."""
        return self.value is not None and not uncertainty <= self.value

    def add(self, uncertainty: float, error: float) -> None:
        """Record a labelled frame's pair; an auto threshold past its calibration is refitted."""
        self.pairs.append((float(uncertainty), float(error)))
        if self.mode == "auto" and not self.calibrating:
            slope = self.slope
            self.value = self.target_error / slope if slope is not None and slope > 0 else float("inf")

    def state(self) -> dict[str, Any]:
        return {"mode": self.mode, "target_error": self.target_error, "calibration": self.calibration,
                "value": self.value, "pairs": [list(p) for p in self.pairs]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Threshold:
        return cls(state["mode"], state["target_error"], state["calibration"], state["value"],
                   [tuple(p) for p in state["pairs"]])
