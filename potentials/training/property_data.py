"""Property-model training data helpers: target statistics, predictions and error metrics."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from mlcalc import keys as K
from mlcalc.derivatives import model_inputs

__all__ = ["element_counts", "element_references", "target_statistics", "predict_loader", "property_metrics",
           "metric_key"]


def element_counts(numbers: Sequence[np.ndarray], elements: Sequence[int]) -> np.ndarray:
    """Atoms of each of ``elements`` per structure, float64 [n_structures, n_elements] (``numbers``: Z per structure)."""
    index = {int(z): k for k, z in enumerate(elements)}
    counts = np.zeros((len(numbers), len(elements)))
    for row, zs in enumerate(numbers):
        unknown = sorted({int(z) for z in zs} - set(index))
        if unknown:
            raise ValueError(f"structure {row} has elements {unknown} outside {list(elements)}")
        np.add.at(counts[row], [index[int(z)] for z in zs], 1.0)
    return counts


def element_references(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per-element reference values by least squares: ``values`` [n, n_targets] ≈ ``counts`` [n, n_elements] @ E.

    Returns E [n_elements, n_targets] in the values' unit (no intercept: a molecule's energy is a
    sum over its atoms). An element absent from ``counts`` gets 0 (the minimum-norm solution).
    """
    counts, values = np.asarray(counts, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or len(values) != len(counts):
        raise ValueError(f"need values [n, n_targets] for {len(counts)} structures, got {values.shape}")
    refs, *_ = np.linalg.lstsq(counts, values, rcond=None)
    refs[counts.sum(axis=0) == 0] = 0.0
    return refs


def target_statistics(values: np.ndarray, n_atoms: np.ndarray, extensive: Sequence[bool]) -> tuple[list, list]:
    """Mean and standard deviation per target of ``values`` [n, n_targets]; per atom for extensive targets.

    A target with no spread gets σ = 1 (standardisation then only shifts it).
    """
    values = np.asarray(values, dtype=np.float64)
    per = np.where(np.asarray(extensive, dtype=bool), np.asarray(n_atoms, dtype=np.float64)[:, None], 1.0)
    scaled = values / per
    std = scaled.std(axis=0)
    return scaled.mean(axis=0).tolist(), np.where(std > 0, std, 1.0).tolist()


@torch.no_grad()
def predict_loader(model: torch.nn.Module, loader) -> tuple[np.ndarray, np.ndarray]:
    """``(predicted, reference)`` target values over ``loader``, float64 [n, n_targets] in model units."""
    model.eval()
    predicted, reference = [], []
    for batch in loader:
        out = model(model_inputs(batch))
        predicted.append(torch.stack([out[t] for t in model.targets], dim=1).double())
        reference.append(batch[K.TARGETS].double())
    return torch.cat(predicted).numpy(), torch.cat(reference).numpy()


def metric_key(target: str, unit: str, kind: str) -> str:
    """``homo_mae_eV``-style metric names (unit made file- and key-safe: ``cal/mol/K`` -> ``cal_per_mol_per_K``)."""
    return f"{target}_{kind}_{unit.replace('/', '_per_').replace('^', '')}"


def property_metrics(predicted: np.ndarray, reference: np.ndarray, targets: Sequence[str],
                     units: Sequence[str]) -> dict[str, float]:
    """MAE and RMSE per target in its unit, plus the number of ``structures``."""
    diff = predicted - reference
    out: dict[str, float] = {}
    for k, (target, unit) in enumerate(zip(targets, units)):
        out[metric_key(target, unit, "mae")] = float(np.abs(diff[:, k]).mean())
        out[metric_key(target, unit, "rmse")] = float(np.sqrt((diff[:, k] ** 2).mean()))
    out["structures"] = len(diff)
    return out
