"""The hyperparameter-search config (``mlcalc tune CONFIG``), validated once at the edge.

A search tunes one training config (``train``: any :class:`~mlcalc.potentials.training.config.TrainConfig` YAML:
a force field, a QM9 property model) over a ``space`` of dotted config keys, each a range
(``{low, high}``, ``log: true`` for a log scale; integers when both ends are integers) or a
list of ``choices``. Without ``space`` the paper's table 1 is searched (:data:`PAPER_SPACE`).
Model hyperparameters are keys like ``model.hyperparameters.features``.

Evaluators (DeepHyper's, ``evaluator`` or ``mlcalc tune --evaluator``): ``process`` (default:
``workers`` local worker processes), ``thread``, ``loky``; ``ray`` (``pip install 'mlcalc[cluster]'``):
the trials as Ray tasks of ``cpus_per_trial`` CPUs each, on the Ray cluster at ``ray_address``
(e.g. ``auto`` on a node of a cluster started with ``ray start``), or without an address on a
Ray started locally with ``workers × cpus_per_trial`` CPUs; ``mpicomm`` (``mpi4py`` and an MPI
library): rank 0 searches and the other ranks run trials, started as
``mpirun -np <workers + 1> mlcalc tune CONFIG --evaluator mpicomm`` (untested: with PyPI's MPICH
wheels it aborted or hung here; docs/RESULTS.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlcalc.yaml_config import load_yaml_config

__all__ = ["TuneConfig", "ParamRange", "ParamChoices", "PAPER_SPACE", "load_tune_config", "METHODS", "EVALUATORS"]

METHODS = ("cbo", "random")
EVALUATORS = ("process", "thread", "loky", "ray", "mpicomm")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParamRange(_Strict):
    """Values from ``low`` to ``high`` (integers when both are integers), uniform or ``log``-uniform."""

    low: Union[int, float]
    high: Union[int, float]
    log: bool = False

    @model_validator(mode="after")
    def _order(self):
        if not self.low < self.high:
            raise ValueError(f"low must be below high, got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log scale needs low > 0, got {self.low}")
        return self

    @property
    def integer(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)


class ParamChoices(_Strict):
    """One of ``choices`` (strings, numbers or true/false)."""

    choices: list[Union[bool, int, float, str]] = Field(min_length=2)


#: the paper's table 1: the optimiser settings searched by default
PAPER_SPACE: dict[str, Union[ParamRange, ParamChoices]] = {
    "optim.accumulate_grad_batches": ParamRange(low=1, high=20, log=True),
    "optim.amp": ParamChoices(choices=[True, False]),
    "optim.batch_size": ParamRange(low=128, high=512),
    "optim.epochs": ParamRange(low=10, high=100, log=True),
    "optim.gradient_clip": ParamRange(low=1e-5, high=2.0, log=True),
    "optim.lr": ParamRange(low=1e-3, high=1.0, log=True),
    "optim.optimizer": ParamChoices(choices=["sgd", "adam", "adamw", "lamb"]),
    "optim.weight_decay": ParamRange(low=2e-6, high=0.02, log=True),
}


class TuneConfig(_Strict):
    """A search: ``max_evals`` trials of ``train`` (with ``overrides``) over ``space``, into ``out_dir``.

    ``method``: ``cbo`` (DeepHyper's centralized Bayesian optimisation, random-forest surrogate,
    UCB acquisition with ``kappa``, after ``initial_points`` random trials) or ``random``.
    The objective is minus the validation MAE ``objective`` (a key of the trained model's
    validation metrics; default: the force MAE of a force field, the first target's MAE of a
    property model). ``trial_minutes`` caps each trial's fitting (``optim.max_minutes``).
    """

    train: Path
    overrides: dict[str, Any] = Field(default_factory=dict)
    space: Optional[dict[str, Union[ParamRange, ParamChoices]]] = None
    method: Literal["cbo", "random"] = "cbo"
    max_evals: int = Field(20, ge=1)
    workers: int = Field(1, ge=1)
    evaluator: Literal["process", "thread", "loky", "ray", "mpicomm"] = "process"
    ray_address: Optional[str] = Field(None, description="evaluator ray: the cluster to join ('auto': the one "
                                                         "this node belongs to); none: start Ray locally")
    cpus_per_trial: float = Field(1.0, gt=0, description="evaluator ray: CPUs Ray reserves for each trial "
                                                         "(also its torch threads)")
    seed: int = Field(0, ge=0)
    initial_points: int = Field(5, ge=1)
    kappa: float = Field(1.96, ge=0)
    objective: Optional[str] = None
    trial_minutes: Optional[float] = Field(None, gt=0)
    out_dir: Path

    @model_validator(mode="after")
    def _train_exists(self):
        if not self.train.is_file():
            raise ValueError(f"train: training config not found: {self.train}")
        return self

    @model_validator(mode="after")
    def _space_not_empty(self):
        if self.space is not None and not self.space:
            raise ValueError("space is empty: every trial would be the same training; name at least one dotted "
                             "training-config key (e.g. optim.lr: {low: 1e-4, high: 1e-2, log: true}) or leave space "
                             f"out to search the paper's table 1 ({', '.join(PAPER_SPACE)})")
        return self

    @property
    def search_space(self) -> dict[str, Union[ParamRange, ParamChoices]]:
        return dict(self.space) if self.space is not None else dict(PAPER_SPACE)


def load_tune_config(path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> TuneConfig:
    """Read and validate a search config (YAML); ``overrides`` (dotted keys) replace values."""
    return load_yaml_config(path, TuneConfig, overrides)
