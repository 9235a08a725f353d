"""Validated training configuration (YAML at the edge; library code takes typed objects).

``load_config(path)`` reads YAML into :class:`TrainConfig`; unknown keys and bad values
raise a ``ValueError`` that names the field. Relative paths resolve against the
current directory. ``data.source`` picks the data: ``file`` (the default: labelled
structures for a force field), ``qm9`` (molecular properties for a property model),
``cif_folder`` or ``coremof`` (crystal properties for a property model). ``init_from``
(energy models on ``data.source: file``) starts from a saved model's weights, and its
``model`` section is the parent's (kind, cutoff, hyperparameters).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from mlcalc.data.molecules import MOLECULES
from mlcalc.md.settings import ReferenceSettings
from mlcalc.yaml_config import load_yaml_config

__all__ = ["TrainConfig", "DataConfig", "QM9DataConfig", "CifFolderDataConfig", "CoreMofDataConfig", "ModelConfig", "OptimConfig", "load_config",
           "DATA_SOURCES"]

#: values of ``data.source``
DATA_SOURCES = ("file", "qm9", "cif_folder", "coremof")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GenerateConfig(ReferenceSettings):
    """Reference data to generate with GFN2-xTB when the data file does not exist yet.

    The ``molecule`` and the reference MD settings (:class:`~mlcalc.md.settings.ReferenceSettings`:
    ``frames``, ``thermalise`` and ``interval`` in steps, ``temperature``, ``seed``, ``timestep``, ...).
    """

    molecule: str

    @model_validator(mode="after")
    def _known_molecule(self):
        if self.molecule not in MOLECULES and not Path(self.molecule).is_file():
            raise ValueError(f"molecule {self.molecule!r} is neither a shipped molecule ({', '.join(MOLECULES)}) nor a file")
        return self


class DataConfig(_Strict):
    """Labelled structures (energies and forces) from a file, for energy models."""

    source: Literal["file"] = "file"
    path: Path
    name: Optional[str] = None
    generate: Optional[GenerateConfig] = None
    train: Optional[int] = Field(None, gt=0, description="training frames (molecules with split: molecules); default: "
                                 "all the rest after val and test (test must then be given), for a set that grows")
    val: int = Field(gt=0, description="validation frames (molecules with split: molecules)")
    test: Optional[int] = Field(None, ge=0, description="test frames or molecules (default: all the rest)")
    split_seed: int = 0
    split: Literal["frames", "molecules"] = Field(
        "frames", description="frames: train/val/test count frames drawn at random; molecules (a frame folder, "
        "`mlcalc data broad`): they count molecules, and all frames of a molecule are in one split")
    parent_data: Optional[Path] = Field(
        None, description="split: molecules with init_from: the frame folder the parent trained on; its molecules "
        "are never validation or test molecules (they may train), so the test error is on molecules neither model "
        "saw")
    reference: Optional[Literal["gfn2-xtb", "gfn1-xtb"]] = Field(
        None, description="the method that labelled the data (default: the frames' 'reference' info, which "
        "`mlcalc data reference` writes, or gfn2-xtb with a generate section; else unknown)")
    atomref: Literal["auto", "least_squares", "isolated_atoms"] = Field(
        "auto", description="per-element reference energies: least squares on element counts, or the least-squares "
        "solution nearest to the reference method's isolated-atom energies; auto: least squares when the training "
        "compositions determine every element, else isolated atoms (mlcalc.atomref)")

    @model_validator(mode="after")
    def _one_split_is_the_rest(self):
        if self.train is None and self.test is None:
            raise ValueError("data: give train or test (the other is all the rest after val)")
        return self


def _extensive_field():
    """``data.extensive`` of the crystal sources: what it means and when to set it."""
    return Field(False, description="the target is a total over the cell that grows with its size (a total energy "
                 "per cell, a cell's mass): standardised per atom and predicted as N·(μ + σ·ẑ), so the network "
                 "learns a per-atom value (keep the default mean pooling); false: a per-cell or per-atom value that "
                 "does not grow with the cell (band gap, energy per atom, pore diameter)")


class _SplitFractions(_Strict):
    """Seeded train/val/test fractions of a data set drawn from a database (QM9, crystals; CGCNN: 80/10/10)."""

    train_fraction: float = Field(0.8, gt=0, lt=1)
    val_fraction: float = Field(0.1, gt=0, lt=1)
    test_fraction: Optional[float] = Field(None, gt=0, lt=1, description="default: the rest")
    split_seed: int = 0

    @model_validator(mode="after")
    def _fractions(self):
        total = self.train_fraction + self.val_fraction + (self.test_fraction or 0.0)
        if total > 1 + 1e-9 or (self.test_fraction is None and total >= 1):
            raise ValueError(f"train_fraction + val_fraction + test_fraction is {total:g}; it must leave a test set "
                             "and not exceed 1")
        return self


class QM9DataConfig(_SplitFractions):
    """QM9 molecules and labels (``targets``, units of :data:`mlcalc.data.qm9.QM9_UNITS`), for property models."""

    source: Literal["qm9"]
    targets: list[str] = Field(min_length=1)
    subset: Optional[int] = Field(None, gt=0, description="molecules drawn (seeded) from QM9; default: all")
    train_size: Optional[int] = Field(None, gt=0, description="train on the first N molecules of the training split "
                                      "only (learning curves; validation and test sets unchanged); default: all")

    @field_validator("targets")
    @classmethod
    def _known_targets(cls, targets: list[str]) -> list[str]:
        from mlcalc.data.qm9 import check_targets

        return check_targets(targets)


class CifFolderDataConfig(_SplitFractions):
    """A CGCNN data folder (``id_prop.csv`` + ``<id>.cif``, optional ``atom_init.json``), for property models."""

    source: Literal["cif_folder"]
    path: Path
    target: str = Field("target", description="name of the id_prop.csv value")
    unit: str = ""
    extensive: bool = _extensive_field()
    subset: Optional[int] = Field(None, gt=0, description="structures drawn (seeded) from the folder; default: all")

    @field_validator("target")
    @classmethod
    def _not_an_energy_model_property(cls, target: str) -> str:
        from mlcalc.model import check_property_targets

        check_property_targets([target], "data.target")
        return target

    @field_validator("path")
    @classmethod
    def _folder(cls, path: Path) -> Path:
        if not (path / "id_prop.csv").is_file():
            raise ValueError(f"{path} is not a CGCNN data folder (it needs id_prop.csv beside the <id>.cif files)")
        return path


class CoreMofDataConfig(_SplitFractions):
    """MOFs and one geometric property from the CoRE MOF database (``core-mof`` package), for property models."""

    source: Literal["coremof"]
    dataset: str = "2019-ASR"
    target: str = "LCD"
    extensive: bool = _extensive_field()
    subset: Optional[int] = Field(5000, gt=0, description="MOFs drawn with seed split_seed; None: all")
    max_atoms: Optional[int] = Field(None, gt=0, description="skip MOFs with more atoms per cell")

    @model_validator(mode="after")
    def _known(self):
        from mlcalc.data.coremof import check_coremof_target

        check_coremof_target(self.dataset, self.target)
        return self


def _data_source(value: Any) -> str:
    return value.get("source", "file") if isinstance(value, dict) else getattr(value, "source", "file")


class ModelConfig(_Strict):
    kind: str = "torchmdnet-et"
    cutoff: float = Field(5.0, gt=0, description="Å")
    hyperparameters: dict[str, Any] = Field(default_factory=dict)


class OptimConfig(_Strict):
    epochs: int = Field(100, gt=0)
    batch_size: int = Field(8, gt=0)
    optimizer: Literal["sgd", "adam", "adamw", "lamb"] = "adamw"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    lr_schedule: Literal["plateau", "cosine", "constant"] = "plateau"
    lr_warmup_steps: int = Field(0, ge=0)
    lr_factor: float = Field(0.8, gt=0, lt=1, description="plateau: multiply lr by this")
    lr_patience: int = Field(10, ge=0, description="plateau: epochs without improvement")
    lr_min: float = Field(1e-6, ge=0)
    energy_weight: float = Field(0.2, ge=0)
    force_weight: float = Field(0.8, ge=0)
    gradient_clip: Optional[float] = Field(None, gt=0)
    accumulate_grad_batches: int = Field(1, ge=1)
    amp: bool = False
    early_stopping_patience: Optional[int] = Field(None, gt=0)
    max_minutes: Optional[float] = Field(None, gt=0, description="wall-time budget for fitting")
    max_cpu_minutes: Optional[float] = Field(None, gt=0, description="CPU-time budget for fitting (this process, all "
                                                                     "threads; comparable on a shared machine)")
    loss: Literal["mse", "l1"] = Field("mse", description="property models: loss on standardised targets")
    epoch_frames: Optional[int] = Field(
        None, gt=0, description="energy models: frames drawn per epoch (a seeded random subset, another each epoch), "
        "so that a large data set validates, checkpoints and checks its CPU budget every epoch_frames frames rather "
        "than once per pass over every frame; default: every training frame once per epoch")
    shuffle: bool = Field(True, description="shuffle the training set every epoch; false: a fixed order, so that "
                                            "N DDP processes of batch_size b take the same samples per step as one "
                                            "process of batch_size N*b (Lightning's DistributedSampler interleaves)")

    @model_validator(mode="after")
    def _some_loss(self):
        if self.energy_weight == 0 and self.force_weight == 0:
            raise ValueError("energy_weight and force_weight cannot both be 0")
        return self


#: what the model section takes from an ``init_from`` parent's hyperparameters (the rest comes from the weights' file)
_NOT_FROM_PARENT = ("elements", "cutoff", "periodic", "energy_scale")


class TrainConfig(_Strict):
    name: str
    seed: int = 0
    init_from: Optional[str] = Field(
        None, description="a saved energy model (.mlc file or shipped name) to start from: its kind, cutoff, "
        "hyperparameters and weights (the model section is filled from it; leave it out), its atomrefs moved to the "
        "training frames' energy zero (a foundation model first to data.reference's free atoms); the manifest "
        "records the parent's sha256")
    data: Annotated[Union[Annotated[DataConfig, Tag("file")], Annotated[QM9DataConfig, Tag("qm9")],
                          Annotated[CifFolderDataConfig, Tag("cif_folder")], Annotated[CoreMofDataConfig, Tag("coremof")]],
                    Discriminator(_data_source, custom_error_type="data_source",
                                  custom_error_message=f"data.source must be one of {', '.join(DATA_SOURCES)}")]
    model: ModelConfig = ModelConfig()
    optim: OptimConfig = OptimConfig()
    out_dir: Path
    progress: bool = True

    @model_validator(mode="before")
    @classmethod
    def _model_of_parent(cls, data: Any) -> Any:
        """With ``init_from``, the model section is the parent's (a section given as well is refused)."""
        if not isinstance(data, dict) or data.get("init_from") is None:
            return data
        if "model" in data:
            raise ValueError("init_from takes the model's kind, cutoff and hyperparameters from the parent model; "
                             "leave out the model section (and --set model.*)")
        from mlcalc.modelfile import read_manifest
        from mlcalc.named_models import resolve_model_path

        try:
            manifest = read_manifest(resolve_model_path(str(data["init_from"])), verify=False)
        except (OSError, ValueError) as err:
            raise ValueError(f"init_from: {err}") from None
        hyper = {k: v for k, v in manifest["hyperparameters"].items() if k not in _NOT_FROM_PARENT}
        return {**data, "model": {"kind": manifest["kind"], "cutoff": manifest["cutoff"], "hyperparameters": hyper}}

    @model_validator(mode="after")
    def _model_fits_data(self):
        from mlcalc.model import CompositeModel, family_of, known_kinds, model_class

        kind = self.model.kind
        family = family_of(kind)  # a ValueError names the known kinds
        if issubclass(model_class(kind), CompositeModel) and self.init_from is not None:
            raise ValueError(f"init_from {self.init_from} is a {kind!r} model made of member models; start from one "
                             "of them (a single gradient-trained energy model)")
        if issubclass(model_class(kind), CompositeModel):
            raise ValueError(f"model.kind {kind!r} is made of member models: train each member, then combine them "
                             f"with mlcalc.model.create_model({kind!r}, members=[...]) and save_model")
        if self.data.source != "file" and family != "property":
            what = "QM9 properties need" if self.data.source == "qm9" else f"data.source {self.data.source} needs"
            raise ValueError(f"model.kind {kind!r} is an energy model; {what} one of "
                             f"{', '.join(known_kinds('property'))}")
        if self.data.source == "file" and family != "energy":
            raise ValueError(f"model.kind {kind!r} is a property model; it trains on data.source qm9, cif_folder "
                             "or coremof")
        if self.init_from is not None and self.data.source != "file":
            raise ValueError(f"init_from starts an energy model on data.source file, not {self.data.source}")
        if self.data.source == "file" and self.data.parent_data is not None and (
                self.data.split != "molecules" or self.init_from is None):
            raise ValueError("data.parent_data keeps a parent model's molecules out of validation and test; it needs "
                             "data.split: molecules and init_from")
        if self.data.source == "file" and self.optim.loss != "mse":
            raise ValueError("optim.loss applies to property models (data.source: qm9); force fields use "
                             "energy_weight and force_weight")
        return self


def load_config(path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read and validate a YAML training config; ``overrides`` (dotted keys) replace values."""
    return load_yaml_config(path, TrainConfig, overrides, union_tags={"data": DATA_SOURCES})
