"""Make (or resume) a broad data set: sample QM9, hand molecules to an executor, write each as it finishes.

The output is a frame folder (:mod:`mlcalc.data.frame_folder`) with ``settings.json`` (the
settings and the held-out molecules), ``generate.log`` (progress lines) and
``summary.json``. Rerunning with ``resume=True`` skips every molecule already done or
failed, so a killed run loses only the molecules in flight; a larger ``molecules``
extends the same seeded sample, ``include`` patterns add every QM9 molecule that matches one, and more
``smiles`` add molecules beyond QM9.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm.auto import tqdm

from mlcalc.data.frame_folder import FrameFolder, is_frame_folder, write_failure, write_shard
from mlcalc.data.smiles_molecules import parse_smiles_entry
from mlcalc.errors import OutputExistsError, check_resume_or_overwrite
from mlcalc.locks import FolderLock

from .executors import ONE_THREAD, make_executor
from .molecules import held_out_smiles, sample_molecules
from .settings import BroadSetSettings

__all__ = ["generate_broad_set", "stored_settings", "BroadSetSummary", "SETTINGS_FILE"]

SETTINGS_FILE = "settings.json"
LOG_FILE = "generate.log"
log = logging.getLogger(__name__)


@dataclass
class BroadSetSummary:
    """What a (resumed) generation did and what the folder now holds."""

    done: int
    failed: int
    frames: int
    new_molecules: int
    wall_s: float
    cpu_s: float
    stopped_by_budget: bool

    @property
    def molecules_per_s(self) -> float:
        return self.new_molecules / self.wall_s if self.wall_s > 0 else 0.0


def generate_broad_set(settings: BroadSetSettings, out: str | os.PathLike, engine: str = "ray",
                       workers: int | None = None, address: str | None = None, resume: bool = False,
                       overwrite: bool = False, max_cpu_minutes: float | None = None, progress: bool = True,
                       echo: Callable[[str], None] = print) -> BroadSetSummary:
    """Label ``settings.molecules`` QM9 molecules into the frame folder ``out`` (see the module docstring).

    ``engine``: ``ray`` (``workers`` local workers, default one per core, or the cluster at
    ``address``) or ``local`` (this process). ``max_cpu_minutes``: stop handing out molecules
    once the finished ones used this much CPU time in this run (a later ``resume`` goes on).
    """
    out = Path(out)
    check_resume_or_overwrite(resume, overwrite, "data set")
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; the data set needs a folder")
    with FolderLock(out, "data set"):
        _prepare(out, settings, resume, overwrite)
        for key, value in ONE_THREAD.items():  # this process too, for the local engine
            os.environ.setdefault(key, value)
        folder = FrameFolder(out) if is_frame_folder(out) else None
        finished = set(folder.records) | set(folder.failures) if folder else set()
        skipped: dict = {}
        wanted = sample_molecules(settings.molecules, settings.seed, settings.max_heavy_atoms, settings.exclude,
                                  skipped=skipped, include=settings.include, smiles=settings.smiles)
        jobs = [job for job in wanted if job.key not in finished]
        echo(f"{len(wanted) - len(jobs)} of {len(wanted)} molecules already finished{_sources(settings, wanted, skipped)}"
             f"; {len(jobs)} to label in {out}")
        return _label_all(jobs, settings, out, engine, workers, address, max_cpu_minutes, progress, echo)


def stored_settings(out: str | os.PathLike) -> BroadSetSettings | None:
    """The settings the data set in ``out`` was made with, or None where there is none yet."""
    path = Path(out) / SETTINGS_FILE
    return BroadSetSettings(**json.loads(path.read_text())["settings"]) if path.is_file() else None


def _sources(settings: BroadSetSettings, wanted, skipped: dict) -> str:
    """' (5000 sampled, 12 more matching [...], 40 from SMILES; 2 SMILES skipped: ...)', or '' for a plain sample."""
    included = sum(job.include is not None for job in wanted)
    given = sum(job.qm9_id is None for job in wanted)
    passed = {smiles: reason for smiles, reason in skipped.items() if isinstance(smiles, str)}
    parts = [f"{settings.molecules} sampled"] if included or given or passed else []
    parts += [f"{included} more matching {list(settings.include)}"] if included else []
    parts += [f"{given} from SMILES"] if settings.smiles else []
    parts += [f"{len(passed)} SMILES skipped: " + "; ".join(f"{s} {r}" for s, r in list(passed.items())[:5])
              + (" ..." if len(passed) > 5 else "")] if passed else []
    return f" ({', '.join(parts)})" if parts else ""


def _prepare(out: Path, settings: BroadSetSettings, resume: bool, overwrite: bool) -> None:
    """Check the folder against ``settings`` (resume), clear it (overwrite), or start it."""
    path = out / SETTINGS_FILE
    if path.is_file() and overwrite:
        for child in out.iterdir():
            if child.name != ".mlcalc.lock":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    elif path.is_file():
        if not resume:
            raise OutputExistsError(f"{out} already holds a data set: --resume continues it, --overwrite deletes it")
        stored = stored_settings(out)
        changed = settings.differences(stored)
        if changed:
            raise ValueError(f"{out} was made with other settings ({', '.join(changed)}); a resume may change only "
                             "molecules and include: use another folder or --overwrite")
        if settings.molecules < stored.molecules:
            raise ValueError(f"{out} was made with molecules={stored.molecules}; a resume may grow the sample, not "
                             f"shrink it (asked for {settings.molecules})")
        given = {parse_smiles_entry(entry).canonical for entry in settings.smiles}
        dropped = [entry for entry in stored.smiles if parse_smiles_entry(entry).canonical not in given]
        if dropped:
            raise ValueError(f"{out} was made with {len(stored.smiles)} SMILES; a resume may add SMILES, not leave "
                             f"any out ({len(dropped)} missing, e.g. {dropped[0]!r})")
    elif resume:
        raise FileNotFoundError(f"nothing to resume in {out}: no {SETTINGS_FILE} (leave out --resume to start)")
    record = {"settings": settings.model_dump(mode="json"), "held_out": held_out_smiles(settings.exclude),
              "source": "QM9 (qm9pack)" + (f" and {len(settings.smiles)} SMILES" if settings.smiles else ""),
              "reference": settings.method.lower(), "format": "frame folder v1"}
    tmp = path.with_name(f".{SETTINGS_FILE}.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True))
    os.replace(tmp, path)


def _label_all(jobs, settings, out: Path, engine, workers, address, max_cpu_minutes, progress, echo) -> BroadSetSummary:
    budget_s = None if max_cpu_minutes is None else 60.0 * max_cpu_minutes
    cpu_s, new, failed_now, frames_now, start = 0.0, 0, 0, 0, time.perf_counter()
    handler = logging.FileHandler(out / LOG_FILE)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    executor = make_executor(engine, workers, address)
    log.info("start: %d molecules to label, engine %s with %d workers", len(jobs), engine, executor.workers)
    stopped = False

    def within_budget():
        for job in jobs:
            if budget_s is not None and cpu_s >= budget_s:
                return
            yield job

    try:
        with tqdm(total=len(jobs), desc="GFN2-xTB molecules", unit="mol", disable=not progress) as bar:
            for result in executor.run(within_budget(), settings):
                if result.failure is None:
                    write_shard(out, result.key, result.arrays, result.record)
                    frames_now += len(result.arrays["energy"])
                else:
                    write_failure(out, result.key, result.failure, result.record)
                    failed_now += 1
                    log.info("%s (%s) failed: %s", result.key, result.record["smiles"], result.failure)
                cpu_s += result.record["cpu_s"]
                new += 1
                rate = new / (time.perf_counter() - start)
                bar.set_postfix(mol_per_s=f"{rate:.2f}", failed=failed_now)
                bar.update()
                if new % 25 == 0 or new == len(jobs):
                    log.info("%d/%d molecules, %d failed, %d frames, %.2f molecules/s, %.0f CPU-s", new, len(jobs),
                             failed_now, frames_now, rate, cpu_s)
        stopped = new < len(jobs)
    except (KeyboardInterrupt, SystemExit):
        log.info("interrupted after %d new molecules: every finished one is kept; --resume goes on", new)
        echo(f"interrupted after {new} new molecules: every finished one is kept; rerun with --resume to go on")
        raise
    finally:
        try:
            executor.close()  # raises Terminated for a SIGTERM that came outside the executor's loop
        finally:
            log.removeHandler(handler)
            handler.close()
    wall = time.perf_counter() - start
    folder = FrameFolder(out) if is_frame_folder(out) else None
    summary = BroadSetSummary(done=len(folder.records) if folder else 0, failed=len(folder.failures) if folder else 0,
                              frames=folder.n_frames if folder else 0, new_molecules=new, wall_s=wall, cpu_s=cpu_s,
                              stopped_by_budget=stopped)
    (out / "summary.json").write_text(json.dumps({**summary.__dict__, "molecules_per_s": summary.molecules_per_s,
                                                  "engine": engine, "workers": executor.workers}, indent=2))
    if stopped:
        echo(f"CPU budget of {max_cpu_minutes:g} minutes reached after {new} molecules; --resume continues")
    return summary
