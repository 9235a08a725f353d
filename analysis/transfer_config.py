"""The transfer-study configuration (YAML at the edge; validated, strict).

A source molecule and its model (a model file or shipped name, or a training config to
run first), target molecules, the MD settings (defaults: the paper's NVE, 0.1 fs,
100,000 steps), the reference calculator, and the bonds and angles to compare.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlcalc.config import load_yaml_config
from mlcalc.data.molecules import MOLECULES
from mlcalc.md import MDSettings

from .selections import parse_selection

__all__ = ["TransferConfig", "SourceConfig", "TransferMD", "load_transfer_config"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_molecule(name: str) -> str:
    if name not in MOLECULES and not Path(name).is_file():
        raise ValueError(f"molecule {name!r} is neither a shipped molecule ({', '.join(MOLECULES)}) nor a file")
    return name


class SourceConfig(_Strict):
    """The molecule the model was trained on, and the model: ``model`` or ``train_config``."""

    molecule: str
    model: Optional[str] = Field(None, description="a .mlc file or a shipped model name")
    train_config: Optional[Path] = Field(None, description="a training config, run first if its model is missing")

    _molecule = field_validator("molecule")(_check_molecule)

    @model_validator(mode="after")
    def _one_model(self):
        if (self.model is None) == (self.train_config is None):
            raise ValueError("give the source either a 'model' or a 'train_config'")
        return self


class TransferMD(_Strict):
    """MD of every molecule, with the model and with the reference (same settings and seed)."""

    steps: int = Field(100_000, gt=0)
    timestep: float = Field(0.1, gt=0, description="fs")
    temperature: float = Field(300.0, ge=0, description="K, initial Maxwell-Boltzmann velocities")
    ensemble: Literal["nve", "langevin"] = "nve"
    interval: int = Field(10, gt=0, description="steps between saved frames")
    seed: int = 0
    dtype: Literal["float32", "float64"] = "float32"
    max_force: Optional[float] = Field(50.0, gt=0)
    bond_stretch: Optional[float] = Field(2.0, gt=1)

    def settings(self) -> MDSettings:
        return MDSettings(steps=self.steps, timestep=self.timestep, temperature=self.temperature,
                          ensemble=self.ensemble, seed=self.seed, interval=self.interval, max_force=self.max_force,
                          bond_stretch=self.bond_stretch)


class TransferConfig(_Strict):
    name: str
    source: SourceConfig
    targets: list[str] = Field(min_length=1)
    md: TransferMD = TransferMD()
    reference: Optional[str] = Field("gfn2-xtb", description="reference calculator; null: no reference runs")
    error_frames: int = Field(200, ge=0, description="reference frames per molecule to score the model on")
    compare: list[Any] = Field(min_length=1, description="bonds/angles: 'C-O', 'C-C-O' or mappings")
    out_dir: Path
    workers: int = Field(2, ge=1, description="MD runs in parallel (one CPU thread each)")
    n_bins: int = Field(80, ge=5)

    _targets = field_validator("targets")(lambda v: [_check_molecule(m) for m in v])

    @field_validator("compare")
    @classmethod
    def _selections(cls, value):
        names = [parse_selection(spec).name for spec in value]
        if len(set(names)) != len(names):
            raise ValueError(f"selection names must be unique, got {names}")
        return value

    @property
    def molecules(self) -> list[str]:
        """The source first, then the targets."""
        return [self.source.molecule, *[t for t in self.targets if t != self.source.molecule]]


def load_transfer_config(path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> TransferConfig:
    """Read and validate a transfer-study YAML; ``overrides`` (dotted keys) replace values."""
    return load_yaml_config(path, TransferConfig, overrides)
