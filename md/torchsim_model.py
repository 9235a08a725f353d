"""Every mlcalc energy model as a TorchSim model (``torch_sim.models.interface.ModelInterface``).

>>> import torch_sim as ts
>>> model = TorchSimModel("ethanol-et", dtype=torch.float64)
>>> state = ts.io.atoms_to_state([ethanol, uracil], model.device, model.dtype)
>>> out = model(state)            # energy [n_systems] eV, forces [n_atoms, 3] eV/Å, stress [n_systems, 3, 3] eV/Å³

A thin wrapper of :func:`mlcalc.evaluation.evaluate_structures`, the evaluation MLCalc uses:
the same element and close-contact (``min_distance``) checks, the same float32 centring, the
same energies (atom references included). Each system's graph comes from mlcalc's neighbor
list (vesin) through a :class:`~mlcalc.neighbor_cache.NeighborCache` (pairs reused within a
skin, filtered to the cutoff every call: the same edges as a fresh search).
TorchSim's integrators (NVE, NVT Langevin, Nose-Hoover; NPT with ``compute_stress``) run it.
An ensemble (``kind: ensemble`` of energy models) gives the members' mean, plus ``uncertainty``
[n_systems] (eV/Å: the mean over a system's atoms of the norm of the members' force standard
deviation), also kept in :attr:`TorchSimModel.last_uncertainty` for a stepper.
This module imports torch_sim; ``import mlcalc.md`` does not.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch_sim.models.interface import ModelInterface
from torch_sim.state import SimState

from mlcalc import keys as K
from mlcalc.evaluation import DEFAULT_DTYPE, as_dtype, evaluate_inputs, load_for_evaluation, structure_model_inputs
from mlcalc.neighbor_cache import DEFAULT_SKIN, NeighborCache
from mlcalc.validation import DEFAULT_MIN_DISTANCE, check_min_distance

__all__ = ["TorchSimModel"]


class TorchSimModel(ModelInterface):
    """A TorchSim model from an mlcalc energy model (object, ``.mlc`` file or shipped name).

    ``dtype``: float32 (default, as MLCalc) or float64; the model is cast to it. ``compute_stress``:
    also return stress (periodic states only). ``skin`` (Å): neighbor-list reuse margin (0: a new
    search every call). ``min_distance`` (Å): two atoms closer than this are refused (ValueError,
    as MLCalc's; 0: no check).
    """

    def __init__(self, model: torch.nn.Module | str | os.PathLike, device: str | torch.device = "cpu",
                 dtype: torch.dtype | str = DEFAULT_DTYPE, compute_stress: bool = False, skin: float = DEFAULT_SKIN,
                 min_distance: float = DEFAULT_MIN_DISTANCE):
        super().__init__()
        dtype = as_dtype(dtype)
        model, _, _ = load_for_evaluation(model, torch.device(device), dtype)
        if getattr(model, "family", None) != "energy":
            raise ValueError(f"TorchSim needs an energy model (energy, forces, stress); "
                             f"got {type(model).__name__} of family {getattr(model, 'family', None)!r}")
        self._device, self._dtype = torch.device(device), dtype
        self.model = model
        self.min_distance = check_min_distance(min_distance)
        self._compute_forces, self._compute_stress = True, bool(compute_stress)
        self._memory_scales_with = "n_atoms_x_density"
        self.neighbors = NeighborCache(self.model.cutoff, skin)
        #: an ensemble: its members are evaluated one by one and their spread is returned too
        self.gives_uncertainty = getattr(self.model, "evaluator_key", None) == "committee"
        self.last_uncertainty: torch.Tensor | None = None

    @property
    def compute_stress(self) -> bool:
        return self._compute_stress

    @compute_stress.setter
    def compute_stress(self, value: bool) -> None:
        self._compute_stress = bool(value)

    def inputs(self, state: SimState) -> dict[str, torch.Tensor]:
        """Checked mlcalc model inputs (fields of :mod:`mlcalc.keys`) for a TorchSim state."""
        n_systems = state.n_systems
        return structure_model_inputs(
            self.model, state.positions.detach().cpu().numpy().astype(np.float64),
            state.atomic_numbers.detach().cpu().numpy(), state.row_vector_cell.detach().cpu().numpy(),  # rows
            np.full((n_systems, 3), bool(state.pbc)), torch.bincount(state.system_idx, minlength=n_systems).cpu().numpy(),
            self.neighbors, self._dtype, self._device, self.min_distance)

    def forward(self, state: SimState | dict, **_) -> dict[str, torch.Tensor]:
        """``energy`` [n_systems] eV, ``forces`` [n_atoms, 3] eV/Å, and ``stress`` [n_systems, 3, 3] eV/Å³
        (ASE sign convention, as TorchSim's) when :attr:`compute_stress` is set, in the state's dtype;
        an ensemble adds ``uncertainty`` [n_systems] eV/Å."""
        if isinstance(state, dict):
            state = SimState(**{"masses": torch.ones_like(state["positions"][:, 0]), **state})
        stress = self._compute_stress
        if stress and not state.pbc:
            raise ValueError("stress needs a periodic state (pbc=True with a cell); set compute_stress=False")
        inputs = self.inputs(state)
        if torch.finfo(self._dtype).bits >= 64:
            inputs[K.POSITIONS] = state.positions.to(self._dtype)
        dtype = state.positions.dtype  # a float32 model can drive a float64 state
        out = evaluate_inputs(self.model, inputs, stress)
        results = {key: out[key].to(dtype) for key in ("energy", "forces", "stress") if key in out}
        if self.gives_uncertainty:
            self.last_uncertainty = results["uncertainty"] = out["uncertainty"].to(dtype)
        return results
