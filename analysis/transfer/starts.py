"""Start geometries of a transfer study's runs: one conformer per replica, optionally relaxed with the model.

Replica k of a molecule starts from :func:`~.conformers.conformer` k (replica 0: the
molecule as given). With pre-optimisation the model's runs start from that conformer
relaxed on the model's own surface (BFGS to ``fmax``), so that a model that transfers
poorly does not start high on its surface; the reference runs always start from the
conformer itself. Starts are written once to ``md/<molecule>/starts/`` (extxyz) with
``starts.json`` describing them, and reused by a rerun.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from .conformers import conformer

__all__ = ["prepare_starts", "preoptimise", "STARTS"]

#: the folder of a molecule's start geometries, inside its study folder md/<molecule>/
STARTS = "starts"


def preoptimise(atoms: Atoms, calc, fmax: float = 0.01, steps: int = 1000) -> tuple[Atoms, dict[str, Any]]:
    """``atoms`` relaxed with ``calc`` (ASE BFGS until the largest force is below ``fmax`` eV/Å).

    Returns the relaxed copy and what happened: energies before and after (eV), RMSD from
    the start (Å), optimiser steps and whether it converged.
    """
    from ase.optimize import BFGS

    relaxed = atoms.copy()
    relaxed.calc = calc
    before = float(relaxed.get_potential_energy())
    optimiser = BFGS(relaxed, logfile=None)
    converged = bool(optimiser.run(fmax=fmax, steps=steps))
    after = float(relaxed.get_potential_energy())
    rmsd = float(np.sqrt(np.mean(np.sum((relaxed.positions - atoms.positions) ** 2, axis=1))))
    out = Atoms(relaxed.numbers, positions=relaxed.positions, cell=relaxed.cell, pbc=relaxed.pbc)
    return out, {"energy_before_eV": before, "energy_after_eV": after, "energy_drop_eV": before - after,
                 "rmsd_A": rmsd, "steps": int(optimiser.nsteps), "converged": converged, "fmax_eV_per_A": fmax}


def prepare_starts(given: Atoms, folder: Path, replicas: int, conformers: bool, calc=None,
                   fmax: float = 0.01) -> dict[str, Any]:
    """Write (or reuse) the start files of the replicas of the molecule ``given`` in ``folder/starts``.

    ``calc``: relax each start with it for the model runs (None: no pre-optimisation).
    Returns ``{"raw": [path per replica], "model": [path per replica], "turns": [...],
    "preoptimised": [info per replica] or None}``; ``model`` equals ``raw`` without ``calc``.
    ``starts.json`` keeps the file names (the study folder can move).
    """
    starts = Path(folder) / STARTS
    record_path = starts / "starts.json"
    wanted = {"replicas": replicas, "conformers": conformers, "preoptimise": calc is not None, "fmax": fmax}
    if record_path.exists():
        record = json.loads(record_path.read_text())
        if record.get("settings") == wanted and all((starts / p).exists() for p in record["raw"] + record["model"]):
            return _resolved(record, starts)
    from ase.io import write

    starts.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"settings": wanted, "raw": [], "model": [], "turns": [],
                              "preoptimised": [] if calc is not None else None}
    for k in range(replicas):
        atoms, turns = conformer(given, k) if conformers else (given.copy(), [])
        raw = starts / f"r{k}.xyz"
        write(raw, atoms, format="extxyz")
        record["raw"].append(raw.name)
        record["turns"].append(turns)
        if calc is None:
            record["model"].append(raw.name)
            continue
        relaxed, info = preoptimise(atoms, calc, fmax=fmax)
        path = starts / f"r{k}-model-optimised.xyz"
        write(path, relaxed, format="extxyz")
        record["model"].append(path.name)
        record["preoptimised"].append(info)
    record_path.write_text(json.dumps(record, indent=1))
    return _resolved(record, starts)


def _resolved(record: dict[str, Any], starts: Path) -> dict[str, Any]:
    return {**record, "raw": [str(starts / p) for p in record["raw"]],
            "model": [str(starts / p) for p in record["model"]]}
