"""2D/3D maps of learned representations: UMAP (umap-learn) or PCA (scikit-learn), plot and CSV."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["PROJECTIONS", "project", "write_coordinates", "scatter_plot", "category_plot"]

#: projection methods: umap (non-linear, seeded) and pca (linear, fast)
PROJECTIONS = ("umap", "pca")


def project(features: np.ndarray, method: str = "umap", dimensions: int = 2, seed: int = 0,
            n_neighbors: int = 15, min_dist: float = 0.1) -> np.ndarray:
    """Coordinates [n, dimensions] of ``features`` [n, D]; same ``seed``, same coordinates.

    UMAP with a seed runs single-threaded (umap-learn's rule for reproducibility); the process's OpenMP thread
    count (torch's, shared with tblite) is the same afterwards.
    """
    if method not in PROJECTIONS:
        raise ValueError(f"unknown projection {method!r}; choose from {', '.join(PROJECTIONS)}")
    if dimensions not in (2, 3):
        raise ValueError(f"dimensions must be 2 or 3, got {dimensions}")
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) <= dimensions + 1:
        raise ValueError(f"need features [n, D] with more than {dimensions + 1} rows, got {features.shape}")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=dimensions, random_state=seed).fit_transform(features)
    import torch
    import umap

    reducer = umap.UMAP(n_components=dimensions, n_neighbors=min(n_neighbors, len(features) - 1),
                        min_dist=min_dist, random_state=seed, n_jobs=1)
    threads = torch.get_num_threads()  # numba's OpenMP layer resets the process's shared libgomp thread count
    try:
        with warnings.catch_warnings():  # umap-learn says that a seed means one thread; that is the point
            warnings.filterwarnings("ignore", message="n_jobs value .* overridden")
            return np.asarray(reducer.fit_transform(features), dtype=np.float64)
    finally:  # torch and tblite (GFN2-xTB) after a map run on the threads the process had, not numba's count
        torch.set_num_threads(threads)


def write_coordinates(path: str | Path, coordinates: np.ndarray, columns: dict[str, Sequence]) -> Path:
    """CSV with ``columns`` (e.g. qm9_id, homo) then x, y (and z) per row."""
    path = Path(path)
    axes = ["x", "y", "z"][:coordinates.shape[1]]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*columns, *axes])
        for k, row in enumerate(coordinates):
            writer.writerow([*(values[k] for values in columns.values()), *(f"{v:.6g}" for v in row)])
    return path


def scatter_plot(path: str | Path, coordinates: np.ndarray, values: np.ndarray, label: str, title: str,
                 method: str = "umap") -> Path:
    """Scatter of the first two (or three) coordinates coloured by ``values`` (colour bar ``label``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    three = coordinates.shape[1] == 3
    fig = plt.figure(figsize=(6.4, 5.2))
    ax = fig.add_subplot(projection="3d" if three else None)
    points = ax.scatter(*coordinates.T, c=values, s=3, cmap="viridis", linewidths=0)
    fig.colorbar(points, ax=ax, label=label)
    return _finish(fig, ax, path, title, method)


_MARKERS = ("o", "x", "^", "s", "+", "v")


def category_plot(path: str | Path, coordinates: np.ndarray, labels: Sequence[str], markers: Sequence[str] | None,
                  title: str, method: str = "umap") -> Path:
    """Scatter of the first two (or three) coordinates, one colour per ``labels`` value (legend, in order
    of first appearance) and one marker per ``markers`` value (e.g. the run a frame comes from)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = np.asarray(labels)
    markers = np.asarray(markers if markers is not None else [""] * len(labels))
    colours = {name: f"C{k}" for k, name in enumerate(dict.fromkeys(labels.tolist()))}
    shapes = {name: _MARKERS[k % len(_MARKERS)] for k, name in enumerate(dict.fromkeys(markers.tolist()))}
    three = coordinates.shape[1] == 3
    fig = plt.figure(figsize=(8.4, 5.2))
    ax = fig.add_subplot(projection="3d" if three else None)
    for label, colour in colours.items():
        for marker, shape in shapes.items():
            chosen = (labels == label) & (markers == marker)
            if chosen.any():
                ax.scatter(*coordinates[chosen].T, c=colour, marker=shape, s=6 if shape == "o" else 10,
                           linewidths=0 if shape == "o" else 0.6, alpha=0.7,
                           label=f"{label}, {marker}" if len(shapes) > 1 else label)
    ax.legend(fontsize=7, markerscale=2, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return _finish(fig, ax, path, title, method)


def _finish(fig, ax, path: str | Path, title: str, method: str) -> Path:
    """Axis labels and title, then the figure saved to ``path`` (150 dpi) and closed."""
    import matplotlib.pyplot as plt

    ax.set_xlabel(f"{method.upper()} 1")
    ax.set_ylabel(f"{method.upper()} 2")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return Path(path)
