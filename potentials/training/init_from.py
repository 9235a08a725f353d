"""``init_from``: a training run (:mod:`.train`) that starts from a saved energy model's weights.

The parent (``.mlc`` file or shipped name; any single gradient-trained energy kind, a converted
foundation model included) gives the kind, cutoff, hyperparameters, elements, energy scale and
weights; its atomrefs are put at the training frames' energy zero first (:mod:`.parent_model`:
a foundation parent is moved to the reference method's free atoms, then a least-squares
correction). The child's manifest gets the record ``init_from`` (the parent's name, kind, file
sha256 and path, and its ``foundation`` record if it has one). The run folder keeps the parent's
record in ``init_from.json``: a resume from another parent file is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import torch
from ase import Atoms
from ase.data import chemical_symbols

from mlcalc.atomref import compositions
from mlcalc.errors import OutputExistsError

from .parent_model import atomrefs_at_frames_zero, load_parent, parent_record

__all__ = ["start_from_parent", "RECORD_FILE"]

#: the parent's record in the run folder (checked on resume)
RECORD_FILE = "init_from.json"


def start_from_parent(spec: str, train_set: Sequence[Atoms], reference: str | None, out: Path
                      ) -> tuple[torch.nn.Module, dict[int, float], dict[str, Any], dict[str, Any]]:
    """``(model, atomref, atomref_record, parent)``: the parent ``spec`` ready to train on ``train_set``.

    ``reference``: the method that labelled the frames (None: unknown; a foundation parent then keeps its
    level of theory's free atoms and only gets the least-squares correction); ``out``: the run folder.
    """
    path, model, manifest = load_parent(spec)
    unknown = sorted(set(compositions(train_set)[0]) - set(model.elements))
    if unknown:
        raise ValueError(f"init_from {spec}: the training frames hold elements "
                         f"{', '.join(chemical_symbols[z] for z in unknown)} that the model does not know")
    parent = parent_record(path, manifest)
    if isinstance(manifest.get("foundation"), dict):
        parent["foundation"] = manifest["foundation"]
    _check_same_parent(Path(out), parent)
    atomref = atomrefs_at_frames_zero(model, manifest, train_set, reference)
    record = {"method": "parent_shifted", "reference": reference, "parent_sha256": parent["sha256"],
              "rereferenced_to_reference": reference is not None and "foundation" in parent}
    return model.train(), atomref, record, parent


def _check_same_parent(out: Path, parent: dict[str, Any]) -> None:
    """Refuse to resume a run started from another parent file; record this one."""
    saved = out / RECORD_FILE
    if (out / "checkpoints" / "last.ckpt").exists():  # a resumed run (an earlier run is refused or deleted otherwise)
        before = json.loads(saved.read_text()).get("sha256") if saved.exists() else None
        if before != parent["sha256"]:
            raise OutputExistsError(f"{out} holds a run that was not started from this init_from file "
                                    f"({parent['path']}, sha256 {parent['sha256'][:12]}...); resume it with its own "
                                    "parent or start over with --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(parent, indent=2))
