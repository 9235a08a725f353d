"""MLCalc: every trained mlcalc model as an ASE calculator."""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from mlcalc.call_lock import SerialCalls
from mlcalc.attributions import atom_attributions, check_attribution_method
from mlcalc.derivatives import model_inputs
from mlcalc.evaluation import DEFAULT_DTYPE, as_dtype, load_for_evaluation, structure_model_inputs
from mlcalc.evaluators import check_finite, evaluator_for
from mlcalc.graph import atoms_to_batch
from mlcalc.named_models import available_models
from mlcalc.neighbor_cache import DEFAULT_SKIN, NeighborCache
from mlcalc.validation import DEFAULT_MIN_DISTANCE, check_device, check_min_distance, validate_atoms

__all__ = ["MLCalc", "as_dtype"]

#: parameters fixed when the calculator is built (a new MLCalc is needed to change them)
_FIXED = ("model", "device", "dtype")


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


class MLCalc(SerialCalls, Calculator):
    """ASE calculator for an mlcalc model (units: eV, Å).

    ``model``: a ``.mlc`` file, the name of a shipped model (``"ethanol-et"``) or a model
    object (moved to ``device`` and cast to ``dtype`` in place). Energy models give
    ``energy``, ``free_energy``, ``forces`` (-dE/dr by autograd) and, for periodic
    systems, ``stress`` (strain derivative, eV/Å³, Voigt order). Property models give
    their targets (``calc.get_property("homo", atoms)`` in eV; units in ``calc.units``)
    and nothing else. Any model gives ``calc.get_property("attributions", atoms)``: one
    value per atom (:mod:`mlcalc.attributions`; method from the ``attribution`` parameter,
    default ``"gradcam"``). ``todict()`` holds the parameters (model, device, dtype,
    min_distance): ``MLCalc(**calc.todict())`` rebuilds a calculator loaded from a file.
    One calculator may be shared by threads: its calls take turns (:attr:`call_lock`).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]
    default_parameters: dict[str, Any] = {"model": None, "device": "cpu", "dtype": "float32",
                                          "min_distance": DEFAULT_MIN_DISTANCE}

    def __init__(self, model: str | os.PathLike | torch.nn.Module | None = None, manifest: dict[str, Any] | None = None,
                 device: str | torch.device = "cpu", dtype: torch.dtype | str = DEFAULT_DTYPE,
                 min_distance: float = DEFAULT_MIN_DISTANCE, **kwargs: Any):
        dtype, device, min_distance = as_dtype(dtype), check_device(device), check_min_distance(min_distance)
        if "attribution" in kwargs:
            check_attribution_method(kwargs["attribution"])
        if not isinstance(model, (str, os.PathLike, torch.nn.Module)):
            raise TypeError(f"MLCalc needs a model: a .mlc file, a shipped model name "
                            f"({', '.join(available_models())}) or a model object; got {model!r:.80}")
        # a file is recorded by absolute path, so that todict() works from anywhere
        model, manifest, source = load_for_evaluation(model, torch.device(device), dtype, manifest)
        super().__init__(model=source, device=str(torch.device(device)), dtype=_dtype_name(dtype),
                         min_distance=float(min_distance), **kwargs)
        self.device = torch.device(device)
        self.dtype = dtype
        self.model = model
        self.manifest = manifest
        self.evaluator = evaluator_for(self.model)
        self.implemented_properties = list(self.evaluator.properties)
        #: property name -> unit
        self.units: dict[str, str] = dict(self.evaluator.units)
        #: target names of a property model; empty for an energy model
        self.targets: list[str] = list(self.evaluator.properties) if self.evaluator.family == "property" else []
        #: neighbor pairs of the last structure, reused while atoms move less than half the skin
        self.neighbors = NeighborCache(self.model.cutoff, DEFAULT_SKIN)

    @classmethod
    def load(cls, path_or_name: str | os.PathLike, device: str | torch.device = "cpu",
             dtype: torch.dtype | str = DEFAULT_DTYPE, **kwargs: Any) -> "MLCalc":
        """A calculator from a ``.mlc`` file or the name of a shipped model (e.g. ``"ethanol-et"``)."""
        if not isinstance(path_or_name, (str, os.PathLike)):
            raise TypeError(f"MLCalc.load takes a .mlc file or a shipped model name "
                            f"({', '.join(available_models())}), got {path_or_name!r:.80}")
        return cls(path_or_name, device=device, dtype=dtype, **kwargs)

    @property
    def min_distance(self) -> float:
        """Smallest interatomic distance accepted, Å (0: no check)."""
        return float(self.parameters["min_distance"])

    def set(self, **kwargs: Any) -> dict[str, Any]:
        """ASE's parameter update; model, device and dtype are fixed once the calculator is built."""
        if "dtype" in kwargs:
            kwargs["dtype"] = _dtype_name(as_dtype(kwargs["dtype"]))
        if "min_distance" in kwargs:
            kwargs["min_distance"] = check_min_distance(kwargs["min_distance"])
        if "attribution" in kwargs:
            check_attribution_method(kwargs["attribution"])
        if hasattr(self, "evaluator"):
            fixed = [k for k in _FIXED if k in kwargs and kwargs[k] != self.parameters.get(k)]
            if fixed:
                raise ValueError(f"{', '.join(fixed)} cannot change on a built calculator; make a new MLCalc instead")
        return super().set(**kwargs)

    def todict(self, skip_default: bool = False) -> dict[str, Any]:
        """The calculator's parameters, JSON-ready: all of them (ASE's default ``skip_default=True`` would
        leave out those at their default, e.g. ``device="cpu"``), so the dict describes the calculator in full."""
        return super().todict(skip_default=skip_default)

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
        if name == "attributions":
            return self.get_attributions(atoms)
        if name not in self.implemented_properties:
            raise self._not_implemented(name)
        if atoms is not None and not isinstance(atoms, Atoms):
            raise TypeError(f"expected an ase.Atoms object, got {type(atoms).__name__}")
        with self.call_lock:  # compute and read the results in one turn
            return super().get_property(name, atoms, allow_calculation)

    def calculate(self, atoms: Atoms | None = None, properties: Sequence[str] = ("energy",),
                  system_changes: Sequence[str] = all_changes) -> None:
        with self.call_lock:
            self._calculate(atoms, properties, system_changes)

    def _calculate(self, atoms: Atoms | None, properties: Sequence[str], system_changes: Sequence[str]) -> None:
        super().calculate(atoms, properties, system_changes)
        unknown = [p for p in properties if p not in self.implemented_properties]
        if unknown:
            raise self._not_implemented(unknown[0])
        self.evaluator.check(properties, [self.atoms], single=True)
        results = self.evaluator.results(self._inputs([self.atoms]), properties)
        check_finite(results, [self.atoms], single=True)
        self.results = results

    def get_attributions(self, atoms: Atoms | None = None, method: str | None = None,
                         target: str | None = None) -> np.ndarray:
        """One attribution per atom [n_atoms] of ``target`` (default the first property, or the energy).

        ``method``: one of :data:`mlcalc.attributions.ATTRIBUTION_METHODS` (default the
        ``attribution`` parameter, else ``"gradcam"``).
        """
        atoms = self.atoms if atoms is None else atoms
        if atoms is None:
            raise ValueError("attributions need a structure: pass atoms")
        method = check_attribution_method(method or self.parameters.get("attribution", "gradcam"))
        with self.call_lock:
            values = atom_attributions(self.model, self._inputs([atoms]), method, target)
        return values.to("cpu", torch.float64).numpy()

    # -- batches ------------------------------------------------------------------------------
    def predict(self, structures: Sequence[Atoms], batch_size: int = 32, stress: bool = False) -> dict[str, Any]:
        """Evaluate many structures in batches.

        Energy models: ``energy`` [n_structures] (eV), ``forces`` (a list of [n_atoms_k, 3]
        arrays, eV/Å) and, with ``stress=True``, ``stress`` [n_structures, 6] (eV/Å³, Voigt).
        Property models: each target [n_structures] in its unit (``self.units``).
        pymatgen ``Structure`` objects are taken too (converted by pymatgen's ``AseAtomsAdaptor``); one
        Atoms (or Structure) alone is a batch of one.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if isinstance(structures, Atoms) or type(structures).__name__ == "Structure":
            structures = [structures]
        structures = list(structures)
        if any(not isinstance(a, Atoms) for a in structures):
            from mlcalc.data.crystals import structure_to_atoms

            structures = [structure_to_atoms(a) if type(a).__name__ == "Structure" else a for a in structures]
        properties = ["stress"] if stress else []
        self.evaluator.check(properties, structures)
        chunks = []
        with self.call_lock:
            for start in range(0, len(structures), batch_size):
                chunk = structures[start:start + batch_size]
                chunks.append(self.evaluator.batch(self._inputs(chunk), [len(a) for a in chunk], properties))
                check_finite(chunks[-1], chunk, start)
        return self.evaluator.merge(chunks, properties)

    def _inputs(self, structures: Sequence[Atoms]) -> dict[str, torch.Tensor]:
        """Validated model inputs for ``structures`` on this calculator's device and dtype.

        One structure (an MD step) goes through :func:`mlcalc.evaluation.structure_model_inputs`, the
        evaluation the TorchSim model shares: pairs from :attr:`neighbors` (reused within a skin), the
        element and close-contact checks; a batch goes through PyG batching.
        """
        if len(structures) == 1:
            atoms = structures[0]
            validate_atoms(atoms, None, self.model.periodic, 0.0)  # elements and contacts: checked with the inputs
            return structure_model_inputs(self.model, atoms.positions, atoms.numbers, atoms.cell.array[None],
                                          np.asarray(atoms.pbc)[None], [len(atoms)], self.neighbors, self.dtype,
                                          self.device, self.min_distance)
        for atoms in structures:
            validate_atoms(atoms, self.model.elements, self.model.periodic, self.min_distance)
        batch = atoms_to_batch(structures, cutoff=self.model.cutoff, dtype=self.dtype, labels=False)
        return model_inputs(batch.to(self.device))
