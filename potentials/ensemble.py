"""A committee of models of one family, predicting their mean (``kind: ensemble``).

Members are models of the same family trained with different seeds (``mlcalc train
CONFIG --seeds 5``). The model's own output is the mean over members (so forces of an
energy ensemble are the mean member forces, -d(mean E)/dr); MLCalc evaluates it with
the committee evaluator (:class:`mlcalc.committee.CommitteeEvaluator`), which adds the
members' spread to the results (``energy_var``, ``forces_var``, ``uncertainty``, ...).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from mlcalc.model import CompositeModel, EnergyModel, register_kind

__all__ = ["Ensemble"]


@register_kind("ensemble")
class Ensemble(CompositeModel):
    """Mean over ``members`` (at least two; one family, same targets for property models).

    ``family`` (per instance) and ``properties`` are the members'; property ensembles also
    carry the members' ``targets``.
    """

    # the class-level family the registry needs; each instance takes its members' family
    family = "energy"
    properties = EnergyModel.properties
    #: MLCalc evaluates ensembles with the committee evaluator (mlcalc.committee)
    evaluator_key = "committee"

    def __init__(self, members: Sequence[Any]):
        super().__init__(members)
        if len(self.members) < 2:
            raise ValueError(f"an ensemble needs at least two members, got {len(self.members)}")
        families = sorted({m.family for m in self.members})
        if len(families) > 1:
            raise ValueError(f"ensemble members must be of one family, got {', '.join(families)}")
        self.family = families[0]
        first = self.members[0]
        self.properties = dict(first.properties)
        if self.family == "property":
            different = [k for k, m in enumerate(self.members) if list(m.targets) != list(first.targets)]
            if different:
                raise ValueError(f"ensemble members must predict the same targets {list(first.targets)}; "
                                 f"members {different} differ")
            self.targets, self.units = list(first.targets), list(first.units)
            self.extensive = list(first.extensive)

    def evaluation_bytes(self, inputs: dict[str, torch.Tensor]) -> float:
        """The largest member's estimate: the committee evaluation runs (and frees) one member at a time."""
        return max(member.evaluation_bytes(inputs) for member in self.members)

    def member_outputs(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each member's outputs stacked on a new first axis, [n_members, n_graphs, ...]."""
        outs = [member.inference_module()(self.member_inputs(inputs, member)) for member in self.members]
        return {key: torch.stack([o[key] for o in outs]) for key in outs[0]}

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {key: values.mean(0) for key, values in self.member_outputs(inputs).items()}
