"""Pretrained models shipped with mlcalc, loadable by name (``MLCalc.load("ethanol-et")``)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PRETRAINED_DIR", "available_models", "resolve_model_path"]

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
