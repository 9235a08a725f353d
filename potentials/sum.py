"""A potential that adds up the energies of its member potentials (``kind: sum``).

Use it for a baseline plus a learned correction (Δ-learning), or a short-range
network plus a longer-range term: forces and stress follow from the summed energy.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from mlcalc import keys as K
from mlcalc.model import CompositeModel, EnergyModel, register_kind

__all__ = ["SumPotential"]


@register_kind("sum")
class SumPotential(CompositeModel):
    """E = Σ_k E_k (eV) over energy-model ``members``; each member sees its own cutoff's edges."""

    family = "energy"
    properties = EnergyModel.properties

    def __init__(self, members: Sequence[Any]):
        super().__init__(members)
        others = [f"{m.kind} ({m.family})" for m in self.members if m.family != "energy"]
        if others:
            raise ValueError(f"a sum of potentials takes energy models only, got {', '.join(others)}")

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        energies = [member(self.member_inputs(inputs, member))[K.ENERGY] for member in self.members]
        return {K.ENERGY: torch.stack(energies).sum(0)}
