"""Where the frames of a transfer study lie in the energy model's representation: a UMAP (or PCA) map
of every molecule's MD frames and the fraction of each target's frames outside the source's region.

Frames: the trajectories of a study folder (:func:`mlcalc.analysis.transfer.study.run_transfer`),
reference runs by default, model runs too on request. Features: the node features of the
model's last message-passing layer (:func:`~mlcalc.analysis.representations.representations`),
averaged over each frame's atoms, or one point per atom (``per_atom``; neighbours then only
among atoms of the same element). Out of distribution: :func:`~mlcalc.analysis.novelty.out_of_distribution`
against the source's frames of the first run kind.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from ase.io.trajectory import Trajectory

from mlcalc.analysis.projection import category_plot, project, write_coordinates
from mlcalc.analysis.transfer.study import molecule_folder
from mlcalc.md.files import TRAJECTORY

from .novelty import out_of_distribution
from .representations import representations

__all__ = ["RUN_KINDS", "study_frames", "transfer_map"]

#: the runs of each molecule in a study
RUN_KINDS = ("reference", "model")


def _study(study: Path) -> dict:
    path = Path(study) / "results.json"
    if not path.is_file():
        raise ValueError(f"{study} has no results.json: give the folder of a finished transfer study "
                         "(mlcalc transfer CONFIG writes it; rerun it to finish an interrupted one)")
    return json.loads(path.read_text())


def study_frames(study: str | Path, runs: Sequence[str] = ("reference",), every: int = 1) -> list[dict]:
    """Every ``every``-th frame of each molecule's ``runs`` in a study folder, source first.

    One dict per run: ``molecule``, ``role`` (source/target), ``run``, ``frames`` (frame index
    in the trajectory, int [k]) and ``atoms`` (list of Atoms).
    """
    unknown = [r for r in runs if r not in RUN_KINDS]
    if unknown or not runs:
        raise ValueError(f"unknown runs {unknown or list(runs)}; choose from {', '.join(RUN_KINDS)}")
    if every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    results = _study(Path(study))
    molecules = sorted(results["molecules"], key=lambda m: results["molecules"][m]["role"] != "source")
    out = []
    for molecule in molecules:
        for run in runs:
            path = molecule_folder(study, molecule) / run / TRAJECTORY
            if not path.is_file():
                raise ValueError(f"{path} is missing: the study has no {run} run of {molecule}")
            with Trajectory(path) as traj:
                index = np.arange(0, len(traj), every)
                atoms = [traj[int(k)] for k in index]
            out.append({"molecule": molecule, "role": results["molecules"][molecule]["role"], "run": run,
                        "frames": index, "atoms": atoms})
    return out


def transfer_map(study: str | Path, out: Path, model: str | None = None, runs: Sequence[str] = ("reference",),
                 per_atom: bool = False, method: str = "umap", dimensions: int = 2, seed: int = 0, window: int = 10,
                 every: int = 1, batch_size: int = 64, echo: Callable[[str], None] = print,
                 progress: bool = True) -> dict:
    """Map the study's frames by ``model``'s representation (default: the study's model) and measure novelty.

    Writes ``out/<method>.csv`` (molecule, role, run, frame[, atom, element], coordinates),
    ``out/<method>.png`` (coloured by molecule; reference runs as dots, model runs as crosses)
    and ``out/ood.csv`` (per molecule and run: nearest-source distances and the fraction of
    points beyond the 95th/99th percentile of the source's own nearest-neighbour distances);
    ``per_atom`` adds ``out/ood_atoms.csv``, the same per atom of each molecule.
    """
    from mlcalc import MLCalc

    study = Path(study)
    spec = model if model is not None else _study(study)["model"]["path"]
    calc = MLCalc.load(spec)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    runs_found = study_frames(study, runs, every)
    features, keys, columns = [], [], {"molecule": [], "role": [], "run": [], "frame": []}
    if per_atom:
        columns.update(atom=[], element=[])
    for r, entry in enumerate(runs_found):
        nodes = representations(calc.model, entry["atoms"], batch_size=batch_size, per_atom=True, progress=progress)
        for frame, atoms, x in zip(entry["frames"], entry["atoms"], nodes):
            points = x if per_atom else x.mean(axis=0, keepdims=True)
            features.append(points)
            rows = len(points)
            keys.append(np.column_stack([np.full(rows, r), np.full(rows, frame)]
                                        + ([atoms.numbers] if per_atom else [])))
            for name, value in (("molecule", entry["molecule"]), ("role", entry["role"]), ("run", entry["run"]),
                                ("frame", int(frame))):
                columns[name].extend([value] * rows)
            if per_atom:
                columns["atom"].extend(range(rows))
                columns["element"].extend(atoms.get_chemical_symbols())
    features, keys = np.concatenate(features), np.concatenate(keys)
    echo(f"representations: {features.shape[0]} points x {features.shape[1]} in {time.perf_counter() - start:.0f} s")

    run_of_point = keys[:, 0]
    source = run_of_point == 0  # the source's first run kind: the region the others are measured against
    groups = {f"{e['molecule']} ({e['run']})": (features[run_of_point == r], keys[run_of_point == r])
              for r, e in enumerate(runs_found)}
    table = out_of_distribution(features[source], keys[source], groups, window=window)
    for row, entry in zip(table, runs_found):
        row.update(molecule=entry["molecule"], role=entry["role"], run=entry["run"])
    _write_table(out / "ood.csv", table)
    if per_atom:  # the same per atom of each molecule: which environments are new to the model
        atom = np.asarray(columns["atom"])
        chosen = {(r, i): (run_of_point == r) & (atom == i) for r in range(len(runs_found))
                  for i in range(len(runs_found[r]["atoms"][0]))}
        atoms_table = out_of_distribution(features[source], keys[source],
                                          {k: (features[m], keys[m]) for k, m in chosen.items()}, window=window)
        for row, (r, i) in zip(atoms_table, chosen):
            entry = runs_found[r]
            row.update(molecule=entry["molecule"], role=entry["role"], run=entry["run"], atom=i,
                       element=entry["atoms"][0].get_chemical_symbols()[i])
        _write_table(out / "ood_atoms.csv", atoms_table, ["atom", "element"])
    for row in table:
        echo(f"{row['group']:>28}: {row['points']} points, nearest source distance mean {row['mean_distance']:.3g}, "
             f"beyond source p95 {row['ood_95']:.1%}, p99 {row['ood_99']:.1%}")

    start = time.perf_counter()
    coordinates = project(features, method, dimensions, seed)
    echo(f"{method}: {time.perf_counter() - start:.0f} s")
    csv_path = write_coordinates(out / f"{method}.csv", coordinates, columns)
    labels = [f"{m} ({role})" for m, role in zip(columns["molecule"], columns["role"])]
    what = "atoms" if per_atom else "frames (mean over atoms)"
    png = category_plot(out / f"{method}.png", coordinates, labels, columns["run"],
                        f"{Path(str(spec)).stem}: {what} of {study.name}",
                        method)
    return {"png": png, "csv": csv_path, "ood": out / "ood.csv", "table": table, "features": features.shape}


def _write_table(path: Path, table: list[dict], extra: Sequence[str] = ()) -> None:
    first = ["molecule", "role", "run", *extra, "points"]
    fields = first + [k for k in table[0] if k not in first and k != "group"]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in table:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
