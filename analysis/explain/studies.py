"""Interpretability studies behind ``mlcalc explain``: maps of learned representations, ROGI against
test error per model, and molecules drawn with their atom attributions.

Molecules: a seeded random sample of QM9 (the same for every model, so ROGIs compare) or
structures given by file, shipped-molecule name or ``qm9:ID``. Outputs are PNG and CSV files.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from ase import Atoms

from mlcalc.analysis.explain.atom_pictures import draw_attributions
from mlcalc.analysis.explain.representations import representations
from mlcalc.analysis.explain.roughness import rogi
from mlcalc.analysis.projection import project, scatter_plot, write_coordinates

__all__ = ["qm9_sample", "load_structure", "representation_map", "rogi_table", "attribution_pictures"]


def qm9_sample(n: int, seed: int = 0) -> tuple[list[Atoms], np.ndarray, "object"]:
    """``n`` QM9 molecules drawn at random (``seed``): ``(structures, rows, qm9)``."""
    from mlcalc.data.qm9 import load_qm9

    qm9 = load_qm9()
    if not 3 <= n <= len(qm9):
        raise ValueError(f"--subset must be between 3 and {len(qm9)} QM9 molecules, got {n}")
    rows = np.sort(np.random.default_rng(seed).choice(len(qm9), size=n, replace=False))
    return qm9.structures(rows), rows, qm9


def load_structure(spec: str) -> Atoms:
    """A structure from a file, a shipped molecule's name or ``qm9:ID`` (QM9 molecule number)."""
    if spec.startswith("qm9:"):
        from mlcalc.data.qm9 import load_qm9

        qm9 = load_qm9()
        try:
            row = int(np.flatnonzero(qm9.ids == int(spec[4:]))[0])
        except (ValueError, IndexError):
            raise ValueError(f"no QM9 molecule {spec!r}: give qm9:ID with ID in 1..{int(qm9.ids.max())}") from None
        return qm9.atoms(row)
    from mlcalc.data.molecules import load_molecule

    return load_molecule(spec)


def _target(calc, target: str | None) -> str:
    if not calc.targets:
        raise ValueError("a property model is needed (its targets colour the map); this is an energy model")
    if target is None:
        return calc.targets[0]
    if target not in calc.targets:
        raise ValueError(f"the model predicts {', '.join(calc.targets)}, not {target!r}")
    return target


def representation_map(model: str, out: Path, subset: int, seed: int = 0, method: str = "umap",
                       dimensions: int = 2, target: str | None = None, batch_size: int = 64,
                       echo: Callable[[str], None] = print, progress: bool = True) -> dict:
    """Project the last hidden layer of ``model`` over ``subset`` QM9 molecules; scatter coloured by the label.

    Writes ``out/<method>.png`` and ``out/<method>.csv`` (qm9_id, label, prediction, coordinates).
    """
    from mlcalc import MLCalc

    calc = MLCalc.load(model)
    target = _target(calc, target)
    out.mkdir(parents=True, exist_ok=True)
    structures, rows, qm9 = qm9_sample(subset, seed)
    start = time.perf_counter()
    features = representations(calc.model, structures, batch_size=batch_size, progress=progress)
    predicted = calc.predict(structures, batch_size=batch_size)[target]
    echo(f"representations: {features.shape[0]} x {features.shape[1]} in {time.perf_counter() - start:.0f} s")
    start = time.perf_counter()
    coordinates = project(features, method, dimensions, seed)
    echo(f"{method}: {time.perf_counter() - start:.0f} s")
    labels = qm9.targets(rows, [target])[:, 0]
    unit = calc.units[target]
    csv_path = write_coordinates(out / f"{method}.csv", coordinates,
                                 {"qm9_id": qm9.ids[rows].tolist(), f"{target}_{unit}": [f"{v:.6g}" for v in labels],
                                  f"predicted_{target}_{unit}": [f"{v:.6g}" for v in predicted]})
    name = Path(str(model)).stem
    png = scatter_plot(out / f"{method}.png", coordinates, labels, f"{target} ({unit})",
                       f"{name}: last hidden layer of {subset} QM9 molecules", method)
    return {"png": png, "csv": csv_path, "features": features.shape}


