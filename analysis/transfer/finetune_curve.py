"""How much target data fixes transfer: the fine-tuning curve of a transfer study.

For each target and frame count k (``finetune`` in the config): the source model
fine-tuned on k reference frames of the target (Langevin MD at 500 K with the reference,
never the frames scored, which come from the study's 300 K NVE reference runs), and a
model of the same kind trained from scratch on the same k frames. Each reruns the target's
model MD (every replica, ``finetune_steps`` steps, pre-optimised start when the study
pre-optimises) and is scored as the study scores its model: force MAE on the study's
error frames, stability time and h(r) against the reference runs, and the W1 distance of
each bond/angle distribution from the reference's. k = 0 is the source model itself,
scored on the first ``finetune_steps`` of its runs. With ``learn`` in the config, one more row per
target: the source model learning on the fly from the reference during its own run (``mlcalc md
--learn``: ``learn_replicas`` replicas, ``finetune_steps`` steps from the reference replicas' starts
with their seeds, resumed by a rerun), its runs scored the same way and its learned committee on the
error frames; its ``k`` is the reference calls the run took. Every row with two or more runs says
whether its stability, h(r) and spectrum are beyond the reference replicas' noise (as the zero-shot
runs do). Everything is kept under ``out_dir/finetune/<target>/`` and reused by a rerun.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from ase import Atoms

from mlcalc.analysis.distributions import GeometryDistributions, pool_distributions
from mlcalc.analysis.metrics import wasserstein
from mlcalc.analysis.model_errors import model_errors
from mlcalc.analysis.universe import universe_from_positions

from .config import TransferConfig
from .run_metrics import METRICS, beyond_noise, run_features, run_metrics, summarise_runs
from .runs import MDJob, run_folder_name, run_jobs
from .starts import prepare_starts

__all__ = ["finetune_curve", "KINDS", "ON_THE_FLY"]

#: how each model of the curve is made from the k frames
KINDS = ("finetuned", "scratch")
#: the kind of the row of a run that learned on the fly (k: its reference calls)
ON_THE_FLY = "on-the-fly"


def finetune_curve(config: TransferConfig, out: Path, source: tuple[Path, Any], target: str, atoms: Atoms,
                   label: str, study_jobs: list[MDJob], error_frames: list, reference: dict[str, Any],
                   reference_distributions: dict, echo: Callable[[str], None] = print,
                   progress: bool = False, noise_runs: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One row per (k, kind) for ``target``: its model file and scores (see the module docstring).

    ``source``: the study's model file and its calculator (already loaded); ``atoms``: the target as given;
    ``study_jobs``: the study's runs of ``target`` (k = 0 is scored on their model runs);
    ``error_frames``: the target's scored reference frames; ``reference``: the reference runs'
    structure statistics (:func:`.run_metrics.reference_statistics`);
    ``reference_distributions``: selection -> pooled reference Distribution; ``noise_runs``: the reference
    runs' leave-one-out scores (:func:`.run_metrics.leave_one_out`), for the rows' noise verdicts.
    """
    from mlcalc.calculator import MLCalc
    from mlcalc.md.target_frames import target_training_frames
    from mlcalc.potentials.training.finetune import finetune, train_from_scratch

    model_path, source_calc = source
    folder = Path(out) / "finetune" / _slug(label)
    steps = config.finetune_steps or config.md.steps
    counts = [k for k in config.finetune if k > 0]
    if counts:
        echo(f"fine-tuning curve, {label}: {max(counts)} frames of {config.reference} MD at 500 K ...")
    cache = Path(config.reference_dir) / "finetune" / _slug(label) / "frames" if config.reference_dir else folder / "frames"
    frames = (target_training_frames(target, max(counts), reference=config.reference, out=cache,
                                     seed=config.md.seed) if counts else [])
    rows = []
    if 0 in config.finetune:
        source_runs = [j for j in study_jobs if j.run == "model"]
        rows.append(_score(config, 0, "source", model_path, source_runs, steps, error_frames, reference,
                           reference_distributions, noise_runs, calc=source_calc))
    for k in counts:
        for kind in KINDS:
            where = folder / f"k{k}" / kind
            make = finetune if kind == "finetuned" else train_from_scratch
            echo(f"fine-tuning curve, {label}: {kind} on {k} frames ...")
            start = time.perf_counter()
            level = {"reference": config.reference} if kind == "finetuned" else {}  # a foundation source's energies
            path = make(model_path, frames[:k], where / "model", steps=config.finetune_train_steps,
                        seed=config.md.seed, progress=progress,
                        source=f"{config.reference} Langevin MD of {label} at 500 K", **level)
            trained_s = time.perf_counter() - start
            relaxer = MLCalc.load(path, dtype="float64") if config.preoptimised(target) else None
            starts = prepare_starts(atoms, where, config.replicas, config.conformers, relaxer,
                                    config.preoptimise_fmax)
            jobs = [MDJob(target, "model", r, str(path), starts["model"][r], config.md.seed + r,
                          where / "md" / run_folder_name("model", r), len(atoms)) for r in range(config.replicas)]
            run_jobs(jobs, {**config.md.to_dict(), "steps": steps}, config.dtype, config.workers, config.md.engine,
                     progress, echo)
            rows.append({**_score(config, k, kind, path, jobs, steps, error_frames, reference, reference_distributions,
                                  noise_runs),
                         "train_wall_time_s": round(trained_s, 1)})
    if config.learn is not None:
        starts = _reference_starts(study_jobs, config.learn_replicas) if config.learn_replicas > 1 else atoms
        rows.append(_on_the_fly(config, folder / ON_THE_FLY, model_path, target, starts, label, steps, error_frames,
                                reference, reference_distributions, noise_runs, echo, progress))
    return rows


