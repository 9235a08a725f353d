"""Transfer studies: a model trained on one molecule runs MD on similar ones, measured against a reference.

For every molecule (the source and each target): MD with the model and the same MD with
the reference calculator (GFN2-xTB; same structure, settings and seed), the model's
energy and force errors on reference frames, and bond/angle distributions compared
model vs reference and source vs target. Everything lands in ``out_dir``: ``md/`` (one
resumable run per molecule and calculator), ``figures/``, ``report.md``, ``report.html``
and ``results.json``. Rerunning the same config reuses finished MD runs and resumes
interrupted ones; ``study.json`` records the model (sha256) and dtype, so that a rerun with
another model is refused instead of mixing runs (``overwrite`` starts afresh). The
study's folder and each run folder are locked while written, and MD worker processes
die with the study's process (:func:`mlcalc.workers.die_with_parent`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable

import numpy as np
from ase.io.trajectory import Trajectory
from tqdm.auto import tqdm

from mlcalc.data.molecules import load_molecule
from mlcalc.errors import OutputExistsError
from mlcalc.locks import FolderLock
from mlcalc.md.files import CHECKPOINT, TRAJECTORY
from mlcalc.workers import die_with_parent

from .distributions import GeometryDistributions
from .metrics import compare
from .model_errors import model_errors, predict_bare
from .uncertainty import uncertainty_study
from .transfer_config import TransferConfig
from .universe import universe_from_trajectory

__all__ = ["run_transfer", "molecule_folder"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Job:
    molecule: str
    calculator: str  # "model" or "reference"
    spec: str  # model file or reference name
    out: Path

    @property
    def label(self) -> str:
        return f"{self.molecule} ({self.calculator})"


def run_transfer(config: TransferConfig, echo: Callable[[str], None] = print, progress: bool = True,
                 overwrite: bool = False) -> dict[str, Any]:
    """Run the study in ``config`` (resuming what is already in ``config.out_dir``); returns its results.

    ``out_dir`` is locked while the study runs (a second study writing there is refused).
    A study already there made with another model, dtype or reference is refused unless
    ``overwrite``, which deletes the study's files first (``md/``, ``figures/``, reports).
    """
    with FolderLock(config.out_dir, "transfer study"):
        if overwrite:
            _clear_study(Path(config.out_dir))
        return _run_study(config, echo, progress)


def _run_study(config: TransferConfig, echo: Callable[[str], None], progress: bool) -> dict[str, Any]:
    from mlcalc.calculator import MLCalc

    from .report import write_report

    t0 = time.perf_counter()
    out = Path(config.out_dir)
    model_path = _source_model(config, echo)
    calc = MLCalc.load(model_path)
    _check_elements(config, calc)
    _check_same_study(config, out, model_path)

    jobs = []
    for molecule in config.molecules:
        folder = out / "md" / _slug(molecule)
        jobs.append(_Job(molecule, "model", str(model_path), folder / "model"))
        if config.reference:
            jobs.append(_Job(molecule, "reference", config.reference, folder / "reference"))
    settings = config.md
    echo(f"MD: {len(jobs)} runs of {settings.steps} steps × {settings.timestep:g} fs ({settings.ensemble.upper()}, "
         f"{settings.temperature:g} K), {min(config.workers, len(jobs))} at a time"
         + (" (the model runs as one TorchSim batch)" if config.md_engine == "torchsim" else "") + " ...")
    md = _run_jobs(jobs, config, progress, echo)

    results: dict[str, Any] = {
        "name": config.name, "config": json.loads(config.model_dump_json()),
        "model": {"path": str(model_path), "kind": calc.manifest.get("kind"),
                  "test": calc.manifest.get("metrics", {}).get("test", {})},
        "source": config.source.molecule, "molecules": {}, "missing_selections": {},
    }
    distributions: dict[str, dict[str, Any]] = {}
    error_frames: dict[str, list] = {}
    predicted: dict[str, dict] = {}  # the model on each molecule's error frames
    for molecule in config.molecules:
        atoms = load_molecule(molecule)
        entry: dict[str, Any] = {"role": "source" if molecule == config.source.molecule else "target",
                                 "formula": atoms.get_chemical_formula(), "n_atoms": len(atoms),
                                 "md": {job.calculator: md[job] for job in jobs if job.molecule == molecule}}
        distributions[molecule] = {}
        for job in (j for j in jobs if j.molecule == molecule):
            analysis = GeometryDistributions(universe_from_trajectory(job.out / TRAJECTORY), config.compare,
                                             skip_missing=True).run()
            distributions[molecule][job.calculator] = analysis.results.distributions
            results["missing_selections"][molecule] = analysis.missing
        entry["distributions"] = {
            calc_name: {name: {"mean": d.mean, "std": d.std, "unit": d.unit, "terms": d.terms.tolist()}
                        for name, d in dists.items()}
            for calc_name, dists in distributions[molecule].items()}
        if config.reference and config.error_frames:
            error_frames[molecule] = _error_frames(out / "md" / _slug(molecule) / "reference", config.error_frames)
            predicted[molecule] = predict_bare(calc, error_frames[molecule])  # for the errors and the uncertainty
            entry["model_errors"] = model_errors(calc, error_frames[molecule], predicted=predicted[molecule])
        results["molecules"][molecule] = entry
    results["comparisons"] = _comparisons(config, distributions)
    if error_frames and "uncertainty" in calc.implemented_properties:
        results["uncertainty"] = uncertainty_study(calc, error_frames, predicted)

    from .plots import plot_energies, plot_selection

    figures = {"energies": plot_energies({job.label: job.out for job in jobs}, out / "figures" / "energies.png")}
    for sel_name in _selection_names(distributions):
        per_molecule = {m: {c: d[sel_name] for c, d in calcs.items() if sel_name in d}
                        for m, calcs in distributions.items()}
        figures[sel_name] = plot_selection(sel_name, per_molecule, config.source.molecule,
                                           out / "figures" / f"{_slug(sel_name)}.png", n_bins=config.n_bins)
    results["figures"] = {k: str(Path(v).relative_to(out)) for k, v in figures.items()}
    results["wall_time_s"] = round(time.perf_counter() - t0, 1)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    write_report(results, out)
    return results


_STUDY_FILES = ("md", "figures", "report.md", "report.html", "results.json", "study.json")


def _clear_study(out: Path) -> None:
    """Delete what a study writes into ``out`` (nothing else there)."""
    for name in _STUDY_FILES:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _check_same_study(config: TransferConfig, out: Path, model_path: Path) -> None:
    """Record the model (sha256), dtype and reference in study.json; refuse MD runs made with others."""
    from mlcalc.data.files import file_sha256

    made_with = {"model_sha256": file_sha256(model_path), "dtype": config.dtype, "reference": config.reference}
    path = out / "study.json"
    if path.exists() and (out / "md").exists():
        before = json.loads(path.read_text())
        changed = [k for k in made_with if before.get(k) != made_with[k]
                   and not (k == "reference" and None in (before.get(k), made_with[k]))]
        if changed:
            raise OutputExistsError(f"{out} holds a study made with another {', '.join(changed)}; use another out_dir "
                                    "or replace it with --overwrite (overwrite=True)")
    path.write_text(json.dumps(made_with, indent=1))


def _source_model(config: TransferConfig, echo) -> Path:
    from mlcalc.named_models import resolve_model_path

    if config.source.model:
        return resolve_model_path(config.source.model)
    from mlcalc.config import load_config
    from mlcalc.potentials.training import train

    train_config = load_config(config.source.train_config)
    path = Path(train_config.out_dir) / f"{train_config.name}.mlc"
    if path.exists():
        echo(f"source model: {path} (already trained)")
        return path
    echo(f"training the source model from {config.source.train_config} ...")
    return train(train_config, resume=(Path(train_config.out_dir) / "checkpoints" / "last.ckpt").exists()).model_path


def _check_elements(config: TransferConfig, calc) -> None:
    from ase.data import chemical_symbols

    known = set(calc.model.elements)
    for molecule in config.molecules:
        missing = sorted(set(load_molecule(molecule).numbers) - known)
        if missing:
            raise ValueError(f"the model knows only {', '.join(chemical_symbols[z] for z in sorted(known))}; "
                             f"{molecule} also has {', '.join(chemical_symbols[z] for z in missing)}")


def _md_job(molecule: str, spec: str, dtype: str, settings: dict, out: Path) -> dict[str, Any]:
    """One MD run (in a worker process or inline); resumes a run already in ``out``."""
    import torch

    from mlcalc.calculators import get_calculator
    from mlcalc.md import MDSettings, run_md

    atoms = load_molecule(molecule)
    atoms.calc = get_calculator(spec, dtype=getattr(torch, dtype))
    # no checkpoint: files cut short before the first one are replaced
    result = run_md(atoms, MDSettings(**settings), out, resume=(Path(out) / CHECKPOINT).exists(), overwrite=True)
    return result.summary()


def _batched_model_job(molecules: list[str], spec: str, dtype: str, settings: dict, outs: list[Path]) -> list[dict]:
    """Every molecule's model run in one TorchSim batch (in a worker process or inline); resumes what is saved."""
    import torch

    from mlcalc.md import MDSettings, run_batched_md

    structures = [load_molecule(m) for m in molecules]
    # resume what has a checkpoint; files cut short before a first checkpoint are replaced
    resume = any((Path(out) / CHECKPOINT).exists() for out in outs)
    results = run_batched_md(structures, spec, [MDSettings(**settings)] * len(structures), outs, resume=resume,
                             overwrite=True, labels=list(molecules), dtype=getattr(torch, dtype))
    return [r.summary() for r in results]


