"""How MLCalc evaluates a model: one evaluator per model family, chosen by ``model.family``.

An evaluator turns model inputs (a batch of graphs, fields of :mod:`mlcalc.keys`) into
ASE results for one structure (:meth:`Evaluator.results`) or arrays for many
(:meth:`Evaluator.batch`, merged by :meth:`Evaluator.merge`). A new family (a
committee of models, say) adds an evaluator with :func:`register_evaluator`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError
from ase.stress import full_3x3_to_voigt_6_stress

from mlcalc import keys as K
from mlcalc.evaluation import check_evaluation_memory, check_plausible_properties, evaluate_inputs

__all__ = ["Evaluator", "EnergyEvaluator", "PropertyEvaluator", "register_evaluator", "evaluator_for",
           "NonFinitePredictionError", "check_finite"]

_EVALUATORS: dict[str, type["Evaluator"]] = {}
#: evaluators that live in their own core module, imported on first use
_EVALUATOR_MODULES = {"committee": "mlcalc.committee"}


def register_evaluator(cls: type["Evaluator"]) -> type["Evaluator"]:
    """Class decorator: evaluate models whose ``family`` is ``cls.family`` with ``cls``."""
    _EVALUATORS[cls.family] = cls
    return cls


def evaluator_for(model: torch.nn.Module) -> "Evaluator":
    """The evaluator of ``model``'s family (or of its ``evaluator_key``, e.g. an ensemble's "committee");
    a ValueError names the families that have one."""
    family = getattr(model, "evaluator_key", None) or getattr(model, "family", "")
    if family in _EVALUATOR_MODULES and family not in _EVALUATORS:
        import importlib

        importlib.import_module(_EVALUATOR_MODULES[family])
    if family not in _EVALUATORS:
        raise ValueError(f"no evaluator for model family {family!r} ({type(model).__name__}); "
                         f"known families: {', '.join(sorted(_EVALUATORS))}")
    return _EVALUATORS[family](model)


class NonFinitePredictionError(ValueError):
    """A model gave NaN or infinite results for a structure."""


def check_finite(results: dict[str, Any], structures: Sequence[Atoms], first: int = 0, single: bool = False) -> None:
    """Raise :class:`NonFinitePredictionError` naming the first structure with a NaN/inf result.

    ``results``: one structure's ASE results (``single``) or a :meth:`Evaluator.batch` chunk
    for ``structures``, the first of which is structure number ``first`` of the call.
    """
    for k, atoms in enumerate(structures):
        bad = [name for name, values in results.items()
               if not np.isfinite(np.asarray(values if single else values[k], dtype=np.float64)).all()]
        if bad:
            which = "the structure" if single else f"structure {first + k}"
            raise NonFinitePredictionError(
                f"the model gave NaN or infinite {', '.join(bad)} for {which} ({atoms.get_chemical_formula()}, "
                f"{len(atoms)} atoms): it cannot describe it (atoms far outside its training data?)")


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float64).numpy()


class Evaluator:
    """Base: ``properties`` the family gives (ASE names) with their ``units``."""

    family: ClassVar[str] = ""
    #: ASE property names this evaluator gives, and their units
    properties: list[str] = []
    units: dict[str, str] = {}

    def __init__(self, model: torch.nn.Module):
        self.model = model

    def check(self, properties: Sequence[str], structures: Sequence[Atoms], single: bool = False) -> None:
        """Raise if ``properties`` cannot be had for ``structures`` (before any work is done).

        ``single``: one structure through ASE's ``calculate`` (PropertyNotImplementedError
        for a property it lacks); otherwise a batch (ValueError naming the structures).
        """

    def results(self, inputs: dict[str, torch.Tensor], properties: Sequence[str]) -> dict[str, Any]:  # pragma: no cover
        """ASE results of one structure."""
        raise NotImplementedError

    def batch(self, inputs: dict[str, torch.Tensor], sizes: Sequence[int], properties: Sequence[str]) -> dict:
        """Results of several structures (``sizes``: atoms per structure)."""
        raise NotImplementedError  # pragma: no cover

    def merge(self, chunks: list[dict], properties: Sequence[str]) -> dict[str, Any]:  # pragma: no cover
        """One result from the :meth:`batch` results of consecutive chunks."""
        raise NotImplementedError


@register_evaluator
class EnergyEvaluator(Evaluator):
    """Energy models: energy (eV), forces (eV/Å, -dE/dr) and stress (eV/Å³, periodic systems) by autograd."""

    family = "energy"
    properties = ["energy", "free_energy", "forces", "stress"]
    units = {"energy": "eV", "free_energy": "eV", "forces": "eV/Å", "stress": "eV/Å^3"}

    def __init__(self, model: torch.nn.Module):
        super().__init__(model)
        # per-structure outputs a model declares beyond the energy (a Gaussian process's ``energy_std``)
        self.extras = list(getattr(model, "extra_outputs", ()))
        self.properties = type(self).properties + self.extras
        self.units = {**type(self).units, **{name: model.properties[name]["unit"] for name in self.extras}}

    def check(self, properties: Sequence[str], structures: Sequence[Atoms], single: bool = False) -> None:
        if "stress" not in properties:
            return
        flat = [k for k, atoms in enumerate(structures) if not atoms.pbc.all()]
        if single and flat:
            raise PropertyNotImplementedError("stress needs a system periodic in all three directions with a cell")
        if flat:
            raise ValueError(f"stress asked for, but structures {flat[:10]} are not periodic in 3D")

    def _evaluate(self, inputs: dict[str, torch.Tensor], stress: bool) -> dict[str, np.ndarray]:
        return {key: _numpy(value) for key, value in evaluate_inputs(self.model, inputs, stress).items()}

    def results(self, inputs: dict[str, torch.Tensor], properties: Sequence[str]) -> dict[str, Any]:
        out = self._evaluate(inputs, stress="stress" in properties)
        energy = float(out[K.ENERGY][0])
        results = {"energy": energy, "free_energy": energy, "forces": out[K.FORCES]}
        if K.STRESS in out:
            results["stress"] = full_3x3_to_voigt_6_stress(out[K.STRESS][0])
        results.update({name: float(out[name][0]) for name in self.extras})
        return results

    def batch(self, inputs: dict[str, torch.Tensor], sizes: Sequence[int], properties: Sequence[str]) -> dict:
        out = self._evaluate(inputs, stress="stress" in properties)
        chunk = {"energy": out[K.ENERGY], "forces": np.split(out[K.FORCES], np.cumsum(sizes)[:-1])}
        if K.STRESS in out:
            chunk["stress"] = np.array([full_3x3_to_voigt_6_stress(s) for s in out[K.STRESS]]).reshape(-1, 6)
        chunk.update({name: out[name] for name in self.extras})
        return chunk

    def merge(self, chunks: list[dict], properties: Sequence[str]) -> dict[str, Any]:
        merged: dict[str, Any] = {"energy": np.concatenate([c["energy"] for c in chunks]) if chunks else np.zeros(0),
                                  "forces": [f for c in chunks for f in c["forces"]]}
        if "stress" in properties:
            merged["stress"] = np.concatenate([c["stress"] for c in chunks]) if chunks else np.zeros((0, 6))
        merged.update({name: np.concatenate([c[name] for c in chunks]) if chunks else np.zeros(0)
                       for name in self.extras})
        return merged


@register_evaluator
class PropertyEvaluator(Evaluator):
    """Property models: each target per structure, in the model's units; no gradients."""

    family = "property"

    def __init__(self, model: torch.nn.Module):
        super().__init__(model)
        # targets, then any extra outputs the model declares (a Gaussian process's ``<target>_std``)
        self.properties = list(model.targets) + list(getattr(model, "extra_outputs", ()))
        self.units = {name: p["unit"] for name, p in model.properties.items()}

    def check(self, properties: Sequence[str], structures: Sequence[Atoms], single: bool = False) -> None:
        if "stress" in properties:
            raise ValueError(f"stress asked for, but this is a property model for {', '.join(self.properties)}")

    def batch(self, inputs: dict[str, torch.Tensor], sizes: Sequence[int], properties: Sequence[str]) -> dict:
        check_evaluation_memory(self.model, inputs)
        with torch.no_grad():
            out = self.model(inputs)
        check_plausible_properties(self.model, inputs, out)
        return {name: _numpy(out[name]) for name in self.properties}

    def results(self, inputs: dict[str, torch.Tensor], properties: Sequence[str]) -> dict[str, Any]:
        return {name: float(values[0]) for name, values in self.batch(inputs, [0], properties).items()}

    def merge(self, chunks: list[dict], properties: Sequence[str]) -> dict[str, Any]:
        return {name: np.concatenate([c[name] for c in chunks]) if chunks else np.zeros(0) for name in self.properties}

