"""The interface every mlcalc model implements: energy models (with atomrefs) and property models.

A model maps a batch dict (fields named in :mod:`mlcalc.keys`) to a dict of
per-structure outputs. It can describe itself (``kind`` + ``hyperparameters()``)
so that a model file can rebuild it without executing code from the file, and it
belongs to a ``family`` (``"energy"`` or ``"property"``) that tells MLCalc how to
evaluate it.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple, Optional, Sequence

import numpy as np
import torch
from torch import nn

from mlcalc import keys as K
from mlcalc.errors import UnsupportedByModelError

__all__ = ["AtomisticModel", "EnergyModel", "PropertyModel", "Encoding", "check_property_targets"]


class Encoding(NamedTuple):
    """One forward pass with the learned representations it went through (:meth:`AtomisticModel.encode`).

    ``nodes``: per-atom features after the last message-passing layer, [n_atoms, F]
    (the layer Grad-CAM differentiates); ``hidden``: the last hidden layer before the
    output, per structure, [n_graphs, D]; ``output``: the network output, ẑ
    [n_graphs, n_targets] for property models (standardised), energy [n_graphs, 1] in eV
    for energy models; ``atom_outputs``: per-atom terms whose mean (property models) or
    sum (energy models, without atomrefs) is the output, [n_atoms, n_outputs], or None
    when the readout is no sum over atoms (Set2Set).
    """

    nodes: torch.Tensor
    hidden: torch.Tensor
    output: torch.Tensor
    atom_outputs: Optional[torch.Tensor]


class AtomisticModel(nn.Module):
    """Base of all models: ``forward(inputs) -> {property: tensor [n_graphs, ...]}``.

    ``elements``: atomic numbers seen in training; ``cutoff``: neighbor radius in Å;
    ``periodic``: whether the model describes periodic systems (needs a cell).
    """

    #: the registered name (set by :func:`~mlcalc.model.registry.register_kind`)
    kind: ClassVar[str] = ""
    #: what the model predicts, one of :data:`~mlcalc.model.registry.FAMILIES`
    family: ClassVar[str] = ""
    #: output name -> {"unit": ..., "per": "structure" | "atom"}
    properties: ClassVar[dict[str, dict[str, str]]] = {}
    #: hyperparameters that model files written before they existed lack, and the values those files imply
    file_defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, elements: Sequence[int], cutoff: float, periodic: bool = False):
        super().__init__()
        if not elements:
            raise ValueError("a model needs the list of elements (atomic numbers) it is trained on")
        if cutoff <= 0:
            raise ValueError(f"cutoff must be positive (Å), got {cutoff}")
        self.elements = sorted(int(z) for z in elements)
        self.cutoff = float(cutoff)
        self.periodic = bool(periodic)

    def hyperparameters(self) -> dict[str, Any]:
        """JSON-serialisable constructor arguments: ``type(self)(**hyperparameters())`` rebuilds it."""
        return {"elements": self.elements, "cutoff": self.cutoff, "periodic": self.periodic}

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def evaluation_values(self) -> tuple[float, float]:
        """``(values per edge, values per atom)`` one evaluation (energy, forces by autograd) holds at its peak, in
        the evaluation's dtype: what :meth:`evaluation_bytes` counts. This default is generous for a message-passing
        network 128 wide and a few layers deep; kinds give their own from their hyperparameters (measured with
        ``bench/eval_memory.py``)."""
        return 16384.0, 16384.0

    def evaluated_graph(self, inputs: dict[str, torch.Tensor]) -> tuple[int, int]:
        """``(atoms, edges)`` of the graph this model evaluates for ``inputs``: the inputs' own, unless a kind builds
        a larger one (TorchMD-NET tiles cells smaller than its cutoff)."""
        return int(inputs[K.Z].shape[0]), int(inputs[K.EDGE_INDEX].shape[1]) if K.EDGE_INDEX in inputs else 0

    def evaluation_bytes(self, inputs: dict[str, torch.Tensor]) -> float:
        """About how many bytes one evaluation of ``inputs`` holds at its peak, estimated before anything is built:
        :meth:`evaluated_graph` times :meth:`evaluation_values` in the inputs' dtype (checked against the memory
        limit by :mod:`mlcalc.evaluation`)."""
        atoms, edges = self.evaluated_graph(inputs)
        per_edge, per_atom = self.evaluation_values()
        return inputs[K.POSITIONS].element_size() * (per_edge * edges + per_atom * atoms)

    def inference_module(self) -> nn.Module:
        """The module to call for predictions: this model, or a compiled equivalent with the same outputs
        (a kind overrides this where compiling pays, e.g. ``bpnn`` with TorchScript)."""
        return self

    def encode(self, inputs: dict[str, torch.Tensor]) -> Encoding:
        """The forward pass with its learned representations (per atom and per structure)."""
        raise UnsupportedByModelError(f"{self.kind or type(self).__name__} models do not expose their representations")


class EnergyModel(AtomisticModel):
    """A potential: E = Σ_i (scale · ε_i + atomref[z_i]) in eV, ε_i from :meth:`atomic_outputs`.

    ``atomref`` (eV per element, fitted on training data) carries the large
    per-element part of total energies; ``energy_scale`` (eV) makes ε_i order one.
    """

    family = "energy"
    properties = {
        K.ENERGY: {"unit": "eV", "per": "structure"},
        K.FORCES: {"unit": "eV/Å", "per": "atom"},
        K.STRESS: {"unit": "eV/Å^3", "per": "structure"},
    }
    max_z: ClassVar[int] = 100

    def __init__(self, elements: Sequence[int], cutoff: float, periodic: bool = False, energy_scale: float = 1.0):
        super().__init__(elements, cutoff, periodic)
        self.energy_scale = float(energy_scale)
        self.register_buffer("atomref", torch.zeros(self.max_z + 1))

    def hyperparameters(self) -> dict[str, Any]:
        return {**super().hyperparameters(), "energy_scale": self.energy_scale}

    def set_atomref(self, atomref: dict[int, float]) -> None:
        """Per-element reference energies in eV (missing elements: 0)."""
        values = torch.zeros_like(self.atomref)
        for z, e in atomref.items():
            values[int(z)] = float(e)
        self.atomref.copy_(values)

    def atomic_outputs(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:  # pragma: no cover - abstract
        """Dimensionless per-atom energies ε_i, [n_atoms]."""
        raise NotImplementedError

    def atomic_features(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-atom features of the last layer [n_atoms, F] and ε_i [n_atoms] (for :meth:`encode`)."""
        raise UnsupportedByModelError(f"{self.kind or type(self).__name__} models do not expose their representations")

    def encode(self, inputs: dict[str, torch.Tensor]) -> Encoding:
        """Nodes: last-layer atom features; hidden: their mean per structure; output: E - Σ atomref (eV)."""
        nodes, eps = self.atomic_features(inputs)
        batch, n_graphs = inputs[K.BATCH], inputs[K.CELL].shape[0]
        atomic = self.energy_scale * eps.unsqueeze(1)
        n_atoms = torch.zeros(n_graphs, dtype=nodes.dtype, device=nodes.device).index_add(
            0, batch, torch.ones_like(eps)).clamp(min=1).unsqueeze(1)
        hidden = nodes.new_zeros(n_graphs, nodes.shape[1]).index_add(0, batch, nodes) / n_atoms
        energy = atomic.new_zeros(n_graphs, 1).index_add(0, batch, atomic)
        return Encoding(nodes, hidden, energy, atomic)

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        z, batch = inputs[K.Z], inputs[K.BATCH]
        atomic = self.energy_scale * self.atomic_outputs(inputs) + self.atomref[z].to(inputs[K.POSITIONS].dtype)
        n_graphs = inputs[K.CELL].shape[0]
        energy = torch.zeros(n_graphs, dtype=atomic.dtype, device=atomic.device).index_add(0, batch, atomic)
        return {K.ENERGY: energy}


