"""Give a trained energy model usable absolute energies on new compositions, without retraining.

A model trained on one composition (e.g. ethanol) with minimum-norm least-squares atomrefs
predicts its own molecule well but is off by tens of eV on any other composition. The
atomrefs are only determined up to what the training compositions fix; :func:`rereference_model`
moves the undetermined part to the reference method's isolated-atom energies
(:func:`mlcalc.atomref.rereferenced`), which leaves every prediction on the training
compositions unchanged to rounding and forces everywhere unchanged exactly.

A pretrained foundation model (manifest record ``foundation``, e.g. SevenNet-0 on PBE) has
absolute energies of another level of theory: :func:`rereference_to_method` shifts its atomrefs
so that its free atoms get the reference method's isolated-atom energies (binding energies stay
the model's; forces unchanged exactly), which fine-tuning and transfer studies do first so that
neither the first optimiser steps nor the energy errors are spent on a constant per element.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ase import Atoms

__all__ = ["rereference_model", "rereference_to_method", "level_of_theory", "rereferenced_foundation_file"]


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


def level_of_theory(manifest: dict) -> str | None:
    """The level of theory a foundation model's energies are on (manifest record ``foundation``), else None."""
    record = manifest.get("foundation")
    return str(record.get("level_of_theory")) if isinstance(record, dict) else None


def rereference_to_method(model, reference: str, elements: Sequence[int]) -> dict[int, float]:
    """Shift ``model``'s atomrefs (in place) so that a free atom of each of ``elements`` has ``reference``'s
    isolated-atom energy (eV); returns the shifts {z: eV}. Other elements and all forces are unchanged."""
    import torch

    from mlcalc.calculator import MLCalc
    from mlcalc.data.isolated_atoms import isolated_atom_energies

    elements = sorted({int(z) for z in elements})
    unknown = sorted(set(elements) - set(model.elements))
    if unknown:
        raise ValueError(f"elements {unknown} are unknown to the model ({len(model.elements)} elements)")
    isolated = isolated_atom_energies(reference, elements)
    dtype = next(model.parameters()).dtype
    calc = MLCalc(model.eval(), dtype=torch.float64)
    shifts = {z: isolated[z] - calc.get_potential_energy(Atoms(numbers=[z], positions=[[0.0, 0.0, 0.0]]))
              for z in elements}
    model.to(dtype)
    refs = {int(z): float(model.atomref[z]) for z in model.elements}
    model.set_atomref({z: e + shifts.get(z, 0.0) for z, e in refs.items()})
    return shifts


def rereferenced_foundation_file(path: str | os.PathLike, reference: str, elements: Sequence[int],
                                 out: str | os.PathLike) -> Path:
    """``out``: the foundation model ``path`` with its free atoms of ``elements`` at ``reference``'s energies
    (:func:`rereference_to_method`); an existing ``out`` made from the same file, reference and elements is reused."""
    from mlcalc.data.structure_files import file_sha256
    from mlcalc.modelfile import load_model, read_manifest, save_model
    from mlcalc.named_models import resolve_model_path

    path, out = resolve_model_path(path), Path(out)
    request = {"rereferenced_from_sha256": file_sha256(path), "reference": reference,
               "elements": sorted({int(z) for z in elements}), "method": "isolated_atoms_of_reference"}
    if out.exists():
        done = (read_manifest(out, verify=False).get("normalisation") or {}).get("level_of_theory")
        if isinstance(done, dict) and {k: done.get(k) for k in request} == request:
            return out
        raise ValueError(f"{out} exists and was not re-referenced from {path} to {reference} for these elements; "
                         "delete it or choose another path")
    model, manifest = load_model(path)
    if level_of_theory(manifest) is None:
        raise ValueError(f"{path} is no foundation model (no 'foundation' record); use rereference_model")
    shifts = rereference_to_method(model, reference, request["elements"])
    normalisation = dict(manifest.get("normalisation") or {})
    normalisation["atomref_eV"] = {str(z): float(model.atomref[z]) for z in model.elements}
    normalisation["level_of_theory"] = {**request, "from": level_of_theory(manifest),
                                        "shift_eV": {str(z): e for z, e in shifts.items()}}
    kept = {k: manifest[k] for k in ("data", "metrics", "training", "foundation") if k in manifest}
    return save_model(out, model, normalisation=normalisation, **kept)
