"""Pictures of molecules with their atoms coloured by a per-atom value (attributions), matplotlib."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms

__all__ = ["draw_attributions"]


def _plane(positions: np.ndarray) -> np.ndarray:
    """Positions [n, 3] projected on their two principal axes, [n, 2] Å."""
    centred = positions - positions.mean(axis=0)
    if len(centred) < 2:
        return np.zeros((len(centred), 2))
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    return centred @ axes[:2].T if len(axes) >= 2 else np.column_stack([centred @ axes[0], np.zeros(len(centred))])


def _bonds(atoms: Atoms) -> list[tuple[int, int]]:
    """The bonded pairs (:func:`mlcalc.bonds.bonded_pairs`)."""
    from mlcalc.bonds import bonded_pairs

    return [(int(i), int(j)) for i, j in bonded_pairs(atoms)]


def _draw(ax, atoms: Atoms, values: np.ndarray, norm, cmap, title: str) -> None:
    from ase.data import covalent_radii

    xy = _plane(atoms.positions)
    for i, j in _bonds(atoms):
        ax.plot(*xy[[i, j]].T, color="0.55", lw=1.5, zorder=1)
    sizes = 900 * covalent_radii[atoms.numbers] ** 2
    ax.scatter(*xy.T, s=sizes, c=values, cmap=cmap, norm=norm, edgecolors="k", linewidths=0.6, zorder=2)
    for (x, y), symbol in zip(xy, atoms.get_chemical_symbols()):
        ax.text(x, y, symbol, ha="center", va="center", fontsize=7, zorder=3)
    ax.set_title(title, fontsize=8)
    centre, half = (xy.max(axis=0) + xy.min(axis=0)) / 2, max(float(np.ptp(xy, axis=0).max()) / 2, 1.0) + 0.9
    ax.set_xlim(centre[0] - half, centre[0] + half)  # square limits: flat and linear molecules stay visible
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_aspect("equal")
    ax.axis("off")


def draw_attributions(path: str | Path, molecules: Sequence[Atoms], values: Sequence[np.ndarray],
                      titles: Sequence[str], label: str) -> Path:
    """One PNG with each molecule (atoms projected on their principal plane) coloured by its ``values``.

    Colours share one scale: red for positive, blue for negative values (white at 0).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    if not len(molecules) == len(values) == len(titles) or not molecules:
        raise ValueError("need one array of values and one title per molecule, and at least one molecule")
    for atoms, v in zip(molecules, values):
        if np.shape(v) != (len(atoms),):
            raise ValueError(f"{atoms.get_chemical_formula()}: need one value per atom ({len(atoms)}), got {np.shape(v)}")
    everything = np.concatenate([np.asarray(v, dtype=float) for v in values])
    top = float(np.abs(everything).max()) or 1.0
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-top, vmax=top)
    columns = min(4, len(molecules))
    rows = -(-len(molecules) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns + 0.8, 2.6 * rows), squeeze=False)
    for ax, atoms, v, title in zip(axes.flat, molecules, values, titles):
        _draw(ax, atoms, np.asarray(v, dtype=float), norm, "bwr", title)
    for ax in list(axes.flat)[len(molecules):]:
        ax.axis("off")
    mappable = plt.cm.ScalarMappable(norm=norm, cmap="bwr")
    fig.colorbar(mappable, ax=axes.ravel().tolist(), label=label, shrink=0.8)
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return Path(path)
