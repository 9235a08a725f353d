"""Transfer studies: a model trained on one molecule runs MD on similar ones, measured against a reference.

For every molecule (the source and each target) and each of ``replicas`` replicas (own
seed and start conformer; :mod:`.starts`): MD with the model and the same MD with
the reference calculator (GFN2-xTB; same start, settings and seed), and for pre-optimised
model starts also the model from the reference's start (:mod:`.runs`). Then the
model's energy and force errors on reference frames, and bond/angle distributions (replicas
pooled) compared model vs reference and source vs target. Everything lands in ``out_dir``:
``md/`` (resumable runs and start geometries per molecule), ``figures/``, ``report.md``,
``report.html`` and ``results.json`` (:class:`~.results.TransferResults`). Rerunning the same config reuses finished MD runs and resumes
interrupted ones; ``study.json`` records the model (sha256) and dtype, so that a rerun with
another model is refused instead of mixing runs (``overwrite`` starts afresh). The
study's folder and each run folder are locked while written, and MD worker processes
die with the study's process (:func:`mlcalc.analysis.workers.die_with_parent`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from ase.io.trajectory import Trajectory

from mlcalc.analysis.distributions import GeometryDistributions, pool_distributions
from mlcalc.analysis.metrics import compare
from mlcalc.analysis.model_errors import model_errors, predict_bare
from mlcalc.analysis.stability.bonds import bond_pairs
from mlcalc.analysis.stability.replicas import exceeds_noise
from mlcalc.analysis.uncertainty import uncertainty_study
from mlcalc.analysis.universe import universe_from_positions
from mlcalc.data.molecules import load_molecule
from mlcalc.locks import FolderLock
from mlcalc.md import energy_conservation
from mlcalc.md.files import LOG, TRAJECTORY

from .config import TransferConfig
from .results import ModelInfo, MoleculeResults, SelectionSummary, TransferResults, nve_verdict
from .run_metrics import (METRICS, RunFeatures, beyond_noise, leave_one_out, reference_statistics, run_features,
                          run_metrics, summarise_runs)
from .runs import RUNS, MDJob, molecule_label, run_folder_name, run_jobs
from .starts import prepare_starts
from .study_folder import check_same_study, clear_study, source_model

__all__ = ["run_transfer", "study_jobs", "molecule_folder", "molecule_label", "TransferResults"]

log = logging.getLogger(__name__)


def run_transfer(config: TransferConfig, echo: Callable[[str], None] = print, progress: bool = True,
                 overwrite: bool = False) -> TransferResults:
    """Run the study in ``config`` (resuming what is already in ``config.out_dir``); returns its results.

    ``out_dir`` is locked while the study runs (a second study writing there is refused). With
    ``source_models`` the study runs once per model and the models are compared
    (:func:`.sources.run_source_comparison`; returns a :class:`.sources.SourceComparison`).
    A study already there made with another model, dtype or reference is refused unless
    ``overwrite``, which deletes the study's files first (``md/``, ``figures/``, reports).
    """
    if config.source_models:
        from .sources import run_source_comparison

        return run_source_comparison(config, echo, progress, overwrite)
    with FolderLock(config.out_dir, "transfer study"):
        if overwrite:
            clear_study(Path(config.out_dir))
        return _run_study(config, echo, progress)


@dataclass
class _Pooled:
    """What the molecules' analyses hand to the comparisons, the fine-tuning curve and the figures, by label."""

    distributions: dict[str, dict[str, dict]] = field(default_factory=dict)  # run -> selection -> Distribution
    references: dict[str, dict | None] = field(default_factory=dict)  # the reference runs' structure statistics
    structure: dict[str, dict] = field(default_factory=dict)  # run -> pooled h(r) and spectrum
    error_frames: dict[str, list] = field(default_factory=dict)
    predicted: dict[str, dict] = field(default_factory=dict)  # the model on each molecule's error frames


