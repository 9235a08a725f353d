"""Convert a foundation package's pretrained checkpoint, once, into a normal ``.mlc`` model file.

``import_model("sevenn:SevenNet-0", "sevennet-0.mlc")`` or ``import_model("chgnet:0.3.0", "chgnet.mlc")``:
the checkpoint is read by the package's own loader (which unpickles it:
:func:`_unpickle_sevennet_checkpoint`, :func:`_unpickle_chgnet_checkpoint`, the only places in
mlcalc that let pickle run, and only when a user asks for an import), the package's network is
rebuilt by the package, its per-element energies move to the model's atomref, and its weights
are stored as safetensors with a manifest recording the source (package, version, checkpoint
file and sha256, licence, level of theory). Loading the result never unpickles. Checkpoints are
taken from the installed package's files or a path; no network access (a pretrained name whose
file the wheel lacks is refused).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from .extra import require

__all__ = ["SOURCES", "import_model", "sevennet_checkpoint_path", "chgnet_checkpoint_path"]

#: package prefixes of ``import_model``'s spec
SOURCES = ("sevenn", "chgnet")
#: SevenNet checkpoints shipped in the sevenn wheel: lower-case name -> sevenn._const attribute
_SEVENNET_SHIPPED = {
    "sevennet-0": "SEVENNET_0_11Jul2024", "sevennet-0_11jul2024": "SEVENNET_0_11Jul2024",
    "sevennet-0_22may2024": "SEVENNET_0_22May2024", "sevennet-l3i5": "SEVENNET_l3i5",
}
#: what the shipped SevenNet checkpoints were trained on (the level of theory of their energies)
_SEVENNET_THEORY = "PBE/PBE+U (Materials Project MPtrj)"
#: CHGNet checkpoints shipped in the chgnet wheel (as chgnet's CHGNet.load names them): file under chgnet/pretrained,
#: level of theory
_CHGNET_SHIPPED = {
    "0.3.0": ("0.3.0/chgnet_0.3.0_e29f68s314m37.pth.tar", "PBE/PBE+U (Materials Project MPtrj)"),
    "0.2.0": ("0.2.0/chgnet_0.2.0_e30f77s348m32.pth.tar", "PBE/PBE+U (Materials Project MPtrj)"),
    "r2scan": ("r2scan/chgnet_r2scan_transfer_learning_e15f36s161m23.pth.tar", "r2SCAN (Materials Project MP-r2SCAN)"),
}


def import_model(spec: str, out: str | os.PathLike) -> Path:
    """Write the ``.mlc`` of ``spec`` (``package:checkpoint``, e.g. ``sevenn:SevenNet-0`` or
    ``sevenn:/path/checkpoint.pth``) to ``out``; returns its path."""
    package, sep, name = spec.partition(":")
    if not sep or not name or package not in SOURCES:
        raise ValueError(f"cannot import {spec!r}: give PACKAGE:CHECKPOINT with PACKAGE one of {', '.join(SOURCES)} "
                         f"and CHECKPOINT a shipped name (sevenn: {', '.join(sorted(_SEVENNET_SHIPPED))}; chgnet: "
                         f"{', '.join(_CHGNET_SHIPPED)}) or a file")
    return (_import_sevennet if package == "sevenn" else _import_chgnet)(name, Path(out))


def sevennet_checkpoint_path(name: str) -> Path:
    """The file of a SevenNet checkpoint: ``name`` itself if it is a file, else a checkpoint shipped in the sevenn wheel."""
    if Path(name).is_file():
        return Path(name)
    const = require("sevenn._const", "sevenn", "sevennet")
    alias = name.lower().replace("7net", "sevennet")
    if alias not in _SEVENNET_SHIPPED:
        raise ValueError(f"no SevenNet checkpoint {name!r}: give a checkpoint file or one of "
                         f"{', '.join(sorted(_SEVENNET_SHIPPED))} (shipped in the sevenn wheel)")
    path = Path(getattr(const, _SEVENNET_SHIPPED[alias]))
    if not path.is_file():
        raise FileNotFoundError(f"SevenNet checkpoint {name!r} is not in the installed sevenn package ({path}); "
                                "mlcalc does not download checkpoints: give its file")
    return path


def _unpickle_sevennet_checkpoint(path: Path):
    """sevenn's own checkpoint object for ``path``, loaded (config and weights).

    THE ONE PLACE mlcalc lets pickle run: sevenn stores checkpoints with ``torch.save`` and reads
    them back through pickle (``weights_only=False``; its config holds objects the safe loader
    refuses). It is reached only from an explicit import (``mlcalc import``), on the installed
    package's own files or a file the user names; the result is stored without pickle.
    """
    from sevenn.checkpoint import SevenNetCheckpoint

    checkpoint = SevenNetCheckpoint(str(path))
    checkpoint.config  # noqa: B018  (loads the file)
    return checkpoint


def _import_sevennet(name: str, out: Path) -> Path:
    from .sevennet import SevenNetPotential, json_config

    require("sevenn", "sevenn", "sevennet")
    path = sevennet_checkpoint_path(name)
    checkpoint = _unpickle_sevennet_checkpoint(path)
    source_network = checkpoint.build_model()  # sevenn's own build, its state dict patched for old checkpoints
    config = json_config(checkpoint.config)
    config["shift"] = [0.0] * len(config["shift"])  # the per-element shift moves to atomref (_move_shift_to_atomref)
    type_map = {int(z): int(i) for z, i in config["_type_map"].items()}
    model = SevenNetPotential(elements=sorted(type_map), cutoff=float(config["cutoff"]), config=config)
    state = source_network.state_dict()
    kept = {k: v for k, v in state.items() if k.split(".")[0] in model.network._modules}
    model.network.load_state_dict(kept, strict=True)
    _move_shift_to_atomref(model, type_map)
    theory = _SEVENNET_THEORY if not Path(name).is_file() else "as trained (see the checkpoint)"
    return _save_converted(model, out, "sevenn", name, path, theory,
                           sevenn_version_of_checkpoint=str(checkpoint.config.get("version", "")))


def _save_converted(model, out: Path, package: str, name: str, path: Path, theory: str, **more: Any) -> Path:
    """``model`` (converted from ``package``'s checkpoint ``name`` in file ``path``) saved to ``out`` with its
    manifest record ``foundation`` (package, version, checkpoint file and sha256, licence, level of theory, ...)."""
    from mlcalc.data.structure_files import file_sha256
    from mlcalc.modelfile import save_model

    record = {"package": package, "version": _version(package), "checkpoint": name, "checkpoint_file": path.name,
              "checkpoint_sha256": file_sha256(path), "licence": _licence(package), "level_of_theory": theory,
              "elements": model.elements, "cutoff": model.cutoff, **more}
    return save_model(out, model, foundation=record,
                      normalisation={"atomref_eV": {str(z): float(model.atomref[z]) for z in model.elements},
                                     "atomref": {"method": "source_model_shift", "reference": theory}})


def chgnet_checkpoint_path(name: str) -> Path:
    """The file of a CHGNet checkpoint: ``name`` itself if it is a file, else one shipped in the chgnet wheel."""
    if Path(name).is_file():
        return Path(name)
    if name.lower() not in _CHGNET_SHIPPED:
        raise ValueError(f"no CHGNet checkpoint {name!r}: give a checkpoint file or one of "
                         f"{', '.join(_CHGNET_SHIPPED)} (shipped in the chgnet wheel)")
    package = require("chgnet", "chgnet", "chgnet")
    path = Path(package.__file__).parent / "pretrained" / _CHGNET_SHIPPED[name.lower()][0]
    if not path.is_file():
        raise FileNotFoundError(f"CHGNet checkpoint {name!r} is not in the installed chgnet package ({path}); "
                                "mlcalc does not download checkpoints: give its file")
    return path


def _unpickle_chgnet_checkpoint(path: Path, name: str):
    """chgnet's own ``CHGNet`` for the checkpoint file ``path`` (``name``: a shipped name or the path).

    THE OTHER PLACE mlcalc lets pickle run: chgnet stores checkpoints with ``torch.save`` and reads
    them back unpickling them in full (``CHGNet.from_file``, as its ``CHGNet.load`` does for the shipped
    ones, with the same arguments). Reached only from an explicit import
    (``mlcalc import``), on the installed package's own files or a file the user names; the result
    is stored without pickle.
    """
    import contextlib
    import io

    from chgnet.model.model import CHGNet

    shipped = name.lower() in _CHGNET_SHIPPED and not Path(name).is_file()
    options = {"mlp_out_bias": name.lower() == "0.2.0", "version": name.lower()} if shipped else {}
    with contextlib.redirect_stdout(io.StringIO()):  # chgnet prints its parameter count
        return CHGNet.from_file(str(path), **options)


def _import_chgnet(name: str, out: Path) -> Path:
    from .chgnet import MAX_Z, CHGNetPotential

    require("chgnet.model.model", "chgnet", "chgnet")
    path = chgnet_checkpoint_path(name)
    source = _unpickle_chgnet_checkpoint(path, name)
    if source.composition_model is None or not hasattr(source.composition_model, "fc"):
        raise ValueError(f"this CHGNet network has no linear per-element energy (composition model "
                         f"{type(source.composition_model).__name__}); cannot import it")
    config = {k: v for k, v in json.loads(json.dumps(source.model_args)).items()}
    config["composition_model"] = None  # its per-element energies move to atomref
    model = CHGNetPotential(elements=list(range(1, MAX_Z + 1)), cutoff=float(config["atom_graph_cutoff"]),
                            config=config)
    state = {k: v for k, v in source.state_dict().items() if not k.startswith("composition_model.")}
    model.network.load_state_dict(state, strict=True)
    per_element = source.composition_model.fc.weight.detach().to(torch.float64).reshape(-1)
    model.set_atomref({z: float(per_element[z - 1]) for z in model.elements})
    theory = _CHGNET_SHIPPED[name.lower()][1] if name.lower() in _CHGNET_SHIPPED and not Path(name).is_file() \
        else "as trained (see the checkpoint)"
    return _save_converted(model, out, "chgnet", name, path, theory, chgnet_version_of_checkpoint=str(source.version))


def _move_shift_to_atomref(model, type_map: dict[int, int]) -> None:
    """sevenn's per-species energy shift (eV) into ``model.atomref``, zeroed in the network (same energies)."""
    rescale = model.network._modules.get("rescale_atomic_energy")
    shift = getattr(rescale, "shift", None)
    if not isinstance(shift, torch.Tensor):
        raise ValueError(f"this SevenNet network has no per-species energy shift ({type(rescale).__name__}); "
                         "cannot import it")
    with torch.no_grad():
        values = shift.detach().to(torch.float64)
        per_element = {z: float(values[i] if values.numel() > 1 else values.reshape(())) for z, i in type_map.items()}
        shift.zero_()
    model.set_atomref(per_element)


def _version(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)


def _licence(distribution: str) -> str:
    """The distribution's licence as its metadata states it (classifier, or the licence field's first line)."""
    from importlib.metadata import metadata

    meta = metadata(distribution)
    if meta.get("License-Expression"):
        return str(meta["License-Expression"])
    classifiers = [c.split(" :: ")[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    if classifiers:
        return classifiers[0]
    return (meta.get("License") or "unknown").strip().splitlines()[0]


def describe_source(manifest: dict[str, Any]) -> str:
    """One line naming a converted model's source (for messages and reports)."""
    rec = manifest.get("foundation") or {}
    return f"{rec.get('package', '?')} {rec.get('version', '?')} {rec.get('checkpoint', '?')} ({rec.get('level_of_theory', '?')})"
