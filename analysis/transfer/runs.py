"""The MD runs of a transfer study: which runs there are, where they live, and running them (resumably).

Each molecule has, per replica k (seed ``md.seed + k``, start conformer k), a ``reference``
run, a ``model`` run and, when the model's start was pre-optimised, a
``model-unoptimised`` run from the reference's start. Folders: ``md/<molecule>/<run>``
for replica 0 and ``md/<molecule>/<run>-r<k>`` for the others. Runs go to worker
processes (one thread each, dying with the study's process), or with ``md.engine:
torchsim`` every model run shares one TorchSim batch.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm

from mlcalc.analysis.workers import die_with_parent
from mlcalc.data.molecules import load_molecule
from mlcalc.md.files import CHECKPOINT

__all__ = ["RUNS", "MDJob", "molecule_label", "run_folder_name", "run_jobs"]

#: the runs of each molecule and replica: the reference, the model, and (pre-optimised studies) the
#: model from the reference's own start
RUNS = ("reference", "model", "model-unoptimised")


def molecule_label(molecule: str) -> str:
    """How a molecule is named in tables, plots and progress lines: its name, or a file's name without the
    folders."""
    return Path(molecule).name if Path(molecule).is_file() else molecule


def run_folder_name(run: str, replica: int) -> str:
    """``run`` for replica 0, ``run-r<k>`` for replica k."""
    return run if replica == 0 else f"{run}-r{replica}"


@dataclass(frozen=True)
class MDJob:
    molecule: str
    run: str  # one of RUNS
    replica: int
    spec: str  # model file or reference name
    start: str  # file of the start geometry
    seed: int
    out: Path
    n_atoms: int = 0  # of the molecule: the longest runs go to the workers first

    @property
    def label(self) -> str:
        return f"{molecule_label(self.molecule)} ({run_folder_name(self.run, self.replica)})"

    @property
    def is_model(self) -> bool:
        return self.run != "reference"


def _md_job(structure: str, spec: str, dtype: str, settings: dict, out: Path) -> dict[str, Any]:
    """One MD run of ``structure`` (a molecule name or file) in a worker process or inline; resumes ``out``."""
    import torch

    from mlcalc.named_calculators import get_calculator
    from mlcalc.md import MDSettings, run_md

    atoms = load_molecule(structure)
    atoms.calc = get_calculator(spec, dtype=getattr(torch, dtype))
    # no checkpoint: files cut short before the first one are replaced
    resume = (Path(out) / CHECKPOINT).exists()
    result = run_md(atoms, MDSettings(**settings), out, resume=resume, overwrite=not resume)
    return result.summary()


def _batched_model_job(structures: list[str], spec: str, dtype: str, settings: list[dict], outs: list[Path],
                       labels: list[str]) -> list[dict]:
    """Several model runs in one TorchSim batch (in a worker process or inline); resumes what is saved."""
    import torch

    from mlcalc.md import MDSettings, run_batched_md

    atoms = [load_molecule(s) for s in structures]
    # resume what has a checkpoint; files cut short before a first checkpoint are replaced
    resume = any((Path(out) / CHECKPOINT).exists() for out in outs)
    results = run_batched_md(atoms, spec, [MDSettings(**s) for s in settings], outs, resume=resume,
                             overwrite=not resume, labels=labels, dtype=getattr(torch, dtype))
    return [r.summary() for r in results]


def _init_worker(parent_pid: int) -> None:
    """A worker: one CPU thread, and it dies with the study's process (so a killed study leaves no writer)."""
    die_with_parent(parent_pid)
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def run_jobs(jobs: Sequence[MDJob], settings: dict, dtype: str, workers: int, engine: str, progress: bool,
             echo: Callable[[str], None] = print) -> dict[MDJob, dict]:
    """Run (or resume) ``jobs`` with the MD ``settings`` (each job's own seed); returns each job's summary.

    ``engine``: "ase" (one run per worker) or "torchsim" (all model runs of one model file in one batch).
    """
    jobs = list(jobs)

    def job_settings(job: MDJob) -> dict:  # the engine of the unit that runs the job: reference runs stay on ASE
        return {**settings, "seed": job.seed, "engine": "torchsim" if job in batched else "ase"}

    units: list[tuple[Callable, tuple, list[MDJob]]] = []
    batched: list[MDJob] = []
    if engine == "torchsim":
        batched = [job for job in jobs if job.is_model]
        for spec in dict.fromkeys(job.spec for job in batched):
            group = [job for job in batched if job.spec == spec]
            units.append((_batched_model_job, ([j.start for j in group], spec, dtype, [job_settings(j) for j in group],
                                               [j.out for j in group], [j.label for j in group]), group))
    units += [(_md_job, (job.start, job.spec, dtype, job_settings(job), job.out), [job])
              for job in jobs if job not in batched]
    bar = tqdm(total=settings["steps"] * len(jobs), unit="step", desc="MD (all runs)", disable=not progress,
               smoothing=0.02)
    summaries: dict[MDJob, dict] = {}

    def finished(unit_jobs: list[MDJob], result: dict | list[dict]) -> None:
        for job, summary in zip(unit_jobs, result if isinstance(result, list) else [result]):
            summaries[job] = summary
            drift = summary["drift_meV_per_atom_per_ps"]
            bar.write(f"    {job.label}: {summary['status']}, {summary['steps_done']} steps, "
                      f"{summary['ms_per_step']:.2f} ms/step"
                      + (f", drift {drift:+.3f} meV/atom/ps" if drift is not None else "")
                      + (f" — {summary['message']}" if summary["message"] else ""))

    try:
        if workers == 1 or len(units) == 1:
            for function, args, unit_jobs in units:
                finished(unit_jobs, function(*args))
                bar.update(sum(summaries[job]["steps_done"] for job in unit_jobs))
            return summaries
        with ProcessPoolExecutor(min(workers, len(units)), mp_context=get_context("spawn"),
                                 initializer=_init_worker, initargs=(os.getpid(),)) as pool:
            # longest first (model batches, larger molecules) so that the workers finish together
            order = sorted(units, key=lambda u: (not u[2][0].is_model, -sum(j.n_atoms for j in u[2])))
            pending = {pool.submit(function, *args): unit_jobs for function, args, unit_jobs in order}
            while pending:
                done, _ = wait(pending, timeout=2.0, return_when=FIRST_COMPLETED)
                for future in done:
                    finished(pending.pop(future), future.result())
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
