"""Every mlcalc energy model as a TorchSim model (``torch_sim.models.interface.ModelInterface``).

>>> import torch_sim as ts
>>> model = TorchSimModel("ethanol-et", dtype=torch.float64)
>>> state = ts.io.atoms_to_state([ethanol, uracil], model.device, model.dtype)
>>> out = model(state)            # energy [n_systems] eV, forces [n_atoms, 3] eV/Å, stress [n_systems, 3, 3] eV/Å³

Energies include the model's atom references, so they equal MLCalc's. Each system's
graph comes from mlcalc's neighbor list (vesin) through a :class:`~mlcalc.neighbor_cache.NeighborCache`
(pairs reused within a skin, filtered to the cutoff every call: the same edges as a fresh
search); forces and stress are autograd derivatives of the energy (:mod:`mlcalc.derivatives`).
TorchSim's integrators (NVE, NVT Langevin, Nose-Hoover; NPT with ``compute_stress``) run it.
An ensemble (``kind: ensemble`` of energy models) is evaluated member by member: the results are
the members' mean, plus ``uncertainty`` [n_systems] (eV/Å, as :func:`mlcalc.committee.force_uncertainty`:
the mean over a system's atoms of the norm of the members' force standard deviation), also kept
in :attr:`TorchSimModel.last_uncertainty` for a stepper.
This module imports torch_sim; ``import mlcalc.md`` does not.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch_sim.models.interface import ModelInterface
from torch_sim.state import SimState

from mlcalc import keys as K
from mlcalc.derivatives import energy_forces_stress
from mlcalc.graph import centred_positions
from mlcalc.modelfile import load_model
from mlcalc.named_models import resolve_model_path
from mlcalc.neighbor_cache import DEFAULT_SKIN, NeighborCache, structure_inputs

__all__ = ["TorchSimModel"]


class TorchSimModel(ModelInterface):
    """A TorchSim model from an mlcalc energy model (object, ``.mlc`` file or shipped name).

    ``dtype``: float32 or float64 (the model is cast, as MLCalc does; in float32 each system's
    positions are taken relative to its centre, and wrapped along periodic directions, in
    float64 before the cast, as :func:`mlcalc.graph.model_positions`). ``compute_stress``:
    also return stress (periodic states only). ``skin`` (Å): neighbor-list reuse margin
    (0: a new search every call).
    """

    def __init__(self, model: torch.nn.Module | str | os.PathLike, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float64, compute_stress: bool = False, skin: float = DEFAULT_SKIN):
        super().__init__()
        if isinstance(model, (str, os.PathLike)):
            model, _ = load_model(resolve_model_path(model))
        if getattr(model, "family", None) != "energy":
            raise ValueError(f"TorchSim needs an energy model (energy, forces, stress); "
                             f"got {type(model).__name__} of family {getattr(model, 'family', None)!r}")
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
        self._device, self._dtype = torch.device(device), dtype
        self.model = model.to(device=self._device, dtype=dtype).eval()
        self._compute_forces, self._compute_stress = True, bool(compute_stress)
        self._memory_scales_with = "n_atoms_x_density"
        self.neighbors = NeighborCache(self.model.cutoff, skin)
        self._elements = set(self.model.elements)
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
        """mlcalc model inputs (fields of :mod:`mlcalc.keys`) for a TorchSim state."""
        numbers = state.atomic_numbers.detach().cpu().numpy()
        unknown = set(np.unique(numbers).tolist()) - self._elements
        if unknown:
            raise ValueError(f"atomic numbers {sorted(unknown)} not known to this model; "
                             f"it was trained on {self.model.elements}")
        n_systems = state.n_systems
        sizes = torch.bincount(state.system_idx, minlength=n_systems).cpu().numpy()
        pbc = np.full((n_systems, 3), bool(state.pbc))
        cells = state.row_vector_cell.detach().cpu().numpy()  # TorchSim stores column vectors
        positions = state.positions.detach().cpu().numpy().astype(np.float64)
        if torch.finfo(self._dtype).bits < 64:  # as MLCalc: each system centred (and wrapped) in float64 first
            starts = np.concatenate([[0], np.cumsum(sizes)])
            positions = np.concatenate([centred_positions(positions[a:z], cells[b], pbc[b]) if z > a
                                        else positions[a:z] for b, (a, z) in enumerate(zip(starts[:-1], starts[1:]))])
        return structure_inputs(positions, numbers, cells, pbc, sizes, self.neighbors, self._dtype, self._device)

    def forward(self, state: SimState | dict, **_) -> dict[str, torch.Tensor]:
        """``energy`` [n_systems] eV, ``forces`` [n_atoms, 3] eV/Å, and ``stress`` [n_systems, 3, 3] eV/Å³
        (ASE sign convention, as TorchSim's) when :attr:`compute_stress` is set, in the state's dtype."""
        if isinstance(state, dict):
            state = SimState(**{"masses": torch.ones_like(state["positions"][:, 0]), **state})
        stress = self._compute_stress
        if stress and not state.pbc:
            raise ValueError("stress needs a periodic state (pbc=True with a cell); set compute_stress=False")
        inputs = self.inputs(state)
        if torch.finfo(self._dtype).bits >= 64:
            inputs[K.POSITIONS] = state.positions.to(self._dtype)
        dtype = state.positions.dtype  # a float32 model can drive a float64 state
        if self.gives_uncertainty:
            return self._committee(inputs, state, stress, dtype)
        out = energy_forces_stress(self.model, inputs, forces=True, stress=stress)
        results = {"energy": out[K.ENERGY].detach().to(dtype), "forces": out[K.FORCES].detach().to(dtype)}
        if stress:
            results["stress"] = out[K.STRESS].detach().to(dtype)
        return results

    def _committee(self, inputs: dict, state: SimState, stress: bool, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        """The members' mean energy, forces (and stress) and each system's force ``uncertainty`` (eV/Å)."""
        outs = [energy_forces_stress(member, self.model.member_inputs(inputs, member), forces=True, stress=stress)
                for member in self.model.members]
        forces = torch.stack([o[K.FORCES].detach() for o in outs])  # [n_members, n_atoms, 3]
        atom_std = forces.var(0, unbiased=False).sum(1).sqrt()  # norm of the per-atom force std
        n_systems = state.n_systems
        sizes = torch.bincount(state.system_idx, minlength=n_systems).to(atom_std.dtype)
        per_system = torch.zeros(n_systems, dtype=atom_std.dtype, device=atom_std.device).index_add(
            0, state.system_idx, atom_std) / sizes.clamp(min=1)
        self.last_uncertainty = per_system.detach().to(dtype)
        results = {"energy": torch.stack([o[K.ENERGY].detach() for o in outs]).mean(0).to(dtype),
                   "forces": forces.mean(0).to(dtype), "uncertainty": self.last_uncertainty}
        if stress:
            results["stress"] = torch.stack([o[K.STRESS].detach() for o in outs]).mean(0).to(dtype)
        return results
