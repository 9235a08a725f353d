"""Training figures as PNG: parity of predictions against references, and loss curves from the CSV logs.

matplotlib is imported when a figure is drawn, and only its Agg canvas is used
(no pyplot, no global backend change).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["parity_plot", "loss_curves", "read_loss_history"]


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def parity_plot(predicted: np.ndarray, reference: np.ndarray, targets: Sequence[str], units: Sequence[str],
                path: str | os.PathLike, title: str = "") -> Path:
    """Predicted against reference values [n, n_targets], one panel per target, MAE in each panel."""
    predicted, reference = np.atleast_2d(predicted), np.atleast_2d(reference)
    fig = _figure(4.0 * len(targets), 4.0)
    for k, (target, unit) in enumerate(zip(targets, units)):
        ax = fig.add_subplot(1, len(targets), k + 1)
        x, y = reference[:, k], predicted[:, k]
        low, high = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        ax.plot([low, high], [low, high], color="0.5", lw=1)
        ax.scatter(x, y, s=6, alpha=0.5, edgecolors="none")
        ax.set_xlabel(f"reference {target} [{unit}]")
        ax.set_ylabel(f"predicted {target} [{unit}]")
        ax.set_title(f"{title} {target}: MAE {np.abs(y - x).mean():.4g} {unit} (n={len(x)})".strip(), fontsize=9)
        ax.set_aspect("equal", adjustable="datalim")
    path = Path(path)
    fig.savefig(path)
    return path


def read_loss_history(log_dir: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """``{"train_loss": [(epoch, value), ...], "val_loss": [...]}`` from every ``version_*/metrics.csv``."""
    history: dict[str, dict[int, float]] = {"train_loss": {}, "val_loss": {}}
    for log in sorted(Path(log_dir).glob("version_*/metrics.csv")):
        with open(log, newline="") as fh:
            for row in csv.DictReader(fh):
                for key, series in history.items():
                    if row.get(key):
                        series[int(row["epoch"])] = float(row[key])
    return {key: sorted(series.items()) for key, series in history.items()}


def loss_curves(log_dir: str | os.PathLike, path: str | os.PathLike, title: str = "") -> Path | None:
    """Training and validation loss per epoch (log scale); None when the logs hold no losses."""
    history = read_loss_history(log_dir)
    if not any(history.values()):
        return None
    fig = _figure(5.0, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    for key, series in history.items():
        if series:
            epochs, values = zip(*series)
            ax.plot(epochs, values, marker="o" if len(series) < 30 else None, ms=3, label=key.replace("_", " "))
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (standardised units)")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    ax.legend()
    path = Path(path)
    fig.savefig(path)
    return path
