"""Training frames of a transfer target: a 500 K Langevin reference run, cached, cut into nested k-frame sets.

The frames to fine-tune on (:mod:`mlcalc.potentials.training.finetune`) come from one
MD17-style run of the target (:func:`~mlcalc.md.generate_reference` with
:class:`~mlcalc.md.ReferenceSettings`: Langevin at 500 K, a frame every 40 steps of 0.5 fs
after 2000 steps of thermalisation); the k-frame training set is its first k frames, so the
sets are nested (the 10 frames are inside the 50). A transfer study scores frames of its
own NVE runs at 300 K, separate runs with other velocities, so the training frames are
never the frames scored.

The run is cheap (n-propanol with GFN2-xTB: about 2 ms a step, 20 s for 200 frames) and
is not resumed: it is written once, atomically, as ``<out>/<name>-<reference>-500K-seed<seed>.extxyz``
with a ``.json`` of its settings beside it, and read back on later calls that need no more frames.
A call that needs more frames runs again with the same seed (which repeats the earlier
trajectory to floating-point round-off) and appends the new frames to the cached ones, so
the first frames stay bit-identical and so do the training sets made from them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Sequence

import ase.io
import numpy as np
from ase import Atoms

from mlcalc.data.structure_files import read_structures
from mlcalc.data.molecules import load_molecule
from .settings import ReferenceSettings

from .reference import generate_reference

__all__ = ["target_training_frames", "nested_subsets"]


def target_training_frames(molecule_or_atoms: str | os.PathLike | Atoms, k_max: int, reference: str = "gfn2-xtb",
                           out: str | os.PathLike | None = None, seed: int = 0,
                           settings: ReferenceSettings | None = None, progress: bool = False) -> list[Atoms]:
    """The first ``k_max`` frames (energies in eV, forces in eV/Å) of a 500 K reference run of the target.

    ``molecule_or_atoms``: a shipped molecule's name, a structure file or Atoms.
    ``reference``: ``"gfn2-xtb"`` or a model (name or ``.mlc`` path) as the reference
    calculator. ``out``: the cache folder (None: no cache). ``seed``: of the velocities and
    the Langevin noise. ``settings``: other reference settings (its ``frames`` and ``seed``
    are replaced by ``k_max`` and ``seed``); default :class:`ReferenceSettings` (500 K).
    """
    if not isinstance(k_max, (int, np.integer)) or isinstance(k_max, bool) or k_max < 1:
        raise ValueError(f"k_max must be an integer ≥ 1, got {k_max!r}")
    from mlcalc.named_calculators import get_calculator, is_reference  # loads torch: not at import time

    atoms = molecule_or_atoms.copy() if isinstance(molecule_or_atoms, Atoms) else load_molecule(molecule_or_atoms)
    base = (settings or ReferenceSettings(frames=1)).model_dump(exclude={"frames", "steps", "seed"})
    settings = ReferenceSettings(**base, frames=int(k_max), seed=seed)
    key = {"reference": "gfn2-xtb" if is_reference(reference) else str(reference),
           "numbers": atoms.numbers.tolist(), "positions": np.round(atoms.positions, 6).tolist(),
           **settings.model_dump(exclude={"frames", "steps"})}
    path = _cache_path(Path(out), molecule_or_atoms, atoms, key, seed) if out is not None else None
    cached = read_structures(path) if path is not None and path.exists() and _cached_key(path) == key else []
    if len(cached) >= k_max:
        return cached[:k_max]
    frames = generate_reference(atoms, settings, calculator=get_calculator(reference), progress=progress)
    if path is None:
        return frames
    tmp = path.with_name(path.name + ".tmp")
    ase.io.write(tmp, cached + frames[len(cached):], format="extxyz")  # the cached frames stay exactly as they were
    os.replace(tmp, path)
    path.with_suffix(".json").write_text(json.dumps({**key, "frames": k_max}))
    return read_structures(path)  # as read back (extxyz rounds positions), the same on every later call

def nested_subsets(frames: Sequence[Atoms], ks: Sequence[int]) -> dict[int, list[Atoms]]:
    """``{k: frames[:k]}`` for each k (nested training sets); a one-line ValueError if a k is out of range."""
    bad = [k for k in ks if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= len(frames)]
    if bad:
        raise ValueError(f"k must lie in 1..{len(frames)} (the frames available), got {', '.join(map(str, bad))}; "
                         f"generate more frames (k_max) or choose smaller k")
    return {int(k): list(frames[:k]) for k in ks}


def _cache_path(out: Path, given, atoms: Atoms, key: dict, seed: int) -> Path:
    name = given if isinstance(given, str) and not Path(given).suffix else atoms.get_chemical_formula()
    ref = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(key["reference"]).stem if key["reference"] != "gfn2-xtb" else "gfn2-xtb")
    out.mkdir(parents=True, exist_ok=True)
    return out / f"{Path(str(name)).stem}-{ref}-{key['temperature']:g}K-seed{seed}.extxyz"


def _cached_key(path: Path) -> dict | None:
    """The settings a cached file was made with (without its frame count); None if unknown."""
    meta = path.with_suffix(".json")
    if not meta.exists():
        return None
    saved = json.loads(meta.read_text())
    saved.pop("frames", None)
    return saved