def _run_study(config: TransferConfig, echo: Callable[[str], None], progress: bool) -> TransferResults:
    from mlcalc.calculator import MLCalc

    from .report import nve_console_lines, write_report

    t0 = time.perf_counter()
    out = Path(config.out_dir)
    model_path = source_model(config, echo)
    calc = MLCalc.load(model_path)
    molecules = {m: load_molecule(m) for m in config.molecules}  # each molecule read once, passed down
    _check_elements(molecules, calc)
    ensemble = (_ensemble(config.uncertainty_model) if config.uncertainty_model
                and "uncertainty" not in calc.implemented_properties else None)
    check_same_study(config, out, model_path)
    relaxer = MLCalc.load(model_path, dtype="float64") if any(map(config.preoptimised, config.molecules)) else None
    starts = {m: prepare_starts(molecules[m], molecule_folder(out, m), config.replicas, config.conformers,
                                relaxer if config.preoptimised(m) else None, config.preoptimise_fmax)
              for m in config.molecules}
    jobs = study_jobs(config, out, str(model_path), starts, molecules)
    md = _run_md(config, jobs, echo, progress)

    results = TransferResults(
        name=config.name, config=json.loads(config.model_dump_json()),
        model=ModelInfo(str(model_path), calc.manifest.get("kind"), calc.manifest.get("metrics", {}).get("test", {})),
        source=molecule_label(config.source.molecule))
    pooled = _Pooled()
    for molecule in config.molecules:
        label = molecule_label(molecule)
        results.molecules[label] = _molecule_results(config, molecule, molecules[molecule], jobs, md, starts[molecule],
                                                     calc, pooled, results.missing_selections)
    results.comparisons = _comparisons(results.source, pooled.distributions, config.n_bins)
    results.energy_conservation = _conservation(jobs, md)
    _uncertainty(results, config, calc, ensemble, pooled)
    if config.finetune or config.learn:
        from .finetune_curve import finetune_curve

        results.finetune = {}
        for target in config.targets:
            label = molecule_label(target)
            results.finetune[label] = finetune_curve(
                config, out, (model_path, calc), target, molecules[target], label,
                [j for j in jobs if j.molecule == target], pooled.error_frames.get(label, []),
                pooled.references[label], pooled.distributions[label]["reference"], echo, progress,
                noise_runs=(results.molecules[label].metrics or {}).get("reference", {}).get("runs"))
    results.figures = _figures(config, out, jobs, pooled, results)
    results.wall_time_s = round(time.perf_counter() - t0, 1)
    results.write(out / "results.json")
    write_report(results, out)
    for line in nve_console_lines(results.energy_conservation):
        echo(line)
    return results


def _run_md(config: TransferConfig, jobs: list[MDJob], echo: Callable[[str], None], progress: bool
            ) -> dict[MDJob, dict]:
    """Run (or resume) every MD run of the study; each run's summary."""
    settings = config.md
    echo(f"MD: {len(jobs)} runs of {settings.steps} steps × {settings.timestep:g} fs ({settings.ensemble.upper()}, "
         f"{settings.temperature:g} K), {config.replicas} replica(s) per molecule, "
         f"{min(config.workers, len(jobs))} at a time"
         + (" (the model runs as one TorchSim batch)" if config.md.engine == "torchsim" else "") + " ...")
    return run_jobs(jobs, settings.to_dict(), config.dtype, config.workers, config.md.engine, progress, echo)


