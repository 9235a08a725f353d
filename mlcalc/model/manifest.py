"""The manifest schema: what a model file says about its model, checked before anything is built.

Fields (JSON): ``format_version``, ``kind`` and ``hyperparameters`` (enough to rebuild
the network; a composite lists its members there), ``cutoff`` (Å), ``elements``
(atomic numbers seen in training), ``periodic``, ``properties`` (name -> unit and
per-structure/per-atom), and the optional records ``normalisation``, ``data``,
``training``, ``metrics``, ``versions``, ``created``, ``weights_sha256`` (written on save,
checked on load). Unknown fields are kept.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["Manifest", "validate_manifest"]


class Manifest(BaseModel):
    model_config = ConfigDict(extra="allow")

    format_version: int = Field(ge=1)
    kind: str = Field(min_length=1)
    hyperparameters: dict[str, Any]
    cutoff: float = Field(gt=0, description="Å")
    elements: list[int] = Field(min_length=1)
    periodic: bool = False
    properties: dict[str, dict[str, Any]] = Field(min_length=1)
    normalisation: Optional[dict[str, Any]] = None
    data: Optional[dict[str, Any]] = None
    training: Optional[dict[str, Any]] = None
    metrics: Optional[dict[str, Any]] = None
    versions: Optional[dict[str, str]] = None
    created: Optional[str] = None
    weights_sha256: Optional[str] = Field(default=None, pattern="^[0-9a-f]{64}$",
                                          description="checksum of the weights (mlcalc.modelfile.weights_sha256)")

    @field_validator("elements")
    @classmethod
    def _atomic_numbers(cls, elements: list[int]) -> list[int]:
        bad = [z for z in elements if not 1 <= z <= 118]
        if bad:
            raise ValueError(f"atomic numbers must lie in 1..118, got {bad}")
        return elements

    @field_validator("properties")
    @classmethod
    def _units(cls, properties: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        missing = [name for name, p in properties.items() if "unit" not in p]
        if missing:
            raise ValueError(f"properties {missing} have no unit")
        return properties


def validate_manifest(manifest: Any) -> dict[str, Any]:
    """``manifest`` itself if it fits :class:`Manifest`; else a one-line ValueError naming the fields."""
    if not isinstance(manifest, dict):
        raise ValueError(f"a manifest is a JSON object, got {type(manifest).__name__}")
    try:
        Manifest.model_validate(manifest)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in err.errors())
        raise ValueError(f"invalid manifest ({problems})") from None
    return manifest
