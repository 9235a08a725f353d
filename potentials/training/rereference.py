"""Give a trained energy model usable absolute energies on new compositions, without retraining.

A model trained on one composition (e.g. ethanol) with minimum-norm least-squares atomrefs
predicts its own molecule well but is off by tens of eV on any other composition. The
atomrefs are only determined up to what the training compositions fix; :func:`rereference_model`
moves the undetermined part to the reference method's isolated-atom energies
(:func:`mlcalc.atomref.rereferenced`), which leaves every prediction on the training
compositions unchanged to rounding and forces everywhere unchanged exactly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ase import Atoms

__all__ = ["rereference_model"]


def rereference_model(path: str | os.PathLike, trained_on: Sequence[Atoms | str], reference: str = "gfn2-xtb",
                      out: str | os.PathLike | None = None) -> Path:
    """Rewrite the energy model file or shipped model ``path`` (or write ``out``) with re-referenced atomrefs.

    ``trained_on``: the training compositions (structures or molecule names/files; one per
    composition is enough); ``reference``: the method that labelled the training data. The
    manifest keeps its data, metrics and training records; ``normalisation.atomref`` records
    the change, the previous values and the sha256 of the file it was made from (``rereferenced_from_sha256``:
    a transfer study run with that file keeps its MD, whose forces are the same).
    """
    from mlcalc.atomref import composition_rank, rereferenced
    from mlcalc.data.structure_files import file_sha256
    from mlcalc.data.isolated_atoms import isolated_atom_energies
    from mlcalc.data.molecules import load_molecule
    from mlcalc.modelfile import load_model, save_model
    from mlcalc.named_models import resolve_model_path

    path = resolve_model_path(path)
    model, manifest = load_model(path)
    before_sha = file_sha256(path)
    if not hasattr(model, "set_atomref"):
        raise ValueError(f"{path} is a {manifest['kind']} model without atomrefs: only energy models are re-referenced")
    structures = [load_molecule(m) if isinstance(m, (str, os.PathLike)) else m for m in trained_on]
    unknown = sorted({int(z) for a in structures for z in a.numbers} - set(model.elements))
    if unknown:
        raise ValueError(f"the training compositions have elements {unknown} that the model does not know "
                         f"({list(model.elements)})")
    previous = {int(z): float(model.atomref[z]) for z in model.elements}
    isolated = isolated_atom_energies(reference, model.elements)
    new = rereferenced(previous, structures, isolated)
    model.set_atomref(new)
    normalisation = dict(manifest.get("normalisation") or {})
    normalisation["atomref_eV"] = {str(z): e for z, e in new.items()}
    normalisation["atomref"] = {"method": "isolated_atoms", "reference": reference, "elements": list(model.elements),
                                "rank": composition_rank(structures)[1], "rereferenced_from_eV":
                                    {str(z): e for z, e in previous.items()},
                                "rereferenced_from_sha256": before_sha,
                                "isolated_atom_eV": {str(z): e for z, e in isolated.items()},
                                "trained_on": sorted({a.get_chemical_formula() for a in structures})}
    kept = {k: manifest[k] for k in ("data", "metrics", "training") if k in manifest}
    return save_model(Path(out or path), model, normalisation=normalisation, **kept)