def _molecule_results(config: TransferConfig, molecule: str, atoms, jobs: list[MDJob], md: dict[MDJob, dict],
                      starts: dict, calc, pooled: _Pooled, missing_selections: dict[str, list[str]]
                      ) -> MoleculeResults:
    """One molecule's runs analysed (``atoms``: the molecule as given, whose bonds every run keeps); its pooled
    distributions, reference statistics and error frames go into ``pooled``."""
    label = molecule_label(molecule)
    mine = [job for job in jobs if job.molecule == molecule]
    entry = MoleculeResults(
        role="source" if molecule == config.source.molecule else "target", file=molecule,
        formula=atoms.get_chemical_formula(), n_atoms=len(atoms),
        md={run: [md[j] for j in mine if j.run == run] for run in RUNS if any(j.run == run for j in mine)},
        starts={"turns_deg": starts["turns"], "preoptimised": starts["preoptimised"]})
    features = {job: run_features(job.out, bond_pairs(atoms)) for job in mine}  # each trajectory read once
    entry.metrics, pooled.references[label], pooled.structure[label] = _run_metrics(atoms, mine, features)
    per_run, missing_selections[label] = _distributions(config, atoms, mine, features)
    pooled.distributions[label] = {run: pool_distributions(d) for run, d in per_run.items()}
    entry.distributions = {run: {name: SelectionSummary(d.mean, d.std, d.unit, d.terms.tolist())
                                 for name, d in dists.items()}
                           for run, dists in pooled.distributions[label].items()}
    entry.replica_means = {run: {name: [d[name].mean for d in replicas if name in d]
                                 for name in pooled.distributions[label][run]}
                           for run, replicas in per_run.items()}
    if "reference" in entry.replica_means:
        ref_means = entry.replica_means["reference"]
        entry.means_beyond_noise = {
            run: {name: exceeds_noise(values, ref_means[name]) for name, values in means.items() if name in ref_means}
            for run, means in entry.replica_means.items() if run != "reference"}
    if config.reference and config.error_frames:
        runs = [j.out for j in mine if j.run == "reference"]
        frames = pooled.error_frames[label] = _error_frames(runs, config.error_frames)
        pooled.predicted[label] = predict_bare(calc, frames)  # for the errors and the uncertainty
        entry.model_errors = model_errors(calc, frames, predicted=pooled.predicted[label])
    return entry


def _uncertainty(results: TransferResults, config: TransferConfig, calc, ensemble, pooled: _Pooled) -> None:
    """The uncertainty against the force error on the error frames: of the model if it is an ensemble, else of
    ``uncertainty_model``."""
    if pooled.error_frames and "uncertainty" in calc.implemented_properties:
        results.uncertainty = uncertainty_study(calc, pooled.error_frames, pooled.predicted)
    elif pooled.error_frames and ensemble is not None:
        results.uncertainty = uncertainty_study(ensemble, pooled.error_frames)
        results.uncertainty_model = config.uncertainty_model


def _figures(config: TransferConfig, out: Path, jobs: list[MDJob], pooled: _Pooled,
             results: TransferResults) -> dict[str, str]:
    """Draw the study's figures; title -> file relative to ``out``."""
    from .plots import plot_energies, plot_finetune, plot_selection, plot_structure

    first = {job.label: job.out for job in jobs if job.replica == 0 and job.run != "model-unoptimised"}
    figures = {"energies": plot_energies(first, out / "figures" / "energies.png")}
    if pooled.structure and any(pooled.structure.values()):
        figures["h(r) and spectra"] = plot_structure(pooled.structure, out / "figures" / "structure.png")
    for label, rows in (results.finetune or {}).items():
        figures[f"fine-tuning {label}"] = plot_finetune(label, rows, out / "figures" / f"finetune-{_slug(label)}.png")
    for sel_name in _selection_names(pooled.distributions):
        per_molecule = {m: {c: d[sel_name] for c, d in runs.items() if sel_name in d and c != "model-unoptimised"}
                        for m, runs in pooled.distributions.items()}
        figures[sel_name] = plot_selection(sel_name, per_molecule, results.source,
                                           out / "figures" / f"{_slug(sel_name)}.png", n_bins=config.n_bins)
    return {k: str(Path(v).relative_to(out)) for k, v in figures.items()}


