"""Behler-Parrinello network (``bpnn``): per-element atomic networks on TorchANI's atomic environment vectors.

E = Σ_i (scale · NN_{z_i}(G_i) + atomref[z_i]) in eV. G_i is the ANI form of Behler-Parrinello
symmetry functions (Smith, Isayev & Roitberg 2017): radial G2-type terms (Gaussians of width
η_R at shifts from 0.9 Å to the cutoff) per neighbour element and angular G4-type terms (angle
sections θ_s, ζ, η_A at shifts up to ``angular_cutoff``) per neighbour-element pair, both with
the cosine cutoff; computed by torchani's ``AEVComputer`` from mlcalc's neighbour pairs
(vesin; periodic images included), so forces and stress follow by autograd. NN_z: one
torchani ``AtomicNetwork`` per element (``hidden`` widths, CELU α=0.1 by default).
"""

from __future__ import annotations

import os
import weakref
from typing import Any, Sequence

import torch
from ase.data import chemical_symbols

from mlcalc import keys as K
from mlcalc.graph import edge_vectors
from mlcalc.graph_size import estimated_angles
from mlcalc.model import EnergyModel, register_kind

__all__ = ["BehlerParrinelloPotential"]


def _import_torchani():
    """torchani's AEV computer, neighbour tuple and networks (None when torchani is missing), without its
    warning about CUDA extensions this CPU build lacks."""
    saved = os.environ.get("TORCHANI_NO_WARN_EXTENSIONS")
    os.environ["TORCHANI_NO_WARN_EXTENSIONS"] = "1"
    try:
        from torchani.aev import AEVComputer
        from torchani.neighbors import Neighbors
        from torchani.nn import ANINetworks, AtomicNetwork
    except ImportError:
        return None, None, None, None
    finally:
        if saved is None:
            del os.environ["TORCHANI_NO_WARN_EXTENSIONS"]
        else:
            os.environ["TORCHANI_NO_WARN_EXTENSIONS"] = saved
    return AEVComputer, Neighbors, ANINetworks, AtomicNetwork


# module globals, so that TorchScript resolves them when it compiles the model for inference
AEVComputer, Neighbors, ANINetworks, AtomicNetwork = _import_torchani()
#: model -> (its first parameter, that parameter's and atomref's data pointers, its TorchScript), built on the
#: first inference call
_SCRIPTED: "weakref.WeakKeyDictionary[torch.nn.Module, tuple]" = weakref.WeakKeyDictionary()


