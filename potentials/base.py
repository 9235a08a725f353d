"""The interface every mlcalc model implements, and the energy-model base with atomrefs.

A model maps a batch dict (fields named in :mod:`mlcalc.keys`) to a dict of
per-structure outputs. It can describe itself (``kind`` + ``hyperparameters()``)
so that a model file can rebuild it without executing code from the file.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import torch
from torch import nn

from mlcalc import keys as K

__all__ = ["AtomisticModel", "EnergyModel"]


class AtomisticModel(nn.Module):
    """Base of all models: ``forward(inputs) -> {property: tensor [n_graphs, ...]}``.

    ``elements``: atomic numbers seen in training; ``cutoff``: neighbor radius in Å;
    ``periodic``: whether the model describes periodic systems (needs a cell).
    """

    kind: ClassVar[str] = ""
    #: output name -> {"unit": ..., "per": "structure" | "atom"}
    properties: ClassVar[dict[str, dict[str, str]]] = {}

    def __init__(self, elements: Sequence[int], cutoff: float, periodic: bool = False):
        super().__init__()
        if not elements:
            raise ValueError("a model needs the list of elements (atomic numbers) it is trained on")
        if cutoff <= 0:
            raise ValueError(f"cutoff must be positive (Å), got {cutoff}")
        self.elements = sorted(int(z) for z in elements)
        self.cutoff = float(cutoff)
        self.periodic = bool(periodic)

    def hyperparameters(self) -> dict[str, Any]:
        """JSON-serialisable constructor arguments: ``type(self)(**hyperparameters())`` rebuilds it."""
        return {"elements": self.elements, "cutoff": self.cutoff, "periodic": self.periodic}

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError


class EnergyModel(AtomisticModel):
    """A potential: E = Σ_i (scale · ε_i + atomref[z_i]) in eV, ε_i from :meth:`atomic_outputs`.

    ``atomref`` (eV per element, fitted on training data) carries the large
    per-element part of total energies; ``energy_scale`` (eV) makes ε_i order one.
    """

    properties = {
        K.ENERGY: {"unit": "eV", "per": "structure"},
        K.FORCES: {"unit": "eV/Å", "per": "atom"},
        K.STRESS: {"unit": "eV/Å^3", "per": "structure"},
    }
    max_z: ClassVar[int] = 100

    def __init__(self, elements: Sequence[int], cutoff: float, periodic: bool = False, energy_scale: float = 1.0):
        super().__init__(elements, cutoff, periodic)
        self.energy_scale = float(energy_scale)
        self.register_buffer("atomref", torch.zeros(self.max_z + 1))

    def hyperparameters(self) -> dict[str, Any]:
        return {**super().hyperparameters(), "energy_scale": self.energy_scale}

    def set_atomref(self, atomref: dict[int, float]) -> None:
        """Per-element reference energies in eV (missing elements: 0)."""
        values = torch.zeros_like(self.atomref)
        for z, e in atomref.items():
            values[int(z)] = float(e)
        self.atomref.copy_(values)

    def atomic_outputs(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:  # pragma: no cover - abstract
        """Dimensionless per-atom energies ε_i, [n_atoms]."""
        raise NotImplementedError

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        z, batch = inputs[K.Z], inputs[K.BATCH]
        atomic = self.energy_scale * self.atomic_outputs(inputs) + self.atomref[z].to(inputs[K.POSITIONS].dtype)
        n_graphs = inputs[K.CELL].shape[0]
        energy = torch.zeros(n_graphs, dtype=atomic.dtype, device=atomic.device).index_add(0, batch, atomic)
        return {K.ENERGY: energy}
