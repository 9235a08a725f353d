"""One molecule of a broad data set: relax with GFN2-xTB, then draw labelled frames at each temperature.

:func:`label_molecule` is the unit of work that the engine hands to a worker (in process or
on Ray): it needs only its job and the settings, returns plain arrays, and raises
:class:`MoleculeFailed` (one line) for a molecule to record and skip.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms, units

from mlcalc.data.xtb import xtb_calculator

from .molecules import MoleculeJob
from .settings import BroadSetSettings

__all__ = ["MoleculeFailed", "MoleculeResult", "label_molecule"]


class MoleculeFailed(RuntimeError):
    """A molecule that cannot be labelled (SCF failure, bonds that change): recorded, then skipped."""


@dataclass
class MoleculeResult:
    """A labelled molecule: ``arrays`` for its shard, or ``failure`` (one line); ``record``: facts for the index."""

    key: str
    arrays: dict[str, np.ndarray] | None
    failure: str | None
    record: dict[str, Any]


def label_molecule(job: MoleculeJob, settings: BroadSetSettings) -> MoleculeResult:
    """Relax ``job``'s molecule and sample its frames; failures come back as a result, not an exception.

    tblite and BLAS run on one thread here whatever the process has (threadpoolctl): spinning OpenMP
    threads make tblite far slower on a shared machine, and the frames' last bits depend on the thread
    count, so a molecule gives the same frames in this process and in any worker.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _timed(job, settings)


def _timed(job: MoleculeJob, settings: BroadSetSettings) -> MoleculeResult:
    wall, cpu = time.perf_counter(), time.process_time()
    record: dict[str, Any] = {"qm9_id": job.qm9_id, "smiles": job.smiles}
    if job.include is not None:
        record["include"] = job.include  # the pattern that brought it in beside the random sample
    if job.name:
        record["name"] = job.name  # a molecule given as SMILES with a name
    try:
        arrays, facts = _label(job, settings)
        failure = None
    except MoleculeFailed as err:
        arrays, facts, failure = None, {}, str(err)
    except Exception as err:  # tblite raises its own types for SCF failures; any one molecule may fail
        arrays, facts, failure = None, {}, f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"
    record.update(facts, wall_s=round(time.perf_counter() - wall, 3), cpu_s=round(time.process_time() - cpu, 3))
    return MoleculeResult(key=job.key, arrays=arrays, failure=failure, record=record)


def _label(job: MoleculeJob, settings: BroadSetSettings) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from ase.optimize import BFGS

    from mlcalc.md import bonded_pairs

    atoms = Atoms(job.numbers, job.positions)
    atoms.calc = xtb_calculator(settings.method)
    bonds = _bond_set(bonded_pairs(atoms))
    optimiser = BFGS(atoms, logfile=None)
    converged = bool(optimiser.run(fmax=settings.fmax, steps=settings.relax_steps)) if settings.relax_steps else False
    if _bond_set(bonded_pairs(atoms)) != bonds:
        raise MoleculeFailed("its bonds change when it is relaxed with GFN2-xTB")
    relaxed = Atoms(atoms.numbers, atoms.positions.copy())
    sample = _md_frames if settings.sampling == "md" else _normal_mode_frames
    frames, temperatures, changed_at = sample(relaxed, atoms.calc, settings, np.random.default_rng(job.seed), bonds)
    if not frames:
        raise MoleculeFailed(f"its bonds change in {settings.sampling} sampling at {changed_at:g} K")
    arrays = {"numbers": relaxed.numbers.astype(np.int64),
              "positions": np.stack([f.positions for f in frames]),
              "energy": np.array([f.get_potential_energy() for f in frames]),
              "forces": np.stack([f.get_forces() for f in frames]),
              "temperature": np.asarray(temperatures, dtype=np.float64)}
    facts = {"relax_steps": int(optimiser.nsteps), "relax_converged": converged,
             "relaxed_energy": float(atoms.get_potential_energy())}
    if changed_at is not None:  # the frames below that temperature are kept
        facts["bonds_changed_K"] = float(changed_at)
    return arrays, facts


def _bond_set(pairs: np.ndarray) -> frozenset[tuple[int, int]]:
    return frozenset(map(tuple, pairs.tolist()))


