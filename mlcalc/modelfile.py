"""The ``.mlc`` model file: one safetensors file whose header carries a JSON manifest.

Layout: safetensors (8-byte little-endian header length, JSON header, raw tensor
bytes). The header's ``__metadata__`` holds ``{"format": "mlcalc-model",
"format_version": "1", "manifest": "<json>"}``. Reading never unpickles or executes
anything from the file; weights come back bit-exactly as saved.

A file is checked before a model is built from it: its size against the header (a
truncated file), the weights against the manifest's ``weights_sha256`` (files written
before the checksum existed have none and load without it), finite weights, and the
manifest against the weights (:mod:`mlcalc.model.checks`). Every failure is a
one-line :class:`ModelFileError` naming the file.

The manifest's fields and their checks are in :mod:`mlcalc.model.manifest`; a model
is rebuilt from ``kind`` and ``hyperparameters`` through the kind registry.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

import torch

from mlcalc.model.manifest import validate_manifest

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "ModelFileError", "weights_sha256", "write_model_file", "read_manifest",
           "read_model_file", "save_model", "load_model"]

FORMAT_NAME = "mlcalc-model"
FORMAT_VERSION = 1
_MAX_HEADER = 100 * 1024 * 1024


class ModelFileError(ValueError):
    """A file that is not a readable mlcalc model (corrupt, foreign, or from a newer format)."""


def weights_sha256(weights: dict[str, torch.Tensor]) -> str:
    """SHA-256 (hex) of the weights: each tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(weights):
        tensor = weights[name].detach().to("cpu").contiguous()
        digest.update(f"{name}\0{str(tensor.dtype).removeprefix('torch.')}\0{list(tensor.shape)}\0".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def write_model_file(path: str | os.PathLike, manifest: dict[str, Any], weights: dict[str, torch.Tensor]) -> Path:
    """Write ``weights`` (name -> tensor) and the JSON-serialisable ``manifest`` to ``path``.

    The manifest gains ``weights_sha256`` (:func:`weights_sha256`), checked on every read.
    """
    from safetensors.torch import save

    tensors = {name: t.detach().to("cpu").contiguous().clone() for name, t in weights.items()}
    manifest = {**manifest, "weights_sha256": weights_sha256(tensors)}
    validate_manifest(manifest)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "manifest": json.dumps(manifest, sort_keys=True),
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(save(tensors, metadata=metadata))  # open() honours the umask (safetensors' writer makes 0600)
    os.replace(tmp, path)
    return path


def _read_header(path: Path) -> dict[str, Any]:
    """The safetensors JSON header, validated as an mlcalc model header; raises ModelFileError."""
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise ModelFileError(f"{path} is too short ({size} bytes) to be an mlcalc model file")
        (n,) = struct.unpack("<Q", head)
        if n <= 1 or n > min(_MAX_HEADER, size - 8):
            if head[:4] == b"PK\x03\x04" or (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")):
                raise ModelFileError(
                    f"{path} is a pickle/torch.save archive, not an mlcalc model; "
                    "mlcalc never unpickles files because unpickling can run arbitrary code"
                )
            raise ModelFileError(f"{path} is not an mlcalc model file (no safetensors header; corrupt or foreign file)")
        raw = fh.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{path} has a corrupt header ({err.__class__.__name__}); not a readable mlcalc model") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path} is a safetensors file but not an mlcalc model (no '{FORMAT_NAME}' metadata)")
    version = int(meta.get("format_version", "0"))
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} uses model-file format {version}, newer than this mlcalc understands ({FORMAT_VERSION}): upgrade mlcalc"
        )
    ends = [entry.get("data_offsets", [0, 0])[1] for name, entry in header.items()
            if name != "__metadata__" and isinstance(entry, dict)]
    expected = 8 + n + max(ends, default=0)
    if size != expected:
        what = "is truncated" if size < expected else "has trailing bytes"
        raise ModelFileError(f"{path} {what}: {size} bytes, its header describes {expected}; "
                             "the file is damaged (copy or download it again)")
    return header


def read_manifest(path: str | os.PathLike, verify: bool = True) -> dict[str, Any]:
    """The manifest of a model file; with ``verify`` the weights are read and checked too
    (checksum, finite values), without it only the header (and the file's size)."""
    if verify:
        return read_model_file(path)[0]
    path = Path(path)
    header = _read_header(path)
    try:
        return validate_manifest(json.loads(header["__metadata__"]["manifest"]))
    except (KeyError, json.JSONDecodeError):
        raise ModelFileError(f"{path} has no readable manifest") from None
    except ValueError as err:
        raise ModelFileError(f"{path}: {err}") from None


def read_model_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(manifest, weights)`` from a model file; raises ModelFileError for anything unreadable,
    weights that differ from the manifest's checksum, or non-finite weights."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    manifest = read_manifest(path, verify=False)
    try:
        weights = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelFileError(f"{path}: weights are corrupt or truncated ({err})") from None
    stored = manifest.get("weights_sha256")
    if stored is not None and weights_sha256(weights) != stored:
        raise ModelFileError(f"{path}: the weights do not match the checksum in its manifest (weights_sha256): "
                             "the file was altered or damaged")
    bad = [name for name, t in weights.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise ModelFileError(f"{path}: weights {', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''} hold NaN or "
                             "infinite values; refusing a model that cannot give finite results")
    return manifest, weights


def _versions() -> dict[str, str]:
    """Versions of the packages that shape a model's numbers."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("mlcalc", "torch", "torchmd-net", "torch-geometric", "ase", "vesin"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def save_model(path: str | os.PathLike, model: torch.nn.Module, **extra: Any) -> Path:
    """Save an :class:`~mlcalc.model.AtomisticModel` (any registered kind) with its manifest.

    ``extra`` adds manifest fields such as ``data``, ``metrics``, ``normalisation``.
    """
    from datetime import datetime, timezone

    manifest = {
        "format_version": FORMAT_VERSION,
        "kind": model.kind,
        "hyperparameters": model.hyperparameters(),
        "cutoff": model.cutoff,
        "elements": list(model.elements),
        "periodic": model.periodic,
        "properties": model.properties,
        "versions": _versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }
    return write_model_file(path, manifest, model.state_dict())


def load_model(path: str | os.PathLike, dtype: torch.dtype | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """``(model, manifest)`` from a model file, in eval mode; weights as stored unless ``dtype`` is given.

    The manifest is checked against the weights before and while the model is built
    (:mod:`mlcalc.model.checks`): a ModelFileError names the file and the mismatch.
    """
    from mlcalc.model.checks import build_within, check_against_weights, check_hyperparameters, weights_bytes

    manifest, weights = read_model_file(path)
    spec = {"kind": manifest["kind"], "hyperparameters": manifest["hyperparameters"]}
    try:
        check_hyperparameters(spec["kind"], spec["hyperparameters"])
        model = build_within(spec, weights_bytes(weights))
        check_against_weights(model, manifest, weights)
    except ValueError as err:
        raise ModelFileError(f"{path}: {err}") from None
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        raise ModelFileError(f"{path}: weights do not match a {manifest['kind']!r} model ({str(err)[:300]})") from None
    if dtype is not None:
        model = model.to(dtype)
    return model.eval(), manifest
