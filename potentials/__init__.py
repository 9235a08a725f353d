"""Models behind the common :class:`~mlcalc.potentials.base.AtomisticModel` interface.

``MODEL_KINDS`` maps the ``kind`` stored in a model file to its class;
:func:`create_model` builds one from that kind and its hyperparameters.
"""

from __future__ import annotations

from typing import Any

from .base import AtomisticModel, EnergyModel
from .torchmdnet import ETPotential, TensorNetPotential

__all__ = ["AtomisticModel", "EnergyModel", "ETPotential", "TensorNetPotential", "MODEL_KINDS", "create_model"]

MODEL_KINDS: dict[str, type[AtomisticModel]] = {cls.kind: cls for cls in (ETPotential, TensorNetPotential)}


def create_model(kind: str, **hyperparameters: Any) -> AtomisticModel:
    """A new model of ``kind`` (see ``MODEL_KINDS``) with the given hyperparameters."""
    try:
        cls = MODEL_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown model kind {kind!r}; known kinds: {', '.join(sorted(MODEL_KINDS))}") from None
    try:
        return cls(**hyperparameters)
    except TypeError as err:
        raise ValueError(f"bad hyperparameters for {kind!r}: {err}") from None
