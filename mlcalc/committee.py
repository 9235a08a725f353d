"""How MLCalc evaluates an ensemble (a committee of models): the mean, the members' spread and their predictions.

Each member is evaluated by its family's evaluator on the same batch of graphs (built
once); the results are the mean over members plus, with the key names MACE's committee
calculator uses (variances over members, ``ddof=0``):

- energy models: ``energy``, ``free_energy``, ``forces``, ``stress`` (means);
  ``energy_var`` (eV²), ``forces_var`` [n_atoms, 3] (eV²/Å²), ``stress_var`` [6] (eV²/Å⁶);
  ``energy_comm`` [n_members] and ``forces_comm`` [n_members, n_atoms, 3] (each member's
  prediction); ``uncertainty`` (eV/Å): the mean over atoms of the norm of the per-atom
  force standard deviation, mean_i sqrt(Σ_xyz Var(F_i)), as SchNetPack's ensemble calculator.
- property models: each target (mean) and ``<target>_var`` in the target's unit squared.

:meth:`CommitteeEvaluator.batch` (``MLCalc.predict``) gives the means, the variances and
``uncertainty``, without the per-member ``_comm`` arrays.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from ase import Atoms

from mlcalc.evaluators import Evaluator, evaluator_for, register_evaluator

__all__ = ["CommitteeEvaluator", "force_uncertainty", "ENERGY_SPREAD_KEYS"]

#: results an energy committee adds to those of its members, with their units
ENERGY_SPREAD_KEYS = {"energy_var": "eV^2", "forces_var": "eV^2/Å^2", "stress_var": "eV^2/Å^6",
                      "energy_comm": "eV", "forces_comm": "eV/Å", "uncertainty": "eV/Å"}


def force_uncertainty(forces_var: np.ndarray) -> float:
    """Mean over atoms of the norm of the force standard deviation, eV/Å, from ``forces_var`` [n_atoms, 3]."""
    return float(np.sqrt(np.asarray(forces_var).sum(axis=1)).mean()) if len(forces_var) else 0.0


def _unit_squared(unit: str) -> str:
    return f"({unit})^2" if "/" in unit else f"{unit}^2"


@register_evaluator
class CommitteeEvaluator(Evaluator):
    """Evaluates ``model.members`` (an :class:`~mlcalc.potentials.ensemble.Ensemble`) and their spread.

    ``family`` is the members' family ("energy" or "property"), so MLCalc treats the
    ensemble like one of its members.
    """

    family = "committee"

    def __init__(self, model: torch.nn.Module):
        super().__init__(model)
        self.members = [evaluator_for(member) for member in model.members]
        base = self.members[0]
        self.family = model.family
        if self.family == "energy":
            self.properties = list(base.properties) + list(ENERGY_SPREAD_KEYS)
            self.units = {**base.units, **ENERGY_SPREAD_KEYS}
        else:
            self.properties = list(base.properties) + [f"{t}_var" for t in base.properties]
            self.units = {**base.units, **{f"{t}_var": _unit_squared(u) for t, u in base.units.items()}}

    def _base_properties(self, properties: Sequence[str]) -> list[str]:
        return ["stress"] if {"stress", "stress_var"} & set(properties) else []

    def check(self, properties: Sequence[str], structures: Sequence[Atoms], single: bool = False) -> None:
        self.members[0].check(self._base_properties(properties) if self.family == "energy" else properties,
                              structures, single)

    def _each(self, method: str, inputs: dict[str, torch.Tensor], *args) -> list[dict]:
        """``method`` of each member's evaluator on the member's view of ``inputs``."""
        return [getattr(ev, method)(self.model.member_inputs(inputs, member), *args)
                for ev, member in zip(self.members, self.model.members)]

    # -- one structure -------------------------------------------------------------------------
    def results(self, inputs: dict[str, torch.Tensor], properties: Sequence[str]) -> dict[str, Any]:
        if self.family != "energy":
            per = self._each("results", inputs, properties)
            out = {}
            for name in self.members[0].properties:
                values = np.array([p[name] for p in per])
                out[name], out[f"{name}_var"] = float(values.mean()), float(values.var())
            return out
        per = self._each("results", inputs, self._base_properties(properties))
        energies = np.array([p["energy"] for p in per])
        forces = np.stack([p["forces"] for p in per])
        forces_var = forces.var(axis=0)
        out = {"energy": float(energies.mean()), "free_energy": float(energies.mean()), "forces": forces.mean(axis=0),
               "energy_var": float(energies.var()), "forces_var": forces_var, "energy_comm": energies,
               "forces_comm": forces, "uncertainty": force_uncertainty(forces_var)}
        if "stress" in per[0]:
            stress = np.stack([p["stress"] for p in per])
            out["stress"], out["stress_var"] = stress.mean(axis=0), stress.var(axis=0)
        return out

    # -- many structures -----------------------------------------------------------------------
    def batch(self, inputs: dict[str, torch.Tensor], sizes: Sequence[int], properties: Sequence[str]) -> dict:
        if self.family != "energy":
            per = self._each("batch", inputs, sizes, properties)
            out = {}
            for name in self.members[0].properties:
                values = np.stack([p[name] for p in per])
                out[name], out[f"{name}_var"] = values.mean(axis=0), values.var(axis=0)
            return out
        per = self._each("batch", inputs, sizes, self._base_properties(properties))
        energies = np.stack([p["energy"] for p in per])
        forces = [np.stack(member_forces) for member_forces in zip(*(p["forces"] for p in per))]
        forces_var = [f.var(axis=0) for f in forces]
        out = {"energy": energies.mean(axis=0), "energy_var": energies.var(axis=0),
               "forces": [f.mean(axis=0) for f in forces], "forces_var": forces_var,
               "uncertainty": np.array([force_uncertainty(v) for v in forces_var])}
        if "stress" in per[0]:
            stress = np.stack([p["stress"] for p in per])
            out["stress"], out["stress_var"] = stress.mean(axis=0), stress.var(axis=0)
        return out

    def merge(self, chunks: list[dict], properties: Sequence[str]) -> dict[str, Any]:
        if not chunks:
            return self.members[0].merge([], properties)
        return {key: [x for c in chunks for x in c[key]] if isinstance(chunks[0][key], list)
                else np.concatenate([c[key] for c in chunks]) for key in chunks[0]}
