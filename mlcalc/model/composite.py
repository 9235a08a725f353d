"""Models made of member models, each with its own kind, hyperparameters and weights.

A composite is stored like any model: its hyperparameters list the members
(``{"members": [{"kind": ..., "hyperparameters": {...}}, ...]}``) and its weights
sit under ``members.<k>.`` in the same file, so one registry lookup per member
rebuilds it. Concrete kinds (a sum of potentials; a committee) say how the
members' outputs combine.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from mlcalc import keys as K
from mlcalc.model.base import AtomisticModel
from mlcalc.model.registry import model_from_spec

__all__ = ["CompositeModel", "member_spec"]


def member_spec(model: AtomisticModel) -> dict[str, Any]:
    """What a model file stores to rebuild ``model``: its kind and hyperparameters."""
    return {"kind": model.kind, "hyperparameters": model.hyperparameters()}


def _build_member(spec: Any, k: int) -> AtomisticModel:
    if isinstance(spec, AtomisticModel):
        return spec
    if not isinstance(spec, dict) or set(spec) != {"kind", "hyperparameters"}:
        raise ValueError(f"member {k} must be a model or a mapping with exactly 'kind' and 'hyperparameters', "
                         f"got {spec!r:.200}")
    if not isinstance(spec["hyperparameters"], dict):
        raise ValueError(f"member {k}: hyperparameters must be a mapping, got {type(spec['hyperparameters']).__name__}")
    return model_from_spec(spec)


class CompositeModel(AtomisticModel):
    """Base of models made of ``members`` (models, or ``{"kind", "hyperparameters"}`` mappings).

    ``elements`` are those every member knows, ``cutoff`` (Å) the largest member
    cutoff, ``periodic`` whether any member is periodic. Each member sees only the
    edges within its own cutoff (:meth:`member_inputs`).
    """

    def __init__(self, members: Sequence[Any]):
        built = [_build_member(spec, k) for k, spec in enumerate(members)]
        if not built:
            raise ValueError("a composite model needs at least one member")
        shared = set.intersection(*(set(m.elements) for m in built))
        if not shared:
            raise ValueError("the members share no element: " + "; ".join(f"{m.kind}: {m.elements}" for m in built))
        super().__init__(sorted(shared), max(m.cutoff for m in built), any(m.periodic for m in built))
        self.members = nn.ModuleList(built)

    def hyperparameters(self) -> dict[str, Any]:
        return {"members": [member_spec(m) for m in self.members]}

    def member_inputs(self, inputs: dict[str, torch.Tensor], member: AtomisticModel) -> dict[str, torch.Tensor]:
        """``inputs`` with only the edges shorter than ``member.cutoff`` (all of them if it is the largest)."""
        if member.cutoff >= self.cutoff or K.EDGE_INDEX not in inputs:
            return inputs
        from mlcalc.graph import edge_vectors

        vectors = edge_vectors(inputs[K.POSITIONS], inputs[K.CELL], inputs[K.BATCH], inputs[K.EDGE_INDEX],
                               inputs[K.EDGE_SHIFTS])
        keep = torch.linalg.vector_norm(vectors.detach(), dim=1) < member.cutoff
        return {**inputs, K.EDGE_INDEX: inputs[K.EDGE_INDEX][:, keep], K.EDGE_SHIFTS: inputs[K.EDGE_SHIFTS][keep]}

    def evaluation_bytes(self, inputs: dict[str, torch.Tensor]) -> float:
        """The members' estimates summed (each member is given every edge: an upper bound)."""
        return sum(member.evaluation_bytes(inputs) for member in self.members)

    def evaluated_graph(self, inputs: dict[str, torch.Tensor]) -> tuple[int, int]:
        """The largest of the members' graphs (atoms, edges)."""
        graphs = [member.evaluated_graph(inputs) for member in self.members]
        return max(g[0] for g in graphs), max(g[1] for g in graphs)
