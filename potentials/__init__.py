"""Models behind the common :class:`~mlcalc.potentials.base.AtomisticModel` interface: energy models
(TorchMD-NET) and property models (SchNet, PhysNet, MPNN, MPNN-transformer, GNN and linear baselines).

``MODEL_KINDS`` maps the ``kind`` stored in a model file to its class;
:func:`create_model` builds one from that kind and its hyperparameters.
"""

from __future__ import annotations

from typing import Any

from .base import AtomisticModel, EnergyModel, PropertyModel
from .gnn import GNNModel
from .linear import LinearCountsModel
from .mpnn import MPNNModel
from .mpnn_transformer import MPNNTransformerModel
from .physnet import PhysNetModel
from .schnet import SchNetModel
from .torchmdnet import ETPotential, TensorNetPotential

__all__ = ["AtomisticModel", "EnergyModel", "PropertyModel", "ETPotential", "TensorNetPotential", "SchNetModel",
           "PhysNetModel", "MPNNModel", "MPNNTransformerModel", "GNNModel", "LinearCountsModel", "MODEL_KINDS",
           "PROPERTY_KINDS", "create_model"]

MODEL_KINDS: dict[str, type[AtomisticModel]] = {cls.kind: cls for cls in (
    ETPotential, TensorNetPotential, SchNetModel, PhysNetModel, MPNNModel, MPNNTransformerModel, GNNModel,
    LinearCountsModel)}
#: the kinds that predict per-structure properties (the rest are energy models)
PROPERTY_KINDS = sorted(kind for kind, cls in MODEL_KINDS.items() if issubclass(cls, PropertyModel))


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