def _init_worker(parent_pid: int) -> None:
    """A worker: one CPU thread, and it dies with the study's process (so a killed study leaves no writer)."""
    die_with_parent(parent_pid)
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def _run_jobs(jobs: list[_Job], config: TransferConfig, progress: bool, echo) -> dict[_Job, dict]:
    settings = config.md.to_dict()
    args = {job: (job.molecule, job.spec, config.dtype, settings, job.out) for job in jobs}
    # units of work: one job each, or (md_engine torchsim) all model runs as one batch
    batch = [job for job in jobs if job.calculator == "model"] if config.md_engine == "torchsim" else []
    units = ([(_batched_model_job, ([j.molecule for j in batch], batch[0].spec, config.dtype, settings,
                                    [j.out for j in batch]), batch)] if batch else [])
    units += [(_md_job, args[job], [job]) for job in jobs if job not in batch]
    total = settings["steps"] * len(jobs)
    bar = tqdm(total=total, unit="step", desc="MD (all runs)", disable=not progress, smoothing=0.02)
    summaries: dict[_Job, dict] = {}

    def finished(job: _Job, summary: dict) -> None:
        summaries[job] = summary
        drift = summary["drift_meV_per_atom_per_ps"]
        bar.write(f"    {job.label}: {summary['status']}, {summary['steps_done']} steps, "
                  f"{summary['ms_per_step']:.2f} ms/step" + (f", drift {drift:+.3f} meV/atom/ps" if drift is not None
                                                            else "") + (f" — {summary['message']}"
                                                                        if summary["message"] else ""))

    def unit_finished(unit_jobs: list[_Job], result: dict | list[dict]) -> None:
        for job, summary in zip(unit_jobs, result if isinstance(result, list) else [result]):
            finished(job, summary)

    try:
        if config.workers == 1 or len(units) == 1:
            for function, unit_args, unit_jobs in units:
                unit_finished(unit_jobs, function(*unit_args))
                bar.update(sum(summaries[job]["steps_done"] for job in unit_jobs))
            return summaries
        with ProcessPoolExecutor(min(config.workers, len(units)), mp_context=get_context("spawn"),
                                 initializer=_init_worker, initargs=(os.getpid(),)) as pool:
            # longest first (model runs, larger molecules) so that the workers finish together
            order = sorted(units, key=lambda u: (u[2][0].calculator != "model",
                                                 -sum(len(load_molecule(j.molecule)) for j in u[2])))
            pending = {pool.submit(function, *unit_args): unit_jobs for function, unit_args, unit_jobs in order}
            while pending:
                done, _ = wait(pending, timeout=2.0, return_when=FIRST_COMPLETED)
                for future in done:
                    unit_finished(pending.pop(future), future.result())
                bar.n = sum(_steps_saved(job.out) for job in jobs)
                bar.refresh()
        return summaries
    finally:
        bar.close()