def _reference_starts(study_jobs: list[MDJob], n: int) -> list[Atoms]:
    """The start geometries of the target's first ``n`` reference replicas (the learning run's replicas' starts)."""
    from ase.io import read

    by_replica = {job.replica: job.start for job in study_jobs if job.run == "reference"}
    missing = [r for r in range(n) if r not in by_replica]
    if missing:
        raise ValueError(f"learn_replicas {n} needs the reference's replicas {missing}: the study has none to start "
                         "from")
    return [read(by_replica[r]) for r in range(n)]


def _on_the_fly(config: TransferConfig, where: Path, model_path: Path, target: str, atoms: Atoms | list[Atoms],
                label: str, steps: int, error_frames: list, reference: dict[str, Any], reference_distributions: dict,
                noise_runs: list[dict[str, Any]] | None, echo: Callable[[str], None], progress: bool
                ) -> dict[str, Any]:
    """The row of the source model learning on the fly during its own run of ``target`` (k: its reference calls);
    ``atoms``: the start, or one per replica (``config.learn_replicas``)."""
    import torch

    from mlcalc.md import MDSettings
    from mlcalc.potentials.training.on_the_fly import run_learning_md

    echo(f"on-the-fly learning, {label}: {steps} steps learning from {config.learn.reference} ...")
    settings = MDSettings(**{**config.md.to_dict(), "steps": steps})
    result = run_learning_md(model_path, atoms, settings, config.learn, where, replicas=config.learn_replicas,
                             resume=where.exists(), progress=progress, dtype=getattr(torch, config.dtype), label=label)
    s = result.summary
    jobs = [MDJob(target, "model", r, str(result.model), "", config.md.seed + r, run.out_dir, run.n_atoms)
            for r, run in enumerate(result.runs)]
    row = _score(config, s["reference_calls"], ON_THE_FLY, result.model, jobs, steps, error_frames, reference,
                 reference_distributions, noise_runs)
    return {**row, "reference_calls": s["reference_calls"], "budget_spent": s["budget_spent"],
            "train_wall_time_s": s["wall_time_s"]["total"], "learning": str(where / "learning.json")}


def _score(config: TransferConfig, k: int, kind: str, model: Path, jobs: list[MDJob], steps: int,
           error_frames: list, reference: dict[str, Any], reference_distributions: dict,
           noise_runs: list[dict[str, Any]] | None = None, calc=None) -> dict[str, Any]:
    """Force errors, stability, h(r) and W1 per selection of one model's runs of the target (first ``steps``),
    and with ``noise_runs`` (the reference's leave-one-out scores) whether each metric is beyond their noise;
    ``calc``: the model's calculator if already loaded."""
    from mlcalc.calculator import MLCalc

    frames = steps // config.md.interval + 1
    features = [run_features(job.out, reference["pairs"], max_frames=frames) for job in jobs]
    per_run = [run_metrics(f, reference) for f in features]
    replicas = []
    for f in features:
        universe = universe_from_positions(f.arrays.first, f.arrays.positions, topology=reference["topology"])
        replicas.append(GeometryDistributions(universe, config.compare, skip_missing=True).run().results.distributions)
    pooled = pool_distributions(replicas)
    w1 = {name: wasserstein(reference_distributions[name].samples, d.samples)
          for name, d in pooled.items() if name in reference_distributions}
    kinds = {name: d.kind for name, d in pooled.items()}
    errors = model_errors(calc or MLCalc.load(model), error_frames) if error_frames else {}
    return {"k": k, "kind": kind, "model": str(model), "steps": steps,
            "forces_mae_meV_per_A": errors.get("forces_mae_meV_per_A"),
            "energy_mae_offset_removed_meV_per_atom": errors.get("energy_mae_offset_removed_meV_per_atom"),
            **summarise_runs(per_run), "w1": w1,
            "beyond_noise": ({metric: beyond_noise(per_run, noise_runs, metric) for metric in METRICS}
                             if noise_runs else {}),
            "mean_w1_bonds_A": _mean([w for n, w in w1.items() if kinds[n] == "bond"]),
            "mean_w1_angles_deg": _mean([w for n, w in w1.items() if kinds[n] == "angle"])}


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text).strip("_") or "x"