def study_jobs(config: TransferConfig, out: Path, model: str, starts: dict[str, dict], molecules: dict[str, Any]
               ) -> list[MDJob]:
    """Every MD run of the study: per molecule and replica, the reference, the model and (pre-optimised
    starts) the model from the reference's start. ``molecules``: each molecule's Atoms, as given."""
    jobs = []
    for molecule in config.molecules:
        folder = molecule_folder(out, molecule)
        reference_folder = molecule_folder(config.reference_dir, molecule) if config.reference_dir else folder
        n_atoms = len(molecules[molecule])
        for k in range(config.replicas):
            seed = config.md.seed + k
            raw, model_start = starts[molecule]["raw"][k], starts[molecule]["model"][k]
            if config.reference:
                jobs.append(MDJob(molecule, "reference", k, config.reference, raw, seed,
                                  reference_folder / run_folder_name("reference", k), n_atoms))
            jobs.append(MDJob(molecule, "model", k, model, model_start, seed, folder / run_folder_name("model", k),
                              n_atoms))
            if model_start != raw:
                jobs.append(MDJob(molecule, "model-unoptimised", k, model, raw, seed,
                                  folder / run_folder_name("model-unoptimised", k), n_atoms))
    return jobs


def _run_metrics(topology, jobs: list[MDJob], features: dict[MDJob, RunFeatures]
                 ) -> tuple[dict[str, Any], dict[str, Any] | None, dict]:
    """Stability, h(r), spectrum and energy conservation of each run of ``topology`` (the molecule as given;
    ``features``: job -> its features) against
    the reference runs ({} without reference runs), the reference runs' pooled statistics
    (:func:`.run_metrics.reference_statistics`), and each run kind's pooled statistics (run -> statistics,
    for the figure)."""
    references = [job for job in jobs if job.run == "reference"]
    if not references:
        return {}, None, {}
    pairs = bond_pairs(topology)
    reference = reference_statistics(topology, [features[j] for j in references])
    out: dict[str, Any] = {"bonds": len(pairs), "reference_runs": len(references)}
    for run in dict.fromkeys(j.run for j in jobs):
        if run == "reference":
            per_run = leave_one_out([features[j] for j in references], topology)
        else:
            per_run = [run_metrics(features[j], reference) for j in jobs if j.run == run]
        if per_run:
            out[run] = {"runs": per_run, "summary": summarise_runs(per_run)}
    if "reference" in out:
        for run in (r for r in out if r in ("model", "model-unoptimised")):
            out[run]["beyond_noise"] = {metric: beyond_noise(out[run]["runs"], out["reference"]["runs"], metric)
                                        for metric in METRICS}
    pooled = {run: reference_statistics(topology, [features[j] for j in jobs if j.run == run])
              for run in dict.fromkeys(j.run for j in jobs)}
    return out, reference, pooled


def _conservation(jobs: list[MDJob], md: dict[MDJob, dict]) -> list[dict[str, Any]]:
    """The NVE criterion (:func:`mlcalc.md.energy_conservation`) for every run, with its verdict
    (:func:`.results.nve_verdict`): a run that blew up or stopped early has not passed."""
    rows = []
    for job in jobs:
        try:
            verdict = energy_conservation(job.out / LOG)
        except ValueError:  # fewer than two log rows
            verdict = {"ratio": None, "span_ratio": None, "conserved": False, "change_over_run_eV": None}
        nve = nve_verdict(verdict["conserved"], md[job]["status"])
        rows.append({"molecule": molecule_label(job.molecule), "run": job.out.name, "status": md[job]["status"],
                     **{k: verdict[k] for k in ("change_over_run_eV", "ratio", "span_ratio")},
                     "conserved": nve == "passed", "nve": nve})
    return rows