def _steps_saved(out: Path) -> int:
    try:
        return json.loads((out / CHECKPOINT).read_text())["step"]
    except (OSError, ValueError, KeyError):
        return 0


def _error_frames(run: Path, count: int) -> list:
    with Trajectory(run / TRAJECTORY) as traj:
        n = len(traj)
        picks = np.unique(np.linspace(0, n - 1, min(count, n)).round().astype(int))
        return [traj[int(k)] for k in picks]


def _comparisons(config: TransferConfig, distributions: dict) -> dict[str, Any]:
    """Model vs reference per molecule; source vs each target, for the model and for the reference."""
    source = config.source.molecule
    out: dict[str, Any] = {"model_vs_reference": {}, "source_vs_target": {}}
    for molecule, calcs in distributions.items():
        if "reference" in calcs:
            out["model_vs_reference"][molecule] = {
                name: compare(calcs["reference"][name], calcs["model"][name], n_bins=config.n_bins)
                for name in calcs["model"] if name in calcs["reference"]}
    for calc_name in ("model", "reference"):
        if calc_name not in distributions[source]:
            continue
        out["source_vs_target"][calc_name] = {
            molecule: {name: compare(distributions[source][calc_name][name], calcs[calc_name][name],
                                     n_bins=config.n_bins)
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
