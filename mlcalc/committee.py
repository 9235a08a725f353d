"""How MLCalc evaluates an ensemble (a committee of models): the mean, the members' spread and their predictions.

The members are evaluated on the same batch of graphs (built once): an energy committee
by :func:`mlcalc.evaluation.evaluate_inputs` (the evaluation the TorchSim model shares), a
property committee by each member's family evaluator; the results are the mean over members plus, with the key names MACE's committee
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
from ase.stress import full_3x3_to_voigt_6_stress

from mlcalc.evaluation import evaluate_inputs
from mlcalc.evaluators import Evaluator, evaluator_for, register_evaluator

__all__ = ["CommitteeEvaluator", "ENERGY_SPREAD_KEYS"]

#: results an energy committee adds to those of its members, with their units
ENERGY_SPREAD_KEYS = {"energy_var": "eV^2", "forces_var": "eV^2/Å^2", "stress_var": "eV^2/Å^6",
                      "energy_comm": "eV", "forces_comm": "eV/Å", "uncertainty": "eV/Å"}


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

    def _energy(self, inputs: dict[str, torch.Tensor], properties: Sequence[str]) -> dict[str, np.ndarray]:
        """The core evaluation's mean and spread as float64 arrays, stress (and its variance) in Voigt order."""
        out = {key: value.to("cpu", torch.float64).numpy()
               for key, value in evaluate_inputs(self.model, inputs, bool(self._base_properties(properties))).items()}
        for key in ("stress", "stress_var"):
            if key in out:
                out[key] = np.array([full_3x3_to_voigt_6_stress(s) for s in out[key]]).reshape(-1, 6)
        return out

    # -- one structure -------------------------------------------------------------------------
    def results(self, inputs: dict[str, torch.Tensor], properties: Sequence[str]) -> dict[str, Any]:
        if self.family != "energy":
            per = self._each("results", inputs, properties)
            out = {}
            for name in self.members[0].properties:
                values = np.array([p[name] for p in per])
                out[name], out[f"{name}_var"] = float(values.mean()), float(values.var())
            return out
        out = self._energy(inputs, properties)
        results = {"energy": float(out["energy"][0]), "free_energy": float(out["energy"][0]), "forces": out["forces"],
                   "energy_var": float(out["energy_var"][0]), "forces_var": out["forces_var"],
                   "energy_comm": out["energy_comm"][:, 0], "forces_comm": out["forces_comm"],
                   "uncertainty": float(out["uncertainty"][0])}
        if "stress" in out:
            results["stress"], results["stress_var"] = out["stress"][0], out["stress_var"][0]
        return results

    # -- many structures -----------------------------------------------------------------------
    def batch(self, inputs: dict[str, torch.Tensor], sizes: Sequence[int], properties: Sequence[str]) -> dict:
        if self.family != "energy":
            per = self._each("batch", inputs, sizes, properties)
            out = {}
            for name in self.members[0].properties:
                values = np.stack([p[name] for p in per])
                out[name], out[f"{name}_var"] = values.mean(axis=0), values.var(axis=0)
            return out
        out = self._energy(inputs, properties)
        split = np.cumsum(sizes)[:-1]
        chunk = {"energy": out["energy"], "energy_var": out["energy_var"], "forces": np.split(out["forces"], split),
                 "forces_var": np.split(out["forces_var"], split), "uncertainty": out["uncertainty"]}
        if "stress" in out:
            chunk["stress"], chunk["stress_var"] = out["stress"], out["stress_var"]
        return chunk

    def merge(self, chunks: list[dict], properties: Sequence[str]) -> dict[str, Any]:
        if not chunks:
            return self.members[0].merge([], properties)
        return {key: [x for c in chunks for x in c[key]] if isinstance(chunks[0][key], list)
                else np.concatenate([c[key] for c in chunks]) for key in chunks[0]}