def _distributions(config: TransferConfig, topology, jobs: list[MDJob], features: dict[MDJob, RunFeatures]
                   ) -> tuple[dict[str, list[dict]], list[str]]:
    """Each run's distributions per replica (run -> [selection -> Distribution]) and the selections missing;
    every run's bonds are those of ``topology``, the molecule as given."""
    per_run: dict[str, list[dict]] = {}
    missing: list[str] = []
    for job in jobs:
        arrays = features[job].arrays
        analysis = GeometryDistributions(universe_from_positions(arrays.first, arrays.positions, topology),
                                         config.compare, skip_missing=True).run()
        per_run.setdefault(job.run, []).append(analysis.results.distributions)
        missing = analysis.missing
    return per_run, missing


def _ensemble(spec: str):
    """The calculator of ``uncertainty_model``; a model without a force uncertainty is refused in one line."""
    from mlcalc.calculator import MLCalc

    ensemble = MLCalc.load(spec)
    if "uncertainty" not in ensemble.implemented_properties:
        raise ValueError(f"uncertainty_model {spec} gives no uncertainty: give an ensemble (mlcalc train --seeds N "
                         "makes one)")
    return ensemble


def _check_elements(molecules: dict[str, Any], calc) -> None:
    """Refuse a molecule (name -> Atoms) with an element the model does not know, in one line."""
    from ase.data import chemical_symbols

    known = set(calc.model.elements)
    for molecule, atoms in molecules.items():
        missing = sorted(set(atoms.numbers) - known)
        if missing:
            raise ValueError(f"the model knows only {', '.join(chemical_symbols[z] for z in sorted(known))}; "
                             f"{molecule} also has {', '.join(chemical_symbols[z] for z in missing)}")


def _error_frames(runs: list[Path], count: int) -> list:
    """``count`` frames spread evenly over the reference runs (the replicas share them out)."""
    frames = []
    share = -(-count // len(runs))
    for run in runs:
        with Trajectory(run / TRAJECTORY) as traj:
            n = len(traj)
            picks = np.unique(np.linspace(0, n - 1, min(share, n)).round().astype(int))
            frames += [traj[int(k)] for k in picks]
    return _spread(frames, count)


def _spread(frames: list, count: int) -> list:
    picks = np.unique(np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int))
    return [frames[int(k)] for k in picks]


def _comparisons(source: str, distributions: dict, n_bins: int) -> dict[str, Any]:
    """Model vs reference per molecule (replicas pooled); source vs each target, for the model and the reference."""
    out: dict[str, Any] = {"model_vs_reference": {}, "source_vs_target": {}}
    for molecule, calcs in distributions.items():
        if "reference" in calcs:
            out["model_vs_reference"][molecule] = {
                name: compare(calcs["reference"][name], calcs["model"][name], n_bins=n_bins)
                for name in calcs["model"] if name in calcs["reference"]}
    for calc_name in ("model", "reference"):
        if calc_name not in distributions[source]:
            continue
        out["source_vs_target"][calc_name] = {
            molecule: {name: compare(distributions[source][calc_name][name], calcs[calc_name][name],
                                     n_bins=n_bins)
                       for name in calcs[calc_name] if name in distributions[source][calc_name]}
            for molecule, calcs in distributions.items() if molecule != source}
    return out


def _selection_names(distributions: dict) -> list[str]:
    names: list[str] = []
    for calcs in distributions.values():
        for dists in calcs.values():
            names += [n for n in dists if n not in names]
    return names


def molecule_folder(out_dir: str | os.PathLike, molecule: str) -> Path:
    """The folder of ``molecule``'s runs in a study: ``out_dir/md/<molecule>`` (with ``model/``, ``reference/``)."""
    return Path(out_dir) / "md" / _slug(molecule)


def _slug(text: str) -> str:
    """A file-name-safe version of a molecule (name or file) or selection name."""
    stem = Path(text).stem if Path(text).suffix in (".xyz", ".extxyz", ".traj", ".cif", ".pdb") else text
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem).strip("_") or "x"