def check_property_targets(targets: Sequence[str], what: str = "a property model's target") -> None:
    """ValueError if a target is named like an energy-model property (energy, forces, ...), saying what to name it."""
    clash = sorted(set(targets) & set(EnergyModel.properties))
    if clash:
        raise ValueError(f"{what} cannot be named {', '.join(map(repr, clash))}: reserved for energy models (energy "
                         "with forces and stress from one potential); name it e.g. 'total_energy' (a total per "
                         "structure: extensive) or 'energy_per_atom' (intensive)")


class PropertyModel(AtomisticModel):
    """A regressor of per-structure properties (e.g. QM9 HOMO in eV) from standardised outputs.

    Subclasses implement :meth:`encode` (its output: ẑ [n_graphs, n_targets]). The
    output in physical units is y_t = μ_t + σ_t·ẑ_t for intensive targets and
    y_t = N·(μ_t + σ_t·ẑ_t) for extensive ones (N atoms; μ_t, σ_t per atom), so a
    per-atom network whose ẑ is the mean of per-atom outputs reads extensive targets
    out as a sum over atoms and intensive ones as a mean. μ and σ are buffers (saved
    in the model file); set them from training data with :meth:`set_standardisation`.
    Energy-like targets (QM9 U0, U, H, G) may add per-element reference values:
    y_t += Σ_atoms E_t(element), the buffer ``target_atomref`` [n_elements, n_targets]
    (zero unless :meth:`set_atomrefs`), so the network learns the residual.
    """

    family = "property"
    max_z: ClassVar[int] = 100
    #: buffers a model file may lack (written before they existed); loading fills in their defaults
    optional_buffers: ClassVar[tuple[str, ...]] = ("target_atomref",)

    def __init__(self, elements: Sequence[int], cutoff: float, targets: Sequence[str], units: Sequence[str],
                 extensive: Sequence[bool], periodic: bool = False):
        super().__init__(elements, cutoff, periodic)
        if not 1 <= self.elements[0] <= self.elements[-1] <= self.max_z:
            raise ValueError(f"elements must be atomic numbers 1..{self.max_z}, got {self.elements}")
        self.targets, self.units, self.extensive = list(targets), list(units), [bool(e) for e in extensive]
        if not self.targets or len(set(self.targets)) != len(self.targets):
            raise ValueError(f"targets must be distinct names, at least one; got {self.targets}")
        if not len(self.units) == len(self.extensive) == len(self.targets):
            raise ValueError(f"need one unit and one extensive flag per target {self.targets}; "
                             f"got units {self.units}, extensive {self.extensive}")
        check_property_targets(self.targets)
        self.properties = {t: {"unit": u, "per": "structure", "extensive": e}
                           for t, u, e in zip(self.targets, self.units, self.extensive)}
        n = len(self.targets)
        self.register_buffer("target_mean", torch.zeros(n))
        self.register_buffer("target_std", torch.ones(n))
        self.register_buffer("target_atomref", torch.zeros(len(self.elements), n))
        species = torch.full((self.max_z + 1,), -1, dtype=torch.long)
        species[torch.tensor(self.elements)] = torch.arange(len(self.elements))
        self.register_buffer("species_index", species, persistent=False)

    def hyperparameters(self) -> dict[str, Any]:
        return {**super().hyperparameters(), "targets": self.targets, "units": self.units,
                "extensive": self.extensive}

    def evaluation_values(self) -> tuple[float, float]:
        """``(values per edge, values per atom)`` of one prediction without gradients: the inputs' own pairs and a
        little per atom. Message-passing kinds give their own (measured with ``bench/eval_memory.py``)."""
        return 32.0, 256.0

    def species(self, z: torch.Tensor) -> torch.Tensor:
        """Row of each atomic number in ``elements`` (0..n_elements-1), int [n_atoms]."""
        return self.species_index[z]

    def embed(self, inputs: dict[str, torch.Tensor], embedding: nn.Embedding) -> torch.Tensor:
        """Initial atom features: ``embedding`` of each atom's element, [n_atoms, F].

        With ``inputs[K.ELEMENT_WEIGHTS]`` (one-hot rows over ``elements``, [n_atoms,
        n_elements]) the features are that matrix times the embedding table: the same
        values, differentiable in the element indicators (saliency, Integrated Gradients).
        """
        weights = inputs.get(K.ELEMENT_WEIGHTS)
        if weights is None:
            return embedding(self.species(inputs[K.Z]))
        return weights.to(embedding.weight.dtype) @ embedding.weight

    def element_weights(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """One-hot element indicators [n_atoms, n_elements] (``inputs[K.ELEMENT_WEIGHTS]`` if given)."""
        weights = inputs.get(K.ELEMENT_WEIGHTS)
        if weights is not None:
            return weights
        species = self.species(inputs[K.Z])
        return torch.nn.functional.one_hot(species, len(self.elements)).to(inputs[K.POSITIONS].dtype)

    def set_standardisation(self, mean: Sequence[float], std: Sequence[float]) -> None:
        """μ and σ per target, in target units (per atom for extensive targets); σ > 0."""
        mean, std = torch.as_tensor(mean, dtype=torch.float64), torch.as_tensor(std, dtype=torch.float64)
        if mean.shape != self.target_mean.shape or std.shape != self.target_std.shape:
            raise ValueError(f"need {len(self.targets)} means and standard deviations for {self.targets}, "
                             f"got {tuple(mean.shape)} and {tuple(std.shape)}")
        if not bool((std > 0).all()) or not bool(torch.isfinite(mean).all()):
            raise ValueError(f"standardisation needs finite means and positive deviations, got {mean}, {std}")
        self.target_mean.copy_(mean)
        self.target_std.copy_(std)

    def set_atomrefs(self, atomrefs: np.ndarray | Sequence) -> None:
        """Per-element reference values [n_elements, n_targets] in target units (rows: ``elements``)."""
        atomrefs = torch.as_tensor(np.asarray(atomrefs, dtype=np.float64))
        if atomrefs.shape != self.target_atomref.shape or not bool(torch.isfinite(atomrefs).all()):
            raise ValueError(f"need finite atomrefs of shape {tuple(self.target_atomref.shape)} (elements "
                             f"{self.elements} x targets {self.targets}), got {tuple(atomrefs.shape)}")
        self.target_atomref.copy_(atomrefs)

    def references(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Σ over each structure's atoms of the per-element references, [n_graphs, n_targets] (target units)."""
        n_graphs = len(inputs[K.N_ATOMS])
        if not bool(self.target_atomref.any()):  # no references (most models): skip the element one-hot
            return self.target_atomref.new_zeros(n_graphs, len(self.targets))
        per_atom = self.element_weights(inputs).to(self.target_atomref.dtype) @ self.target_atomref
        return per_atom.new_zeros(n_graphs, per_atom.shape[1]).index_add(0, inputs[K.BATCH], per_atom)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # model files written before per-element references existed have none: zeros
        state_dict.setdefault(prefix + "target_atomref", torch.zeros_like(self.target_atomref))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _size(self, n_atoms: torch.Tensor) -> torch.Tensor:
        """N for extensive targets, 1 for intensive ones, [n_graphs, n_targets]."""
        flags = torch.tensor(self.extensive, device=n_atoms.device)
        return torch.where(flags, n_atoms.to(self.target_mean.dtype).unsqueeze(1), 1.0)

    def standardise(self, values: torch.Tensor, n_atoms: torch.Tensor) -> torch.Tensor:
        """Physical target values [n_graphs, n_targets] -> standardised ẑ."""
        return (values / self._size(n_atoms) - self.target_mean) / self.target_std

    def destandardise(self, z_hat: torch.Tensor, n_atoms: torch.Tensor) -> torch.Tensor:
        """Standardised ẑ [n_graphs, n_targets] -> physical target values."""
        return (self.target_mean + self.target_std * z_hat) * self._size(n_atoms)

    @staticmethod
    def atom_mean(per_atom: torch.Tensor, batch: torch.Tensor, n_atoms: torch.Tensor) -> torch.Tensor:
        """Mean over each graph's atoms of ``per_atom`` [n_atoms, k] -> [n_graphs, k]."""
        total = per_atom.new_zeros(len(n_atoms), per_atom.shape[1]).index_add(0, batch, per_atom)
        return total / n_atoms.to(per_atom.dtype).unsqueeze(1)

    def encode(self, inputs: dict[str, torch.Tensor]) -> Encoding:  # pragma: no cover - abstract
        """The forward pass in standardised units (output ẑ, atom_outputs per-atom ẑ terms)."""
        raise NotImplementedError

    def standardised_outputs(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """ẑ, dimensionless, [n_graphs, n_targets]."""
        return self.encode(inputs).output

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        values = self.destandardise(self.standardised_outputs(inputs), inputs[K.N_ATOMS]) + self.references(inputs)
        return {t: values[:, k] for k, t in enumerate(self.targets)}
