"""Pretrained models shipped with mlcalc, loadable by name (``MLCalc.load("ethanol-et")``)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PRETRAINED_DIR", "available_models", "energy_models", "require_energy_calculator", "require_energy_model_file", "resolve_model_path"]

PRETRAINED_DIR = Path(__file__).parent / "pretrained"


def available_models() -> list[str]:
    """Names of the shipped models."""
    return sorted(p.stem for p in PRETRAINED_DIR.glob("*.mlc"))


def resolve_model_path(path_or_name: str | os.PathLike) -> Path:
    """A model file path: an existing file, or the shipped model of that name."""
    path = Path(path_or_name)
    if path.is_file():
        return path
    shipped = PRETRAINED_DIR / f"{path.name}.mlc"
    if not path.suffix and shipped.is_file():
        return shipped
    raise FileNotFoundError(
        f"no model file {str(path_or_name)!r} and no shipped model of that name; "
        f"shipped models: {', '.join(available_models()) or 'none'}"
    )


def energy_models() -> list[str]:
    """Names of the shipped energy models (energy and forces; those MD can run), from their headers."""
    from mlcalc.modelfile import read_manifest

    return [name for name in available_models()
            if "energy" in read_manifest(PRETRAINED_DIR / f"{name}.mlc", verify=False).get("properties", {})]


def require_energy_calculator(calc, use: str = "MD") -> None:
    """ValueError if ``calc`` is an mlcalc property model (it has ``targets``): ``use`` needs energy and forces."""
    targets = list(getattr(calc, "targets", None) or [])
    if targets:
        source = getattr(calc, "parameters", {}).get("model") or type(getattr(calc, "model", calc)).__name__
        raise _property_model_error(source, targets, use)


def require_energy_model_file(path_or_name: str | os.PathLike, use: str = "MD") -> None:
    """ValueError if the model file (or shipped name) is a property model; reads only its header."""
    from mlcalc.modelfile import read_manifest

    properties = read_manifest(resolve_model_path(path_or_name), verify=False).get("properties", {})
    if "energy" not in properties:
        raise _property_model_error(str(path_or_name), list(properties), use)


def _property_model_error(source: str, targets: list[str], use: str) -> ValueError:
    """The one message for a property model where energy and forces are needed, naming the energy models."""
    return ValueError(f"{use} needs an energy model (energy and forces), but {source} is a property model "
                      f"(it predicts {', '.join(targets)}); energy models: {', '.join(energy_models())} "
                      "or a trained energy model file")
