"""MLCalc: every trained mlcalc model as an ASE calculator."""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from mlcalc import keys as K
from mlcalc.derivatives import energy_forces_stress, model_inputs
from mlcalc.graph import atoms_to_batch
from mlcalc.modelfile import load_model
from mlcalc.named_models import resolve_model_path
from mlcalc.potentials.base import PropertyModel
from mlcalc.validation import DEFAULT_MIN_DISTANCE, validate_atoms

__all__ = ["MLCalc"]

_ENERGY_PROPERTIES = ["energy", "free_energy", "forces", "stress"]


class MLCalc(Calculator):
    """ASE calculator for an mlcalc model (units: eV, Å).

    Energy models give ``energy``, ``free_energy``, ``forces`` (-dE/dr by autograd)
    and, for periodic systems, ``stress`` (strain derivative, eV/Å³, Voigt order).
    Property models give their targets (e.g. ``calc.get_property("homo", atoms)`` in
    eV; units in ``calc.units``) and nothing else: no energy, forces or stress.
    Load one with :meth:`MLCalc.load`; evaluate many structures with :meth:`predict`.
    A model passed in directly is moved to ``device`` and cast to ``dtype`` in place.
    """

    implemented_properties = list(_ENERGY_PROPERTIES)
    default_parameters: dict[str, Any] = {}

    def __init__(
        self,
        model: torch.nn.Module,
        manifest: dict[str, Any] | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        min_distance: float = DEFAULT_MIN_DISTANCE,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.device = torch.device(device)
        self.dtype = dtype
        self.model = model.to(device=self.device, dtype=dtype).eval()
        self.manifest = dict(manifest or {})
        self.min_distance = float(min_distance)
        #: target names of a property model; empty for an energy model
        self.targets: list[str] = list(model.targets) if isinstance(model, PropertyModel) else []
        #: property name -> unit
        self.units: dict[str, str] = {name: p["unit"] for name, p in model.properties.items()}
        self.implemented_properties = list(self.targets) or list(_ENERGY_PROPERTIES)

    @classmethod
    def load(
        cls,
        path_or_name: str | os.PathLike,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        **kwargs: Any,
    ) -> "MLCalc":
        """A calculator from a ``.mlc`` file or the name of a shipped model (e.g. ``"ethanol-et"``)."""
        model, manifest = load_model(resolve_model_path(path_or_name), dtype=dtype)
        return cls(model, manifest, device=device, dtype=dtype, **kwargs)

    # -- ASE contract -------------------------------------------------------------------------
    def _not_implemented(self, name: str) -> PropertyNotImplementedError:
        offered = ", ".join(f"{p} ({self.units.get(p, 'eV')})" for p in self.implemented_properties)
        if self.targets:
            return PropertyNotImplementedError(
                f"{name!r} is not predicted by this model: it is a property model for {offered}; "
                "property models have no energy, forces or stress")
        return PropertyNotImplementedError(f"{name!r} is not predicted by this energy model; it gives {offered}")

    def get_property(self, name: str, atoms: Atoms | None = None, allow_calculation: bool = True):
        """ASE's property access, with an error that lists what this model does predict."""
        if name not in self.implemented_properties:
            raise self._not_implemented(name)
        return super().get_property(name, atoms, allow_calculation)

    def calculate(self, atoms: Atoms | None = None, properties: Sequence[str] = ("energy",),
                  system_changes: Sequence[str] = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        unknown = [p for p in properties if p not in self.implemented_properties]
        if unknown:
            raise self._not_implemented(unknown[0])
        if self.targets:
            out = self._evaluate_properties([self.atoms])
            self.results = {name: float(out[name][0]) for name in self.targets}
            return
        want_stress = "stress" in properties
        if want_stress and not self.atoms.pbc.all():
            raise PropertyNotImplementedError("stress needs a system periodic in all three directions with a cell")
        out = self._evaluate([self.atoms], stress=want_stress)
        energy = float(out[K.ENERGY][0])
        self.results = {"energy": energy, "free_energy": energy, "forces": out[K.FORCES]}
        if want_stress:
            self.results["stress"] = full_3x3_to_voigt_6_stress(out[K.STRESS][0])

    # -- batches ------------------------------------------------------------------------------
    def predict(self, structures: Sequence[Atoms], batch_size: int = 32, stress: bool = False) -> dict[str, Any]:
        """Evaluate many structures in batches.

        Energy models: ``energy`` [n_structures] (eV), ``forces`` (a list of [n_atoms_k, 3]
        arrays, eV/Å) and, with ``stress=True``, ``stress`` [n_structures, 6] (eV/Å³, Voigt).
        Property models: each target [n_structures] in its unit (``self.units``).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        structures = list(structures)
        if self.targets:
            if stress:
                raise ValueError(f"stress asked for, but this is a property model for {', '.join(self.targets)}")
            chunks = [self._evaluate_properties(structures[k:k + batch_size])
                      for k in range(0, len(structures), batch_size)]
            return {name: np.concatenate([c[name] for c in chunks]) if chunks else np.zeros(0)
                    for name in self.targets}
        if stress:
            flat = [i for i, a in enumerate(structures) if not a.pbc.all()]
            if flat:
                raise ValueError(f"stress asked for, but structures {flat[:10]} are not periodic in 3D")
        energies, forces, stresses = [], [], []
        for start in range(0, len(structures), batch_size):
            chunk = structures[start:start + batch_size]
            out = self._evaluate(chunk, stress=stress)
            energies.append(out[K.ENERGY])
            forces.extend(np.split(out[K.FORCES], np.cumsum([len(a) for a in chunk])[:-1]))
            if stress:
                stresses.extend(full_3x3_to_voigt_6_stress(s) for s in out[K.STRESS])
        result: dict[str, Any] = {"energy": np.concatenate(energies) if energies else np.zeros(0), "forces": forces}
        if stress:
            result["stress"] = np.array(stresses).reshape(-1, 6)
        return result

    def _batch(self, structures: Sequence[Atoms]):
        for atoms in structures:
            validate_atoms(atoms, self.model.elements, self.model.periodic, self.min_distance)
        return atoms_to_batch(structures, cutoff=self.model.cutoff, dtype=self.dtype, labels=False).to(self.device)

    def _evaluate_properties(self, structures: Sequence[Atoms]) -> dict[str, np.ndarray]:
        with torch.no_grad():
            out = self.model(model_inputs(self._batch(structures)))
        return {name: out[name].to("cpu", torch.float64).numpy() for name in self.targets}

    def _evaluate(self, structures: Sequence[Atoms], stress: bool) -> dict[str, np.ndarray]:
        batch = self._batch(structures)
        out = energy_forces_stress(self.model, model_inputs(batch), forces=True, stress=stress)
        return {key: value.detach().to("cpu", torch.float64).numpy() for key, value in out.items()}
