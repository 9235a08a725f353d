"""A model's energy and force errors on reference frames (e.g. GFN2-xTB MD of a transfer target)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from ase import Atoms

__all__ = ["model_errors", "predict_bare"]


def predict_bare(calc, frames: Sequence[Atoms], batch_size: int = 64) -> dict[str, Any]:
    """``calc.predict`` of the structures of ``frames`` (numbers, positions, cell, pbc; their stored results left out)."""
    return calc.predict([Atoms(a.numbers, positions=a.positions, cell=a.cell, pbc=a.pbc) for a in frames],
                        batch_size=batch_size)


def model_errors(calc, frames: Sequence[Atoms], batch_size: int = 64,
                 predicted: dict[str, Any] | None = None) -> dict[str, float]:
    """MAE/RMSE of ``calc`` (an :class:`~mlcalc.MLCalc`) against the energies and forces stored on ``frames``.

    ``predicted``: ``calc.predict`` of ``frames`` when already made (it is not repeated).

    Energies in meV per molecule and meV/atom, forces in meV/Å. ``energy_offset_meV`` is the
    mean model-minus-reference energy; ``energy_mae_offset_removed_meV`` the MAE after
    subtracting it (a constant shift does not change forces or MD).
    """
    frames = list(frames)
    if not frames:
        raise ValueError("no reference frames to compare with")
    try:
        ref_e = np.array([a.get_potential_energy() for a in frames])
        ref_f = np.concatenate([a.get_forces(apply_constraint=False) for a in frames])
    except RuntimeError as err:
        raise ValueError(f"the reference frames carry no energies/forces: {err}") from None
    out = predicted if predicted is not None else predict_bare(calc, frames, batch_size)
    de = (out["energy"] - ref_e) * 1000
    df = (np.concatenate(out["forces"]) - ref_f).ravel() * 1000
    offset = float(de.mean())
    return {
        "frames": len(frames), "n_atoms": len(frames[0]),
        "energy_mae_meV": float(np.abs(de).mean()), "energy_offset_meV": offset,
        "energy_mae_offset_removed_meV": float(np.abs(de - offset).mean()),
        "energy_mae_offset_removed_meV_per_atom": float(np.abs(de - offset).mean() / len(frames[0])),
        "forces_mae_meV_per_A": float(np.abs(df).mean()), "forces_rmse_meV_per_A": float(np.sqrt((df ** 2).mean())),
    }