def _md_frames(relaxed: Atoms, calc, settings: BroadSetSettings, rng: np.random.Generator,
               bonds: frozenset[tuple[int, int]]):
    """Langevin MD up the temperature ladder: ``thermalise`` steps at each temperature, then its frames.

    Returns the frames, their temperatures and the temperature at which a bond changed (None if none did): the
    ladder stops there, and the frames of the lower temperatures are kept (still the molecule; a molecule that
    breaks at 800 K is still worth its 300 and 500 K frames).
    """
    from mlcalc.md import bonded_pairs, generate_reference
    from mlcalc.md.settings import ReferenceSettings

    frames, temperatures, state = [], [], relaxed
    for temperature in settings.temperatures:
        reference = ReferenceSettings(temperature=temperature, frames=settings.frames_per_temperature,
                                      thermalise=settings.thermalise, interval=settings.interval,
                                      timestep=settings.timestep, friction=settings.friction,
                                      seed=int(rng.integers(2**31)))
        got = generate_reference(state, reference, calculator=calc, progress=False)
        if any(_bond_set(bonded_pairs(frame)) != bonds for frame in got):
            return frames, temperatures, temperature
        frames += got
        temperatures += [temperature] * len(got)
        state = Atoms(got[-1].numbers, got[-1].positions.copy())
    return frames, temperatures, None


def _normal_mode_frames(relaxed: Atoms, calc, settings: BroadSetSettings, rng: np.random.Generator,
                        bonds: frozenset[tuple[int, int]]):
    """Displacements from the harmonic Boltzmann distribution of the relaxed molecule's normal modes.

    In mass-weighted coordinates each mode i (curvature ω_i², eV/(Å² amu)) is displaced by
    u_i ~ N(0, k_B T / ω_i²); the six (five) rigid-body modes are left out, and modes softer
    than ``min_wavenumber`` get that mode's curvature so that torsions stay bounded. A draw
    whose bonds (``bonds``) differ from the relaxed molecule's is drawn again (Cartesian
    displacements along torsions bring atoms together), at most :data:`_REDRAWS` times a frame.
    Returns the frames, their temperatures and None (no bond changes in what is returned).
    """
    from mlcalc.md import bonded_pairs

    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.vibrations import Vibrations

    atoms = relaxed.copy()
    atoms.calc = calc
    with tempfile.TemporaryDirectory() as tmp:
        vib = Vibrations(atoms, name=os.path.join(tmp, "vib"), delta=0.01, nfree=2)
        vib.run()
        hessian = vib.get_vibrations().get_hessian_2d()  # eV/Å², [3n, 3n]
    inv_sqrt_m = np.repeat(1 / np.sqrt(atoms.get_masses()), 3)
    curvatures, modes = np.linalg.eigh(hessian * np.outer(inv_sqrt_m, inv_sqrt_m))
    rigid = 5 if _is_linear(atoms) else 6
    curvatures, modes = curvatures[rigid:], modes[:, rigid:]
    floor = (settings.min_wavenumber / _WAVENUMBER_PER_SQRT_CURVATURE) ** 2
    curvatures = np.maximum(curvatures, floor)
    frames, temperatures = [], []
    for temperature in settings.temperatures:
        for _ in range(settings.frames_per_temperature):
            for _attempt in range(_REDRAWS):
                u = rng.normal(size=len(curvatures)) * np.sqrt(units.kB * temperature / curvatures)
                frame = Atoms(atoms.numbers, atoms.positions + (modes @ u * inv_sqrt_m).reshape(-1, 3))
                if _bond_set(bonded_pairs(frame)) == bonds:
                    break
            else:
                raise MoleculeFailed(f"{_REDRAWS} normal-mode draws at {temperature:g} K in a row change its bonds")
            frame.calc = calc
            energy, forces = frame.get_potential_energy(), frame.get_forces()
            frame.calc = SinglePointCalculator(frame, energy=energy, forces=forces)
            frames.append(frame)
            temperatures.append(temperature)
    return frames, temperatures, None


#: draws of one normal-mode frame before the molecule counts as failed
_REDRAWS = 50

#: wavenumber (cm⁻¹) of a mode per sqrt(curvature in eV/(Å² amu)): ω = sqrt(c) in sqrt(eV/amu)/Å
_WAVENUMBER_PER_SQRT_CURVATURE = float(np.sqrt(units._e / units._amu) * 1e10 / (2 * np.pi * units._c * 100))


def _is_linear(atoms: Atoms) -> bool:
    if len(atoms) < 3:
        return True
    centred = atoms.positions - atoms.positions.mean(axis=0)
    return bool(np.linalg.svd(centred, compute_uv=False)[1] < 1e-3)
