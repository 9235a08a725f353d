"""Training that starts from a saved energy model's weights: fine-tuning (:mod:`.finetune`) and ``init_from``
(:mod:`.train`).

:func:`load_parent` loads and checks the parent (a single gradient-trained energy model, float32);
:func:`atomrefs_at_frames_zero` puts its per-element energies at the frames' energy zero before
the first step: a foundation parent (manifest record ``foundation``: another level of theory, e.g.
PBE) first gets the frames' method's isolated-atom energies (:func:`.rereference.rereference_to_method`),
then a least-squares per-element correction fitted on the residual energies (frames minus parent)
is added (on at most :data:`ATOMREF_FRAMES` of them, seeded, every element included: a large training
set would otherwise cost one parent call per frame before the first step). Both move energies only, never
forces, so no optimiser step is spent on a constant.
:func:`parent_record` is what a child's manifest says about its parent (kind, name, file sha256).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from mlcalc.atomref import compositions, fit_atomref
from mlcalc.data.structure_files import file_sha256
from mlcalc.named_models import PRETRAINED_DIR
from mlcalc.errors import MLCalcError
from mlcalc.modelfile import load_model
from mlcalc.named_models import resolve_model_path

from .rereference import level_of_theory, rereference_to_method

__all__ = ["load_parent", "load_members", "atomrefs_at_frames_zero", "residual_frames", "parent_record", "parent_name",
           "ATOMREF_FRAMES"]

#: the most frames the per-element correction of a parent's atomrefs is fitted on
ATOMREF_FRAMES = 2000


def load_parent(model_path: str | os.PathLike) -> tuple[Path, torch.nn.Module, dict[str, Any]]:
    """The parent's path, model (float32) and manifest; a one-line error for a model that cannot be trained on."""
    path = resolve_model_path(model_path)
    model, manifest = load_model(path, dtype=torch.float32)
    _check_trainable(model, path, manifest["kind"])
    return path, model, manifest


def load_members(model_path: str | os.PathLike) -> tuple[Path, list[torch.nn.Module], dict[str, Any]]:
    """The path, the models to train (float32) and the manifest of an ensemble file (its members) or of one model
    (a list of one); each must be a gradient-trained energy model (a one-line error otherwise)."""
    path = resolve_model_path(model_path)
    model, manifest = load_model(path, dtype=torch.float32)
    if manifest["kind"] != "ensemble":
        _check_trainable(model, path, manifest["kind"])
        return path, [model], manifest
    for k, member in enumerate(model.members):
        _check_trainable(member, path, f"ensemble member {k} ({getattr(member, 'kind', type(member).__name__)})")
    return path, list(model.members), manifest


def _check_trainable(model: torch.nn.Module, path: Path, kind: str) -> None:
    if getattr(model, "family", "") != "energy":
        raise MLCalcError(f"{path} is a {kind!r} {getattr(model, 'family', 'property')} model; "
                          "training from it (fine-tuning, init_from) needs an energy model (bpnn, torchmdnet-et, "
                          "torchmdnet-tensornet, ...)")
    if getattr(model, "closed_form", False) or not any(p.requires_grad for p in model.parameters()):
        raise MLCalcError(f"{path} is a {kind!r} model solved in closed form or made of members; "
                          "training from it (fine-tuning, init_from) needs a single gradient-trained energy model "
                          "(bpnn, torchmdnet-et, ...)")


def parent_name(path: Path, manifest: dict[str, Any]) -> str:
    """The parent's training name, else its file name without suffix."""
    return str((manifest.get("training") or {}).get("name") or path.stem)


def parent_record(path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The parent as a child's manifest names it: name, kind, file sha256 and path (a shipped parent: its shipped
    name, so that a child that is shipped in turn names no machine's folders)."""
    path = Path(path)
    shipped = path.resolve().parent == PRETRAINED_DIR.resolve()
    return {"name": parent_name(path, manifest), "kind": manifest["kind"], "sha256": file_sha256(path),
            "path": path.stem if shipped else str(path)}


def atomrefs_at_frames_zero(parent: torch.nn.Module, manifest: dict[str, Any], frames: Sequence[Atoms],
                            reference: str | None) -> dict[int, float]:
    """Set and return ``parent``'s atomrefs (eV) for training on ``frames`` (see the module docstring).

    ``reference``: the method that labelled the frames (e.g. "gfn2-xtb"); a foundation parent is moved to its
    isolated atoms first (None: not moved, as for any other parent).
    """
    elements, counts = compositions(frames)
    if reference is not None and level_of_theory(manifest) is not None:
        rereference_to_method(parent, reference, elements)
    chosen = _spread_subset(counts, ATOMREF_FRAMES)
    correction = fit_atomref(residual_frames(parent, frames if chosen is None else [frames[int(k)] for k in chosen]))
    refs = {int(z): float(parent.atomref[z]) + correction.get(int(z), 0.0) for z in parent.elements}
    parent.set_atomref(refs)
    return refs


def _spread_subset(counts: np.ndarray, cap: int) -> np.ndarray | None:
    """``cap`` seeded row indices of the [frames, elements] ``counts``, plus the first frame of each element the draw
    missed (None: all frames, when there are no more than ``cap``)."""
    n = len(counts)
    if n <= cap:
        return None
    chosen = set(np.random.default_rng(0).choice(n, cap, replace=False).tolist())
    for column in range(counts.shape[1]):  # an element that the draw missed: its first frame is added
        rows = np.flatnonzero(counts[:, column])
        if rows.size and not chosen & set(rows.tolist()):
            chosen.add(int(rows[0]))
    return np.array(sorted(chosen), dtype=np.int64)


def residual_frames(model: torch.nn.Module, frames: Sequence[Atoms]) -> list[Atoms]:
    """Copies of ``frames`` labelled with reference minus ``model`` energy (eV); ``model`` is left in float32."""
    from mlcalc.calculator import MLCalc

    calc = MLCalc(model.eval(), dtype=torch.float64)
    out = []
    for a in frames:
        copy = Atoms(a.numbers, a.positions, cell=a.cell, pbc=a.pbc)
        residual = a.get_potential_energy() - calc.get_potential_energy(copy)
        copy.calc = SinglePointCalculator(copy, energy=residual)
        out.append(copy)
    model.float()
    return out