def _test_mae(manifest: dict, target: str, unit: str) -> float:
    """The test MAE the model file records for ``target`` (NaN when it has none)."""
    from mlcalc.potentials.training.property_data import metric_key

    return float(manifest.get("metrics", {}).get("test", {}).get(metric_key(target, unit, "mae"), float("nan")))


def rogi_table(models: Sequence[str], out: Path, subset: int, seed: int = 0, metric: str = "euclidean",
               target: str | None = None, batch_size: int = 64, echo: Callable[[str], None] = print,
               progress: bool = True) -> list[dict]:
    """ROGI of the QM9 label over each model's last hidden layer (same molecules for all) and its test MAE.

    Writes ``out/rogi.csv`` and ``out/rogi.png`` (ROGI against test MAE, one point per model).
    """
    from mlcalc import MLCalc

    out.mkdir(parents=True, exist_ok=True)
    structures, rows, qm9 = qm9_sample(subset, seed)
    table = []
    for model in models:
        calc = MLCalc.load(model)
        name = _target(calc, target)
        start = time.perf_counter()
        features = representations(calc.model, structures, batch_size=batch_size, progress=progress)
        labels = qm9.targets(rows, [name])[:, 0]
        row = {"model": Path(str(model)).stem, "kind": calc.model.kind, "target": name, "unit": calc.units[name],
               "rogi": rogi(features, labels, metric), "test_mae": _test_mae(calc.manifest, name, calc.units[name]),
               "features": features.shape[1], "molecules": subset, "metric": metric}
        echo(f"{row['model']}: ROGI {row['rogi']:.4f}, test MAE {row['test_mae']:.4g} {row['unit']} "
             f"({time.perf_counter() - start:.0f} s)")
        table.append(row)
    with open(out / "rogi.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    _rogi_plot(out / "rogi.png", table, metric)
    return table


def _rogi_plot(path: Path, table: list[dict], metric: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    markers = "osD^v<>ph*"
    for i, row in enumerate(table):  # a legend, not labels at the points: close points would overlap
        ax.scatter(row["rogi"], row["test_mae"], s=36, marker=markers[i % len(markers)], label=row["model"])
    ax.legend(fontsize=7, loc="best", frameon=False)
    targets = sorted({(r["target"], r["unit"]) for r in table})
    ax.set_xlabel(f"ROGI of the label over the last hidden layer ({metric})")
    ax.set_ylabel("test MAE (" + ", ".join(f"{t} {u}" for t, u in targets) + ")")
    ax.set_title(f"roughness against error, {table[0]['molecules']} QM9 molecules", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def attribution_pictures(model: str, structures: Sequence[str], out: Path, method: str = "gradcam",
                         target: str | None = None, echo: Callable[[str], None] = print) -> list[Path]:
    """Each structure drawn with its atoms coloured by attribution: ``out/<name>_<method>.png``, plus all of
    them in ``out/attributions_<method>.png`` and the values in ``out/attributions_<method>.csv``."""
    from mlcalc import MLCalc
    from mlcalc.attributions import check_attribution_method

    method = check_attribution_method(method)
    calc = MLCalc.load(model)
    name = target if target is not None else (calc.targets[0] if calc.targets else "energy")
    out.mkdir(parents=True, exist_ok=True)
    molecules = [load_structure(spec) for spec in structures]
    values = [calc.get_attributions(atoms, method=method, target=target) for atoms in molecules]
    label = f"{method} of {name}"
    stems = [Path(spec.replace(":", "-")).stem for spec in structures]
    titles = []
    for atoms, stem in zip(molecules, stems):
        value = calc.get_property(name, atoms) if calc.targets else calc.get_potential_energy(atoms)
        titles.append(f"{stem} {atoms.get_chemical_formula()}\n{name} = {value:.3f} {calc.units.get(name, 'eV')}")
    paths = [draw_attributions(out / f"{stem}_{method}.png", [atoms], [v], [title], label)
             for atoms, v, title, stem in zip(molecules, values, titles, stems)]
    paths.append(draw_attributions(out / f"attributions_{method}.png", molecules, values, titles, label))
    with open(out / f"attributions_{method}.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["structure", "atom", "element", method])
        for stem, atoms, v in zip(stems, molecules, values):
            writer.writerows([stem, i, s, f"{x:.6g}"] for i, (s, x) in enumerate(zip(atoms.get_chemical_symbols(), v)))
    for path in paths:
        echo(f"wrote {path}")
    return paths
