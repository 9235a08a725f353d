"""The transfer-study configuration (YAML at the edge; validated, strict).

A source molecule and its model (a model file or shipped name, or a training config to
run first) with its precision (``dtype``), target molecules, the MD settings (defaults:
the paper's NVE, 0.1 fs, 100,000 steps), the reference calculator, and the bonds and
angles to compare.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlcalc.analysis.selections import parse_selection
from mlcalc.data.molecules import MOLECULES
from mlcalc.md.settings import LearnSettings, MDSettings, Steps, Timestep
from mlcalc.yaml_config import load_yaml_config

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
        if self.model is not None and self.train_config is not None:
            raise ValueError("give the source either a 'model' or a 'train_config', not both")
        return self


class TransferMD(MDSettings):
    """MD of every molecule, with the model and with the reference (same settings and seed).

    :class:`~mlcalc.md.MDSettings` with the paper's protocol as defaults: NVE, 100,000 steps of 0.1 fs.
    """

    steps: Steps = 100_000
    timestep: Timestep = 0.1


class TransferConfig(_Strict):
    name: str
    source: SourceConfig
    targets: list[str] = Field(min_length=1)
    md: TransferMD = TransferMD()
    dtype: Literal["float32", "float64"] = Field("float32", description="precision of the model in MD")
    reference: Optional[str] = Field("gfn2-xtb", description="reference calculator; null: no reference runs")
    error_frames: int = Field(200, ge=0, description="reference frames per molecule to score the model on")
    compare: list[Any] = Field(min_length=1, description="bonds/angles: 'C-O', 'C-C-O' or mappings")
    out_dir: Path
    workers: int = Field(2, ge=1, description="MD runs in parallel (one CPU thread each)")
    n_bins: int = Field(80, ge=5)
    replicas: int = Field(1, ge=1, le=64, description="runs per molecule, for the model and the reference: replica k "
                                                      "has seed md.seed + k and starts from conformer k")
    conformers: bool = Field(True, description="replica k starts from conformer k (rotatable torsions turned by "
                                               "120° steps; replica 0 is the molecule as given)")
    preoptimise: Literal["targets", "all", "none"] = Field(
        "targets", description="relax the model's start geometries with the model itself first (BFGS); the "
                               "reference's start stays as given and the model also runs from it")
    preoptimise_fmax: float = Field(0.01, gt=0, description="eV/Å: force limit of the pre-optimisation")
    uncertainty_model: Optional[str] = Field(
        None, description="an ensemble (.mlc or shipped name) whose force uncertainty on each molecule's scored "
                          "frames is reported against its own force error (an ensemble source model is used itself)")
    finetune: list[int] = Field([], description="frame counts k: per target, fine-tune the source model on k "
                                               "500 K reference frames of that target, and train from scratch on "
                                               "them, then rerun the target (0: the source model as it is)")
    finetune_steps: Optional[int] = Field(None, ge=1, description="MD steps of the fine-tuned models' runs "
                                                                  "(default: md.steps)")
    finetune_train_steps: Optional[int] = Field(None, ge=1, description="optimiser steps of each fine-tuning and "
                                                "each from-scratch training, the same budget for both (default: "
                                                "100 per frame at batch 16, at least 1000, at most 5000)")
    source_models: list[str] = Field([], description="several source models (files or shipped names) compared side "
                                                     "by side: the study runs once per model, each in "
                                                     "out_dir/sources/<model>/, all sharing the reference runs in "
                                                     "out_dir/reference/; out_dir/sources.html compares them")
    reference_dir: Optional[Path] = Field(None, description="where the reference runs and the fine-tuning frames "
                                                            "live (default: out_dir/md and out_dir/finetune)")
    learn: Optional[LearnSettings] = Field(None, description=(
        "per target, also run the source model learning on the fly (mlcalc md --learn), e.g. {reference: gfn2-xtb, "
        "max_calls: 100}: one run of finetune_steps (default md.steps) from the reference's start, scored beside "
        "the fine-tuning curve with the reference calls it took"))
    learn_replicas: int = Field(1, ge=1, description=(
        "replicas of each learning run (at most replicas): replica k from the reference's replica k start and seed, "
        "all in one TorchSim batch sharing the labelled frames and the committee; 2 or more give its h(r) the "
        "replica-noise verdict of the zero-shot runs"))

    _targets = field_validator("targets")(lambda v: [_check_molecule(m) for m in v])

    @field_validator("finetune")
    @classmethod
    def _frame_counts(cls, value: list[int]) -> list[int]:
        if any(k < 0 for k in value):
            raise ValueError(f"finetune frame counts must be 0 or more, got {value}")
        return sorted(set(value))

    @model_validator(mode="before")
    @classmethod
    def _engine_moved(cls, data: Any) -> Any:
        """``md_engine`` (before the engine was an MD setting) is ``md.engine``: model MD on 'ase', one run per
        worker, or 'torchsim', every molecule's model run in one TorchSim batch (reference runs stay on ASE)."""
        if isinstance(data, dict) and "md_engine" in data:
            data = dict(data)
            engine, md = data.pop("md_engine"), data.get("md")
            data["md"] = {**(md.model_dump() if isinstance(md, BaseModel) else md or {}), "engine": engine}
        return data

    @model_validator(mode="before")
    @classmethod
    def _dtype_moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("md"), dict) and "dtype" in data["md"]:
            raise ValueError("md.dtype is a setting of the model, not of MD: write dtype at the top level")
        return data

    @field_validator("compare")
    @classmethod
    def _selections(cls, value):
        names = [parse_selection(spec).name for spec in value]
        if len(set(names)) != len(names):
            raise ValueError(f"selection names must be unique, got {names}")
        return value

    def preoptimised(self, molecule: str) -> bool:
        """Whether the model's runs of ``molecule`` start from its pre-optimised geometry."""
        return self.preoptimise == "all" or (self.preoptimise == "targets" and molecule != self.source.molecule)

    @model_validator(mode="after")
    def _one_source(self):
        given = self.source.model is not None or self.source.train_config is not None
        if given and self.source_models:
            raise ValueError("give source.model (or source.train_config) or source_models, not both")
        if not given and not self.source_models:
            raise ValueError("give the source either a 'model' or a 'train_config', or list source_models")
        if len(set(self.source_models)) != len(self.source_models):
            raise ValueError(f"source_models repeat a model: {self.source_models}")
        return self

    @model_validator(mode="after")
    def _learn_replicas(self):
        if self.learn_replicas > 1 and self.learn is None:
            raise ValueError("learn_replicas needs learn (the on-the-fly settings); drop it or set learn")
        if self.learn_replicas > self.replicas:
            raise ValueError(f"learn_replicas ({self.learn_replicas}) cannot exceed replicas ({self.replicas}): the "
                             "learning replicas start where the reference's do")
        if self.learn_replicas > 1 and self.md.engine != "torchsim":
            raise ValueError("learn_replicas above 1 runs the replicas as one TorchSim batch: set md.engine torchsim")
        return self

    @model_validator(mode="after")
    def _finetune_needs_reference(self):
        if self.finetune and not self.reference:
            raise ValueError("finetune needs reference frames: set reference (e.g. gfn2-xtb) or drop finetune")
        return self

    @property
    def molecules(self) -> list[str]:
        """The source first, then the targets."""
        return [self.source.molecule, *[t for t in self.targets if t != self.source.molecule]]


def load_transfer_config(path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> TransferConfig:
    """Read and validate a transfer-study YAML; ``overrides`` (dotted keys) replace values."""
    return load_yaml_config(path, TransferConfig, overrides)
