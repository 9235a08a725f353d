"""Tiny seeded property models for tests (QM9 elements and units by default)."""

from __future__ import annotations

from typing import Sequence

import torch

from mlcalc.model import create_model

__all__ = ["TINY_PROPERTY_SIZES", "tiny_property_model"]

#: small hyperparameters per property-model kind
TINY_PROPERTY_SIZES = {
    "schnet": {"hidden_channels": 16, "num_filters": 16, "num_interactions": 2, "num_gaussians": 12},
    "physnet": {"features": 16, "num_basis": 8, "num_modules": 2, "residual_interaction": 1},
    "mpnn": {"hidden_channels": 8, "num_steps": 2, "num_gaussians": 8, "edge_hidden": 16, "set2set_steps": 2},
    "mpnn-transformer": {"hidden_channels": 8, "num_steps": 2, "num_gaussians": 8, "edge_hidden": 16,
                         "set2set_steps": 2, "num_heads": 2},
    "gnn": {"hidden_channels": 16, "num_layers": 2, "num_gaussians": 8},
    "linear": {},
    # CGCNN is periodic by default; the tiny one takes molecules too (a cell is then not needed)
    "cgcnn": {"atom_fea_len": 8, "h_fea_len": 12, "n_conv": 2, "periodic": False},
}


def tiny_property_model(kind: str = "schnet", targets: Sequence[str] = ("homo", "zpve"),
                        units: Sequence[str] | None = None, extensive: Sequence[bool] | None = None,
                        elements: Sequence[int] = (1, 6, 7, 8, 9), cutoff: float = 4.0, seed: int = 0):
    """A small randomly initialised property model with non-trivial standardisation.

    Defaults: eV for every target; ``zpve`` extensive, everything else intensive.
    The linear kind gets random weights so that its outputs are not all zero.
    """
    if kind not in TINY_PROPERTY_SIZES:
        raise ValueError(f"unknown property-model kind {kind!r}; choose from {', '.join(TINY_PROPERTY_SIZES)}")
    targets = list(targets)
    units = list(units) if units is not None else ["eV"] * len(targets)
    extensive = list(extensive) if extensive is not None else [t == "zpve" for t in targets]
    torch.manual_seed(seed)
    model = create_model(kind, elements=list(elements), targets=targets, units=units, extensive=extensive,
                         cutoff=cutoff if kind != "linear" else 0.5, **TINY_PROPERTY_SIZES[kind])
    model.set_standardisation([-6.0 + k for k in range(len(targets))], [0.5 + 0.1 * k for k in range(len(targets))])
    if kind == "linear":
        with torch.no_grad():
            for p in model.parameters():
                p.normal_()
    return model
