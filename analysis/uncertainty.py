"""Does an ensemble's uncertainty predict its error? Uncertainty against true force error on reference frames.

For each group of labelled frames (e.g. one molecule's GFN2-xTB reference frames), the
ensemble's per-frame ``uncertainty`` (eV/Å, mean over atoms of the norm of the force
standard deviation across members) is set against the per-frame force error of its mean
prediction (mean over atoms of |F_model - F_ref|, eV/Å), and per atom the norm of the
force standard deviation against the norm of the force error. Pearson and Spearman
correlations per group and pooled over all frames.

From the command line: ``mlcalc uncertainty ENSEMBLE.mlc ethanol=eth.extxyz n-propanol=nprop.extxyz [--out uq.json]``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from ase import Atoms

__all__ = ["frame_uncertainty_and_error", "correlations", "uncertainty_study"]


def frame_uncertainty_and_error(calc, frames: Sequence[Atoms], batch_size: int = 32,
                                predicted: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Per frame ``uncertainty`` and ``force_error`` (eV/Å); per atom ``atom_std`` and ``atom_error`` (eV/Å).

    ``calc``: an MLCalc of an ensemble; ``frames``: structures with reference forces;
    ``predicted``: ``calc.predict`` of ``frames`` when already made (it is not repeated).
    """
    if "uncertainty" not in calc.implemented_properties:
        raise ValueError("the model is not an ensemble: it gives no uncertainty (train one with --seeds)")
    reference = [np.asarray(a.get_forces(), dtype=np.float64) for a in frames]
    if predicted is None:
        predicted = calc.predict(list(frames), batch_size=batch_size)
    errors = [np.linalg.norm(p - r, axis=1) for p, r in zip(predicted["forces"], reference)]
    stds = [np.sqrt(v.sum(axis=1)) for v in predicted["forces_var"]]
    return {"uncertainty": np.asarray(predicted["uncertainty"], dtype=np.float64),
            "force_error": np.array([e.mean() for e in errors]),
            "atom_std": np.concatenate(stds), "atom_error": np.concatenate(errors)}


def correlations(x: np.ndarray, y: np.ndarray) -> dict[str, float | None]:
    """Pearson r and Spearman ρ of ``x`` and ``y`` (None where either has no spread)."""
    from scipy.stats import pearsonr, spearmanr

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"pearson": None, "spearman": None}
    return {"pearson": float(pearsonr(x, y).statistic), "spearman": float(spearmanr(x, y).statistic)}


def _summary(values: dict[str, np.ndarray]) -> dict[str, Any]:
    return {"frames": len(values["uncertainty"]),
            "mean_uncertainty_eV_per_A": float(values["uncertainty"].mean()),
            "mean_force_error_eV_per_A": float(values["force_error"].mean()),
            "frame": correlations(values["uncertainty"], values["force_error"]),
            "atom": correlations(values["atom_std"], values["atom_error"])}


def uncertainty_study(calc, groups: dict[str, Sequence[Atoms]],
                      predicted: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Uncertainty against force error for each group of frames and pooled (``"all"``); ``predicted``: the
    groups' ``calc.predict`` results already made, by group name."""
    predicted = predicted or {}
    per = {name: frame_uncertainty_and_error(calc, frames, predicted=predicted.get(name))
           for name, frames in groups.items()}
    out = {name: _summary(values) for name, values in per.items()}
    pooled = {key: np.concatenate([v[key] for v in per.values()]) for key in next(iter(per.values()))}
    out["all"] = _summary(pooled)
    return out
