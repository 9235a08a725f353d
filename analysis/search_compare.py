"""Comparison of hyperparameter searches (``mlcalc tune --compare A B``): the paper's table 4 and a box plot.

For each search (its ``out_dir`` or ``results.csv``), over its finished trials: the number of
trials and of failed ones, the minimum, median and standard deviation (ddof=1) of the
validation MAE (minus DeepHyper's objective). Written as ``comparison.md``,
``comparison.csv`` and ``comparison.png`` (one box of validation MAEs per search, log scale).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np

from mlcalc.potentials.training.tune import RESULTS, read_results

__all__ = ["search_losses", "compare_searches"]


def search_losses(path: Path) -> tuple[np.ndarray, int]:
    """``(validation MAEs of the finished trials, number of failed trials)`` of the search at ``path``."""
    losses, failed = [], 0
    for row in read_results(path):
        try:
            value = -float(row["objective"])
        except (TypeError, ValueError):
            failed += 1
            continue
        if np.isfinite(value):
            losses.append(value)
        else:
            failed += 1
    return np.array(losses), failed


def _label(path: Path) -> str:
    return (path.parent if path.name == RESULTS else path).name


def compare_searches(paths: Sequence[Path], out: Path) -> str:
    """Write the comparison of the searches at ``paths`` into ``out``; returns the Markdown table."""
    out.mkdir(parents=True, exist_ok=True)
    rows, boxes = [], []
    for path in paths:
        losses, failed = search_losses(Path(path))
        if not len(losses):
            raise ValueError(f"the search at {path} has no finished trial")
        rows.append({"search": _label(Path(path)), "trials": len(losses) + failed, "failed": failed,
                     "min_val_mae": float(losses.min()), "median_val_mae": float(np.median(losses)),
                     "std_val_mae": float(losses.std(ddof=1)) if len(losses) > 1 else 0.0})
        boxes.append(losses)
    with open(out / "comparison.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| search | trials | failed | min val MAE | median val MAE | std val MAE |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['search']} | {r['trials']} | {r['failed']} | {r['min_val_mae']:.5g} | {r['median_val_mae']:.5g} "
              f"| {r['std_val_mae']:.3g} |" for r in rows]
    table = "\n".join(lines)
    (out / "comparison.md").write_text(table + "\n")
    _box_plot(boxes, [r["search"] for r in rows], out / "comparison.png")
    return table


def _box_plot(boxes: list[np.ndarray], labels: list[str], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1.6 + 1.4 * len(boxes), 3.6), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.boxplot(boxes, tick_labels=labels)
    for k, losses in enumerate(boxes, start=1):
        ax.scatter(np.full(len(losses), k) + np.linspace(-0.08, 0.08, len(losses)), losses, s=8, alpha=0.6)
    ax.set_yscale("log")
    ax.set_ylabel("validation MAE of a trial")
    fig.savefig(path)
