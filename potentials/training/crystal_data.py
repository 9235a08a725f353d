"""Crystal training data: graphs of a :class:`~mlcalc.data.crystals.CrystalSet`, splits, and the reviewers' baselines."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from torch_geometric.data import Data

from mlcalc import keys as K
from mlcalc.data.crystals import CrystalSet
from mlcalc.data.splits import split_indices

__all__ = ["CrystalGraphDataset", "crystal_split", "regression_scores", "composition_baselines",
           "classification_scores", "write_predictions"]


class CrystalGraphDataset(Dataset):
    """The cached graphs of ``crystals`` as PyG ``Data`` (fields of :mod:`mlcalc.keys`, targets [1, 1])."""

    def __init__(self, crystals: CrystalSet, dtype: torch.dtype = torch.float32):
        self.crystals, self.dtype = crystals, dtype
        self.atom_offsets, self.edge_offsets = crystals.atom_offsets, crystals.edge_offsets

    def __len__(self) -> int:
        return len(self.crystals)

    def __getitem__(self, k: int) -> Data:
        c = self.crystals
        lo, hi = self.atom_offsets[k:k + 2]
        e_lo, e_hi = self.edge_offsets[k:k + 2]
        data = Data()
        data[K.Z] = torch.as_tensor(c.numbers[lo:hi])
        data[K.POSITIONS] = torch.as_tensor(c.positions[lo:hi], dtype=self.dtype)
        data[K.CELL] = torch.as_tensor(c.cells[k], dtype=self.dtype).unsqueeze(0)
        data[K.PBC] = torch.ones(1, 3, dtype=torch.bool)
        data[K.N_ATOMS] = torch.tensor([hi - lo])
        data[K.EDGE_INDEX] = torch.as_tensor(c.edge_index[:, e_lo:e_hi])
        data[K.EDGE_SHIFTS] = torch.as_tensor(c.edge_shifts[e_lo:e_hi], dtype=self.dtype)
        data[K.TARGETS] = torch.tensor([[c.targets[k]]], dtype=self.dtype)
        data.num_nodes = int(hi - lo)
        return data


def crystal_split(n: int, train: float, val: float, test: float | None, seed: int) -> dict[str, np.ndarray]:
    """Seeded disjoint rows: fractions of ``n`` (``test=None``: the rest); ValueError if a split is empty."""
    n_train, n_val = int(round(train * n)), int(round(val * n))
    n_test = n - n_train - n_val if test is None else int(round(test * n))
    if min(n_train, n_val, n_test) < 1:
        raise ValueError(f"{n} structures leave an empty split (train {n_train}, val {n_val}, test {n_test}); "
                         "use more structures")
    return split_indices(n, n_train, n_val, n_test, seed)


def regression_scores(predicted: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and R² = 1 - SS_res/SS_tot of ``predicted`` against ``reference`` [n]."""
    diff = predicted - reference
    total = float(((reference - reference.mean()) ** 2).sum())
    return {"mae": float(np.abs(diff).mean()), "rmse": float(np.sqrt((diff**2).mean())),
            "r2": 1.0 - float((diff**2).sum()) / total if total > 0 else float("nan")}


def classification_scores(probability: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy (threshold 0.5) and ROC AUC (Mann-Whitney; NaN with one class only) of P(class 1)."""
    labels = labels.round().astype(int)
    pos, neg = probability[labels == 1], probability[labels == 0]
    auc = float("nan")
    if len(pos) and len(neg):
        auc = float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())
    return {"accuracy": float(((probability > 0.5).astype(int) == labels).mean()), "auc": auc}


def _fractions(crystals: CrystalSet, elements: Sequence[int]) -> np.ndarray:
    """Element fractions per structure, [n, n_elements]."""
    column = {z: k for k, z in enumerate(elements)}
    out = np.zeros((len(crystals), len(elements)))
    rows = np.repeat(np.arange(len(crystals)), crystals.n_atoms)
    np.add.at(out, (rows, [column[int(z)] for z in crystals.numbers]), 1.0)
    return out / crystals.n_atoms[:, None]


def composition_baselines(train: CrystalSet, test: CrystalSet, elements: Sequence[int],
                          ridge: float = 1e-6, extensive: bool = False) -> dict[str, dict[str, float]]:
    """Test scores of the train-set mean and of a linear (ridge 1e-6) fit on element fractions + intercept.

    ``extensive``: both fit the target per atom and predict it times the atom count (as the model does).
    """
    per_atom = (lambda part: part.n_atoms.astype(np.float64)) if extensive else (lambda part: np.ones(len(part)))
    y = train.targets / per_atom(train)
    x_train, x_test = _fractions(train, elements), _fractions(test, elements)
    design = np.concatenate([x_train, np.ones((len(x_train), 1))], axis=1)
    coef = np.linalg.solve(design.T @ design + ridge * np.eye(design.shape[1]), design.T @ y)
    linear = np.concatenate([x_test, np.ones((len(x_test), 1))], axis=1) @ coef * per_atom(test)
    return {"mean_predictor": regression_scores(np.full(len(test), y.mean()) * per_atom(test), test.targets),
            "linear_composition": regression_scores(linear, test.targets)}


def write_predictions(path: str | os.PathLike, ids: Sequence[str], reference: np.ndarray, predicted: np.ndarray,
                      target: str, unit: str) -> Path:
    """CSV ``id, <target> [unit], predicted <target> [unit]`` (empty reference when unknown)."""
    path = Path(path)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", f"{target} [{unit}]", f"predicted {target} [{unit}]"])
        for name, ref, pred in zip(ids, reference, predicted):
            writer.writerow([name, "" if not np.isfinite(ref) else f"{ref:.10g}", f"{pred:.10g}"])
    return path
