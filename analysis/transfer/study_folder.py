"""A transfer study's folder: what made it (study.json), clearing it, and the study's source model.

``study.json`` records the model (sha256), dtype, reference (and its SCF accuracy) and how runs start;
a rerun made with others is refused instead of mixing runs (``overwrite`` clears the study first).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

from mlcalc.errors import OutputExistsError

from .config import TransferConfig

__all__ = ["clear_study", "check_same_study", "source_model"]

_STUDY_FILES = ("md", "figures", "report.md", "report.html", "results.json", "study.json")


def clear_study(out: Path) -> None:
    """Delete what a study writes into ``out`` (nothing else there)."""
    for name in _STUDY_FILES:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def check_same_study(config: TransferConfig, out: Path, model_path: Path) -> None:
    """Record the model (sha256), dtype, reference (and its SCF accuracy) and how runs start in study.json; refuse MD
    runs made with others (more replicas are fine: the runs there are kept; so are runs of the model a re-referenced
    one was made from, whose forces are the same)."""
    from mlcalc.data.structure_files import file_sha256
    from mlcalc.data.xtb import MD_ACCURACY

    made_with = {"model_sha256": file_sha256(model_path), "dtype": config.dtype, "reference": config.reference,
                 "reference_accuracy": MD_ACCURACY if config.reference else None,
                 "starts": {"conformers": config.conformers, "preoptimise": config.preoptimise,
                            "preoptimise_fmax": config.preoptimise_fmax}}
    path = out / "study.json"
    if path.exists() and (out / "md").exists():
        before = json.loads(path.read_text())
        changed = [k for k in made_with if before.get(k) != made_with[k]
                   and not (k in ("reference", "reference_accuracy")
                            and None in (before.get("reference"), config.reference))
                   and not (k == "model_sha256" and _rereferenced_from(model_path) == before.get(k))]
        if changed:
            raise OutputExistsError(f"{out} holds a study made with another {', '.join(changed)}; use another out_dir "
                                    "or replace it with --overwrite (overwrite=True)")
    path.write_text(json.dumps(made_with, indent=1))


def _rereferenced_from(model_path: Path) -> str | None:
    """The sha256 of the file ``model_path`` was re-referenced from (same forces, new atomrefs), if any."""
    from mlcalc.modelfile import read_manifest

    record = (read_manifest(model_path).get("normalisation") or {}).get("atomref")
    return record.get("rereferenced_from_sha256") if isinstance(record, dict) else None


def source_model(config: TransferConfig, echo: Callable[[str], None]) -> Path:
    """The study's model file: ``source.model`` (a file or shipped name), or the model of ``source.train_config``
    (trained first unless its .mlc is there)."""
    from mlcalc.named_models import resolve_model_path

    if config.source.model:
        return _on_reference_level(config, resolve_model_path(config.source.model), echo)
    from mlcalc.potentials.training.config import load_config
    from mlcalc.potentials.training import train

    train_config = load_config(config.source.train_config)
    path = Path(train_config.out_dir) / f"{train_config.name}.mlc"
    if path.exists():
        echo(f"source model: {path} (already trained)")
        return path
    echo(f"training the source model from {config.source.train_config} ...")
    return train(train_config, resume=(Path(train_config.out_dir) / "checkpoints" / "last.ckpt").exists()).model_path


def _on_reference_level(config: TransferConfig, path: Path, echo: Callable[[str], None]) -> Path:
    """A foundation model (another level of theory) with its free atoms at the reference method's energies,
    for the study's elements (``<out_dir>/source-<reference>.mlc``, made once); any other model as it is."""
    from mlcalc.data.molecules import load_molecule
    from mlcalc.modelfile import read_manifest
    from mlcalc.potentials.training.rereference import level_of_theory, rereferenced_foundation_file

    theory = level_of_theory(read_manifest(path, verify=False))
    if theory is None or not config.reference:
        return path
    elements = sorted({int(z) for m in config.molecules for z in load_molecule(m).numbers})
    out = Path(config.out_dir) / f"source-{config.reference}.mlc"
    echo(f"source model {path.name} ({theory}): per-element energies re-referenced to {config.reference} in {out}")
    return rereferenced_foundation_file(path, config.reference, elements, out)
