"""MD of many systems in one model call per step (TorchSim), one run folder per system (:func:`run_batched_md`).

Each system gets the same folder as a single run (:func:`mlcalc.md.run_md`): trajectory,
energy log, checkpoint, summary, blow-up file; a blow-up stops only its own system.
Replicas of one structure differ in their seed (:func:`replica_settings`). A killed
batch resumes from the folders' checkpoints; systems whose folders stand at different
steps (the kill fell between two checkpoints) resume as separate batches.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import torch
from ase import Atoms

from mlcalc.errors import check_resume_or_overwrite

from .files import CHECKPOINT
from .result import MDResult, load_md_result
from .run_folder import RunFolder
from .settings import MDSettings
from .stepper import check_ensemble
from .velocities import initialise_velocities

__all__ = ["run_batched_md", "replica_settings", "replica_folders"]


def replica_settings(settings: MDSettings, n: int) -> list[MDSettings]:
    """``n`` copies of ``settings`` with seeds ``settings.seed``, ``settings.seed + 1``, ..."""
    if n < 1:
        raise ValueError(f"the number of replicas must be at least 1, got {n}")
    return [settings.model_copy(update={"seed": settings.seed + k}) for k in range(n)]


def replica_folders(out_dir: str | os.PathLike, n: int) -> list[Path]:
    """``out_dir/replica-000`` ... for ``n`` replicas."""
    return [Path(out_dir) / f"replica-{k:03d}" for k in range(n)]


def run_batched_md(structures: Sequence[Atoms], model, settings: Sequence[MDSettings],
                   out_dirs: Sequence[str | os.PathLike], resume: bool = False, overwrite: bool = False,
                   progress: bool = False,
                   labels: Sequence[str] | None = None, dtype: torch.dtype = torch.float64,
                   device: str | torch.device = "cpu") -> list[MDResult]:
    """Run MD of every structure into its folder, all in one TorchSim batch; returns each run's result.

    ``model``: a :class:`~mlcalc.md.torchsim_model.TorchSimModel`, or an mlcalc energy model,
    ``.mlc`` file or shipped name (evaluated in ``dtype`` on ``device``). ``settings``: one
    per structure, alike except for ``seed`` (velocities and Langevin noise of that system).
    ``resume``: continue the runs saved in the folders (finished ones are returned as they are);
    ``overwrite``: replace runs already there (without either, an earlier run is refused; both at once: ValueError).
    The structures are not moved; the folders record ``engine: torchsim`` whatever the settings say.
    ``dtype``: float64 by default here, unlike MLCalc's and ``mlcalc md``'s float32
    (:data:`mlcalc.evaluation.DEFAULT_DTYPE`): a call from Python compares with float64 ASE runs
    (the integrator state is float64 either way); the CLI and transfer studies pass their ``dtype``.
    """
    check_resume_or_overwrite(resume, overwrite, "MD runs")
    from .torchsim_model import TorchSimModel

    structures, settings, out_dirs = list(structures), list(settings), [Path(d) for d in out_dirs]
    if not len(structures) == len(settings) == len(out_dirs) or not structures:
        raise ValueError(f"need one settings and one folder per structure: {len(structures)} structures, "
                         f"{len(settings)} settings, {len(out_dirs)} folders")
    for s in settings[1:]:
        changed = s.differences(settings[0], ignore=("seed",))
        if changed:
            raise ValueError(f"batched systems must share their MD settings except the seed; {', '.join(changed)} differ")
    for atoms in structures:
        check_ensemble(atoms, settings[0], stress=True)
    settings = [s.model_copy(update={"engine": "torchsim"}) for s in settings]
    labels = list(labels) if labels is not None else [a.get_chemical_formula() for a in structures]
    if not isinstance(model, TorchSimModel):
        model = TorchSimModel(model, device=device, dtype=dtype)
    results: dict[int, MDResult] = {}
    groups: dict[int, list[tuple[int, RunFolder, Atoms]]] = {}
    for k, (atoms, s, out) in enumerate(zip(structures, settings, out_dirs)):
        if resume and _saved_status(out) == "blew_up":
            results[k] = load_md_result(out)
            continue
        folder = RunFolder(out, s, labels[k], progress=progress and not groups)
        atoms = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        start = folder.open(atoms, resume, overwrite, uncertainty=model.gives_uncertainty)
        if start is None:
            results[k] = load_md_result(out)
            continue
        if start == 0:
            initialise_velocities(atoms, s.temperature, s.seed)
        groups.setdefault(start, []).append((k, folder, atoms))
    for start, members in sorted(groups.items()):
        for k, result in zip([k for k, _, _ in members], _run_group(model, members, start)):
            results[k] = result
    return [results[k] for k in range(len(structures))]


def _run_group(model, members: list, start: int) -> list[MDResult]:
    """Step the systems of ``members`` (all at step ``start``) as one batch until their runs end."""
    from .driver import run_steps
    from .torchsim_stepper import TorchSimStepper

    folders = [folder for _, folder, _ in members]
    try:
        stepper = TorchSimStepper([atoms for _, _, atoms in members], model, folders[0].settings,
                                  seeds=[folder.settings.seed for folder in folders])
        for b, folder in enumerate(folders):
            stepper.set_integrator_state(folder.integrator_state, b)
        run_steps(stepper, folders, start)
    finally:
        results = [folder.close() for folder in folders]
    return results


def _saved_status(out: Path) -> str | None:
    path = out / CHECKPOINT
    return json.loads(path.read_text()).get("status") if path.exists() else None
