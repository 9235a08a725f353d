"""Tiny seeded property models for tests (QM9 elements and units by default)."""

from __future__ import annotations

from typing import Sequence

import torch

from mlcalc.model import create_model

__all__ = ["TINY_PROPERTY_SIZES", "KERNEL_KINDS", "tiny_property_model", "small_molecules", "smooth_targets"]

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
    # kernel models are fitted (to :func:`smooth_targets` of small ASE molecules), not sized
    "krr": {"descriptor": {"name": "coulomb_matrix", "n_atoms_max": 29}, "kernel": "rbf"},
    "gp": {"descriptor": {"name": "coulomb_matrix", "n_atoms_max": 29}, "kernel": "rbf"},
}
KERNEL_KINDS = ("krr", "gp")


def small_molecules(elements: Sequence[int] = (1, 6, 7, 8, 9), max_atoms: int = 12) -> list:
    """ASE's G2 molecules with 2..max_atoms atoms, all of ``elements`` (deterministic order)."""
    from ase.build import molecule
    from ase.collections import g2

    found = [molecule(name) for name in g2.names]
    return [m for m in found if 2 <= len(m) <= max_atoms and set(m.numbers.tolist()) <= set(elements)]


def smooth_targets(structures: Sequence, n_targets: int, seed: int = 0):
    """Synthetic smooth targets [n, n_targets]: per-element sums plus the mean inverse distance (1/Å)."""
    import numpy as np
    from scipy.spatial.distance import pdist

    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(n_targets, 101))
    return np.array([[weights[t, a.numbers].sum() * 0.1 + np.mean(1.0 / pdist(a.positions)) for t in range(n_targets)]
                     for a in structures])


def tiny_property_model(kind: str = "schnet", targets: Sequence[str] = ("homo", "zpve"),
                        units: Sequence[str] | None = None, extensive: Sequence[bool] | None = None,
                        elements: Sequence[int] = (1, 6, 7, 8, 9), cutoff: float = 4.0, seed: int = 0):
    """A small randomly initialised property model with non-trivial standardisation.

    Defaults: eV for every target; ``zpve`` extensive, everything else intensive.
    The linear kind gets random weights so that its outputs are not all zero; kernel kinds
    (``krr``, ``gp``) are fitted to :func:`smooth_targets` of :func:`small_molecules`.
    """
    if kind not in TINY_PROPERTY_SIZES:
        raise ValueError(f"unknown property-model kind {kind!r}; choose from {', '.join(TINY_PROPERTY_SIZES)}")
    targets = list(targets)
    units = list(units) if units is not None else ["eV"] * len(targets)
    extensive = list(extensive) if extensive is not None else [t == "zpve" for t in targets]
    torch.manual_seed(seed)
    model = create_model(kind, elements=list(elements), targets=targets, units=units, extensive=extensive,
                         cutoff=cutoff if kind != "linear" else 0.5, **TINY_PROPERTY_SIZES[kind])
    if kind in KERNEL_KINDS:
        structures = small_molecules(elements)
        model.fit(structures, smooth_targets(structures, len(targets), seed), alpha=1e-6, cache=False, progress=False)
        return model
    model.set_standardisation([-6.0 + k for k in range(len(targets))], [0.5 + 0.1 * k for k in range(len(targets))])
    if kind == "linear":
        with torch.no_grad():
            for p in model.parameters():
                p.normal_()
    return model