def _half_pairs(edge_index: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Mask keeping one edge of each pair: (j, i, S) with j < i, or the self-image j == i with S > 0 (lexicographic)."""
    j, i = edge_index[0], edge_index[1]
    s = torch.sign(shifts)
    first = torch.where(s[:, 0] != 0, s[:, 0], torch.where(s[:, 1] != 0, s[:, 1], s[:, 2]))
    return (j < i) | ((j == i) & (first > 0))


@register_kind("bpnn")
class BehlerParrinelloPotential(EnergyModel):
    """ANI-style Behler-Parrinello potential; defaults are ANI-1x's AEV (radial cutoff 5.2 Å, angular 3.5 Å).

    ``radial_shifts`` / ``angular_shifts``: how many Gaussian centres, spread evenly from
    0.9 Å to the respective cutoff; ``angular_sections``: how many angle centres θ_s in (0, π).
    AEV length: n_el·radial_shifts + n_el(n_el+1)/2·angular_shifts·angular_sections.
    """

    def __init__(self, elements: Sequence[int], cutoff: float = 5.2, periodic: bool = False,
                 energy_scale: float = 1.0, angular_cutoff: float = 3.5, radial_eta: float = 16.0,
                 radial_shifts: int = 16, angular_eta: float = 8.0, angular_zeta: float = 32.0,
                 angular_shifts: int = 4, angular_sections: int = 8, hidden: list[int] = [128, 96, 64],  # noqa: B006
                 activation: str = "celu"):
        super().__init__(elements, cutoff, periodic, energy_scale)
        if not 0 < angular_cutoff <= cutoff:
            raise ValueError(f"angular_cutoff must be in (0, cutoff={cutoff}] Å, got {angular_cutoff}")
        if min(radial_shifts, angular_shifts, angular_sections) < 1 or not hidden or min(hidden) < 1:
            raise ValueError("radial_shifts, angular_shifts, angular_sections and the hidden widths must be positive")
        if activation not in ("celu", "gelu"):
            raise ValueError(f"unknown activation {activation!r}; choose from celu, gelu")
        if not 1 <= self.elements[0] <= self.elements[-1] <= self.max_z:
            raise ValueError(f"elements must be atomic numbers 1..{self.max_z}, got {self.elements}")
        self.angular_cutoff, self.radial_eta, self.angular_eta, self.angular_zeta = (
            float(angular_cutoff), float(radial_eta), float(angular_eta), float(angular_zeta))
        self.radial_shifts, self.angular_shifts, self.angular_sections = (
            int(radial_shifts), int(angular_shifts), int(angular_sections))
        self.hidden, self.activation = [int(h) for h in hidden], activation
        if AEVComputer is None:
            raise ImportError("the bpnn kind needs torchani (pip install 'torchani>=2.9')")
        self.aev = AEVComputer.like_1x(
            num_species=len(self.elements), radial_cutoff=self.cutoff, radial_eta=self.radial_eta,
            radial_num_shifts=self.radial_shifts, angular_cutoff=self.angular_cutoff, angular_eta=self.angular_eta,
            angular_zeta=self.angular_zeta, angular_num_shifts=self.angular_shifts,
            angular_num_sections=self.angular_sections)
        self.aev_length = int(self.aev.radial_len + self.aev.angular_len)
        dims = [self.aev_length, *self.hidden, 1]
        self.networks = ANINetworks({chemical_symbols[z]: AtomicNetwork(dims, activation, bias=True)
                                     for z in self.elements})
        species = torch.full((self.max_z + 1,), -1, dtype=torch.long)
        species[torch.tensor(self.elements)] = torch.arange(len(self.elements))
        self.register_buffer("species_index", species, persistent=False)

    def hyperparameters(self) -> dict[str, Any]:
        return {**super().hyperparameters(), "angular_cutoff": self.angular_cutoff, "radial_eta": self.radial_eta,
                "radial_shifts": self.radial_shifts, "angular_eta": self.angular_eta,
                "angular_zeta": self.angular_zeta, "angular_shifts": self.angular_shifts,
                "angular_sections": self.angular_sections, "hidden": self.hidden, "activation": self.activation}

    def evaluation_values(self) -> tuple[float, float]:
        """Per edge 60 + 32·radial_shifts values, per atom 8 × (AEV length + hidden widths) (radial terms and the
        atomic networks; measured with bench/eval_memory.py, see :meth:`evaluation_bytes` for the angles)."""
        return 60.0 + 32.0 * self.radial_shifts, 8.0 * (self.aev_length + sum(self.hidden))

    def evaluation_bytes(self, inputs: dict[str, torch.Tensor]) -> float:
        """Edges and atoms (:meth:`evaluation_values`) plus 30 + 2·angular_shifts·angular_sections values per
        ordered pair of neighbours within ``angular_cutoff`` (ANI's angular terms; measured: 177 values per unordered
        pair for ethanol-bpnn's 4 × 8, 101 for 3 × 4)."""
        angles = estimated_angles(inputs[K.EDGE_INDEX], int(inputs[K.Z].shape[0]), self.angular_cutoff, self.cutoff)
        per_angle = 30.0 + 2.0 * self.angular_shifts * self.angular_sections
        return super().evaluation_bytes(inputs) + inputs[K.POSITIONS].element_size() * per_angle * angles

    def symmetry_functions(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The AEV G_i of every atom, [n_atoms, n_features], differentiable in positions and cell."""
        z, pos, edge_index = inputs[K.Z], inputs[K.POSITIONS], inputs[K.EDGE_INDEX]
        species = self.species_index[z]
        if not torch.jit.is_scripting():
            self._check_elements(z, species)
        vec = edge_vectors(pos, inputs[K.CELL], inputs[K.BATCH], edge_index, inputs[K.EDGE_SHIFTS])
        keep = _half_pairs(edge_index, inputs[K.EDGE_SHIFTS])
        vec = vec[keep]
        # torchani's convention: pair (a, b) with diff_vector r_a - r_b (+ image shift); ours: r_j + S·cell - r_i
        neighbors = Neighbors(edge_index[:, keep], torch.linalg.vector_norm(vec, dim=1), vec)
        return self.aev.compute_from_neighbors(species.unsqueeze(0), pos.unsqueeze(0), neighbors).squeeze(0)

    @torch.jit.unused
    def _check_elements(self, z: torch.Tensor, species: torch.Tensor) -> None:
        if bool((species < 0).any()):
            unknown = sorted(set(z[species < 0].tolist()))
            raise ValueError(f"elements {unknown} are not among this model's elements {self.elements}")

    def inference_module(self) -> torch.nn.Module:
        """This model compiled with TorchScript (same outputs, no Python per operation: 0.73× the eager time
        of ethanol's energy and forces on one thread); the model itself while training. The script shares
        the parameters and is rebuilt when they are replaced (``.to(dtype)``, another device)."""
        if self.training:
            return self
        cached = _SCRIPTED.get(self)
        if cached is not None and (cached[0].data_ptr(), self.atomref.data_ptr()) == cached[1]:
            return cached[2]
        first = next(self.parameters())  # .to() swaps its data (new data_ptr) and replaces the buffers
        _SCRIPTED[self] = cached = (first, (first.data_ptr(), self.atomref.data_ptr()), torch.jit.script(self))
        return cached[2]

    def atomic_features(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        g = self.symmetry_functions(inputs)
        species = self.species_index[inputs[K.Z]]
        return g, self.networks(species.unsqueeze(0), g.unsqueeze(0), atomic=True).squeeze(0)

    def atomic_outputs(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.atomic_features(inputs)[1]
