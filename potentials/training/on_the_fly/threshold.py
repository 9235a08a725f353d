"""When an on-the-fly run labels a step: the force-uncertainty threshold, fixed or calibrated on recent labels.

Every labelled frame gives a pair (u, e): the committee's force uncertainty u (eV/Å, the mean over
atoms of the norm of the members' force standard deviation) and its force MAE e against the
reference (eV/Å), both before the frame is learned. With ``threshold: auto`` the first
``calibration`` frames are labelled at a fixed interval (no threshold yet); from then on the
threshold is ``target_error / a``, a the slope of the line through the origin fitted to the last
``window`` pairs (least squares: a = Σue / Σu²), refitted at every label: the uncertainty at which
the committee *as it is now* is expected to reach ``target_error``.

Why only the recent pairs: the ratio e/u is a property of the committee, and it changes as the
committee learns. A fit on every pair is held down by the first labels, where the untrained
committee's errors are many times its spread (ethanol-bpnn on iso-propanol: 240 meV/Å over the
first 10 labels, 31-56 over the last 10); it then puts the threshold below the learned committee's
typical uncertainty, and a label comes every ``min_gap`` steps until the budget is spent. Fitted on
the last few labels, the threshold rises as soon as labelled frames show errors at or below the
target, so calls come early and thin out. Audits (``LearnSettings.audit``: a label after a stretch without one,
however sure the committee is) add pairs from where the committee is confident; a confident committee that is
wrong there raises the slope and lowers the threshold. A fixed threshold only records the pairs (the summary
reports the slope of the recent ones).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Threshold"]


@dataclass
class Threshold:
    """The threshold of one run: ``mode`` "auto" or "fixed"; ``value`` (eV/Å; None while an auto threshold
    calibrates); ``pairs``: the (uncertainty, error) of each labelled frame used, in eV/Å; ``window``: the last
    pairs the slope is fitted on."""

    mode: str
    target_error: float
    calibration: int
    window: int  # the default lives in LearnSettings.calibration_window
    value: float | None = None
    pairs: list[tuple[float, float]] = field(default_factory=list)

    @classmethod
    def from_settings(cls, threshold: str | float, target_error: float, calibration: int, window: int) -> Threshold:
        if threshold == "auto":
            return cls("auto", target_error, calibration, window)
        return cls("fixed", target_error, calibration, window, value=float(threshold))

    @property
    def calibrating(self) -> bool:
        """An auto threshold without its ``calibration`` pairs yet: label at a fixed interval."""
        return self.mode == "auto" and len(self.pairs) < self.calibration

    @property
    def recent(self) -> list[tuple[float, float]]:
        """The pairs the slope is fitted on: the last ``window``."""
        return self.pairs[-self.window:]

    @property
    def slope(self) -> float | None:
        """Force MAE per unit of uncertainty (the line through the origin of the recent pairs; None without)."""
        if not self.pairs:
            return None
        u, e = np.array(self.recent, dtype=np.float64).T
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

    def describe(self) -> str:
        """The choice, for the log: 'calibrating', or the threshold with the slope and the pairs it came from."""
        if self.value is None:
            return "calibrating"
        slope = self.slope
        how = "fixed" if self.mode == "fixed" else f"{self.target_error:.3g} eV/Å target"
        fit = "" if slope is None else f"; slope {slope:.3g} MAE per unit of uncertainty over the last " \
                                       f"{len(self.recent)} of {len(self.pairs)} labels"
        return f"{self.value:.3g} eV/Å ({how}{fit})"

    def state(self) -> dict[str, Any]:
        return {"mode": self.mode, "target_error": self.target_error, "calibration": self.calibration,
                "value": self.value, "pairs": [list(p) for p in self.pairs], "window": self.window}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Threshold:
        return cls(state["mode"], state["target_error"], state["calibration"], state["window"], state["value"],
                   [tuple(p) for p in state["pairs"]])
