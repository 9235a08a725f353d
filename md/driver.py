"""MD of one system into one folder: an :class:`ASEStepper` feeding a :class:`RunFolder` (:func:`run_md`).

:func:`run_steps` is the one MD loop, between any :class:`Stepper` and one :class:`RunFolder`
per system; a batched stepper and reference sampling (:mod:`mlcalc.md.reference`) use it the same way.
"""

from __future__ import annotations

import os
from typing import Sequence

from ase import Atoms
from ase.io.trajectory import Trajectory

from mlcalc.errors import check_resume_or_overwrite
from mlcalc.named_models import require_energy_calculator

from .monitors import BlowUpError
from .result import MDResult, load_md_result
from .run_folder import RunFolder
from .settings import MDSettings
from .stepper import ASEStepper, StepError, Stepper, check_ensemble
from .velocities import initialise_velocities

__all__ = ["run_md", "run_steps"]


def run_md(atoms: Atoms, settings: MDSettings, out_dir: str | os.PathLike, resume: bool = False,
           progress: bool = False, label: str | None = None, overwrite: bool = False) -> MDResult:
    """Run MD of ``atoms`` (its calculator attached) into ``out_dir`` (see :mod:`mlcalc.md.run_folder`).

    ``resume``: continue the run saved in ``out_dir`` (a finished run is returned as is;
    ``settings.steps`` may be raised to extend it). A blow-up ends the run early with
    ``status == "blew_up"`` and a message; frames written until then stay readable.
    ``atoms`` is moved along: it ends in the run's last state. A run already in ``out_dir``
    is refused without ``resume`` unless ``overwrite`` (which deletes it); a folder written
    by another live process is refused (see :class:`RunFolder`). With ``settings.engine == "torchsim"``
    the run goes to :func:`~mlcalc.md.run_batched_md` as a batch of one, with the calculator's model,
    device, dtype and ``min_distance`` (an MLCalc of an energy model).
    """
    if atoms.calc is None:
        raise ValueError("attach a calculator to the Atoms before running MD")
    require_energy_calculator(atoms.calc)
    check_resume_or_overwrite(resume, overwrite, "MD run")
    check_ensemble(atoms, settings)
    if settings.engine == "torchsim":
        return _run_on_torchsim(atoms, settings, out_dir, resume, progress, label, overwrite)
    folder = RunFolder(out_dir, settings, label or atoms.get_chemical_formula(), progress)
    start = folder.open(atoms, resume, overwrite)
    if start is None:
        return load_md_result(folder.out)
    try:
        if start == 0:
            initialise_velocities(atoms, settings.temperature, settings.seed)
        stepper = ASEStepper(atoms, settings)
        stepper.set_integrator_state(folder.integrator_state, 0)
        run_steps(stepper, [folder], start)
    finally:
        result = folder.close()
    return result


def _run_on_torchsim(atoms: Atoms, settings: MDSettings, out_dir, resume: bool, progress: bool, label: str | None,
                     overwrite: bool) -> MDResult:
    """:func:`run_md` on TorchSim: a batch of one; ``atoms`` ends in the run's last saved state."""
    from mlcalc.calculator import MLCalc

    from .batched import run_batched_md
    from .torchsim_model import TorchSimModel

    calc = atoms.calc
    if not isinstance(calc, MLCalc) or calc.evaluator.family != "energy":
        raise ValueError(f"engine torchsim runs mlcalc energy models; {type(calc).__name__} runs on engine ase")
    model = TorchSimModel(calc.model, device=calc.device, dtype=calc.dtype, min_distance=calc.min_distance)
    [result] = run_batched_md([atoms], model, [settings], [out_dir], resume=resume, overwrite=overwrite,
                              progress=progress, labels=[label or atoms.get_chemical_formula()])
    with Trajectory(result.trajectory) as frames:
        last = frames[-1]
    atoms.set_positions(last.positions)
    atoms.set_momenta(last.get_momenta(), apply_constraint=False)
    atoms.set_cell(last.cell)
    return result


def run_steps(stepper: Stepper, folders: Sequence[RunFolder], start: int) -> None:
    """The one MD loop: step until every folder's run has ended; folder ``k`` records system ``k`` after each step.

    ``start``: the step the systems are at (0: a new run, whose starting state is recorded
    first). All folders share the settings' ``steps``. The folders are not closed here.
    A folder is a :class:`RunFolder` or anything with its ``settings``, ``running``,
    ``record(step, atoms, integrator_state)`` and ``stop(err, atoms)`` (reference sampling's sampler).
    """
    stepping = set(range(len(folders)))
    if start == 0:
        _hand_over(stepper, folders, 0, stepping)
    for step in range(start + 1, folders[0].settings.steps + 1):
        if not any(folder.running for folder in folders):
            break
        try:
            stepper.step()
        except StepError as err:
            for system, reason in err.failures:
                folders[system].stop(BlowUpError(step, reason), stepper.snapshot(system))
        _hand_over(stepper, folders, step, stepping)


def _hand_over(stepper: Stepper, folders: Sequence[RunFolder], step: int, stepping: set[int]) -> None:
    """Give each running folder its system's state after ``step``; release the systems whose run ended."""
    for k, folder in enumerate(folders):
        if folder.running:
            folder.record(step, stepper.snapshot(k), stepper.integrator_state(k))
        if not folder.running and k in stepping:
            stepping.discard(k)
            stepper.release(k)
