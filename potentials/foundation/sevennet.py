"""SevenNet (sevenn's E(3)-equivariant NequIP-style network, e.g. SevenNet-0) as an mlcalc energy kind.

The network is sevenn's own, rebuilt by ``sevenn.model_build.build_E3_equivariant_model``
from its configuration (the ``config`` hyperparameter: sevenn's model keys as JSON). mlcalc
supplies the graph: edges and shifts from its one neighbour list (vesin) and edge vectors from
:func:`mlcalc.graph.edge_vectors`, differentiable in positions and cell, so forces and stress
come from mlcalc's autograd evaluators like every kind. sevenn's own force/stress module and
its energy sum are left out; the per-atom energies are summed by :class:`EnergyModel`.

Per-element energies live in mlcalc's ``atomref`` (eV): the import moves sevenn's per-species
energy shift there and zeroes it in the network (E_i = scale[z]·x_i + atomref[z], the same
numbers), so fine-tuning and re-referencing to another level of theory move them as for any
mlcalc energy model. Needs the ``foundation`` extra (sevenn); never unpickles anything.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import torch
from torch import nn

from mlcalc import keys as K
from mlcalc.graph import edge_vectors
from mlcalc.model import EnergyModel, register_kind

from .extra import require

__all__ = ["SevenNetPotential", "MODEL_MODULES_LEFT_OUT", "json_config", "network_config", "tiny_config"]

#: sevenn modules the mlcalc kind leaves out: the energy sum and the forces/stress by sevenn's own autograd
MODEL_MODULES_LEFT_OUT = ("reduce_total_enegy", "force_output", "edge_preprocess")
#: sevenn configuration keys that shape the network besides sevenn's model defaults
_NETWORK_KEYS = ("_number_of_species", "_type_map", "chemical_species", "shift", "scale", "use_modality",
                 "_number_of_modalities", "_modal_map", "use_modal_wise_shift", "use_modal_wise_scale",
                 "use_species_wise_shift_scale", "version")


def _sevenn(kind: str = "sevennet"):
    return require("sevenn.model_build", "sevenn", kind)


def json_config(config: dict[str, Any]) -> dict[str, Any]:
    """The network-shaping part of a sevenn configuration as JSON values (tensors and arrays as lists)."""
    import numpy as np

    from sevenn._const import DEFAULT_E3_EQUIVARIANT_MODEL_CONFIG

    keep = set(DEFAULT_E3_EQUIVARIANT_MODEL_CONFIG) | set(_NETWORK_KEYS)

    def plain(value):
        if isinstance(value, torch.Tensor):
            return value.detach().cpu().tolist()
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return {k: plain(v) for k, v in sorted(config.items()) if k in keep}


def network_config(config: dict[str, Any]) -> dict[str, Any]:
    """A JSON configuration (:func:`json_config`) as sevenn's builder takes it (integer keys of the type map)."""
    out = dict(config)
    out["_type_map"] = {int(z): int(i) for z, i in config["_type_map"].items()}
    # mlcalc runs e3nn's own tensor products on any device; no accelerator backends
    out.update({"cuequivariance_config": {}, "use_flash_tp": False, "use_oeq": False, "_flash_lammps": False})
    return out


def tiny_config(elements: Sequence[int], cutoff: float, channels: int = 4, lmax: int = 1, layers: int = 2) -> dict[str, Any]:
    """A small SevenNet configuration (JSON) for tests: ``channels`` scalars, ``lmax``, ``layers`` convolutions."""
    from ase.data import chemical_symbols
    from sevenn._const import DEFAULT_E3_EQUIVARIANT_MODEL_CONFIG

    elements = sorted(int(z) for z in elements)
    config = json_config({
        **DEFAULT_E3_EQUIVARIANT_MODEL_CONFIG, "cutoff": float(cutoff), "channel": channels, "lmax": lmax,
        "num_convolution_layer": layers, "is_parity": False, "weight_nn_hidden_neurons": [8],
        "radial_basis": {"radial_basis_name": "bessel", "bessel_basis_num": 4},
        "cutoff_function": {"cutoff_function_name": "XPLOR", "cutoff_on": 0.75 * cutoff},
        "self_connection_type": "linear", "conv_denominator": 10.0, "_number_of_species": len(elements),
        "_type_map": {z: k for k, z in enumerate(elements)}, "chemical_species": [chemical_symbols[z] for z in elements],
        "shift": [0.0] * len(elements), "scale": [1.0] * len(elements), "use_modality": False, "version": "0.13.0"})
    return config


@register_kind("sevennet")
class SevenNetPotential(EnergyModel):
    """A SevenNet network (``config``: sevenn's model configuration as JSON) on mlcalc's graph.

    ``elements``: the atomic numbers it answers for (its type map's, or fewer); ``cutoff``: the network's radius (Å);
    ``periodic``: False (it describes crystals and molecules alike; True would refuse Atoms without a cell). Per-element energies are
    ``atomref`` (eV); ``energy_scale`` multiplies the network's per-atom energies (1 as imported).
    """

    #: packages a model of this kind needs (the ``foundation`` extra)
    extra_packages: ClassVar[tuple[str, ...]] = ("sevenn",)
    #: the model-file check's budget for a build (factor × weights + bytes): e3nn's builder allocates tables and
    #: generated code, 40 MB for a tiny network and 150 MB for SevenNet-0's 3.5 MB of weights
    build_allocation: ClassVar[tuple[float, int]] = (50.0, 64 * 2**20)

    def __init__(self, elements: Sequence[int], cutoff: float, config: dict, periodic: bool = False,
                 energy_scale: float = 1.0):
        super().__init__(elements, cutoff, periodic, energy_scale)
        model_build = _sevenn()
        if config.get("use_modality"):
            raise ValueError("multi-fidelity SevenNet models (use_modality, e.g. SevenNet-MF-0) are not supported; "
                             "import a single-fidelity checkpoint such as SevenNet-0")
        if float(config.get("cutoff", -1)) != self.cutoff:
            raise ValueError(f"cutoff {self.cutoff} Å differs from the network configuration's {config.get('cutoff')} Å")
        self.config = dict(config)
        network = model_build.build_E3_equivariant_model(network_config(self.config))
        for key in MODEL_MODULES_LEFT_OUT:
            network.delete_module_by_key(key)
        network.key_grad = None  # mlcalc differentiates its own edge vectors
        self.network = network
        type_map = network.type_map or {}
        if set(self.elements) - set(type_map):  # fewer is fine: a network trained from scratch on a few elements
            raise ValueError(f"elements {sorted(set(self.elements) - set(type_map))} are not in the network's type map "
                             f"{sorted(type_map)}")
        from sevenn.nn.node_embedding import OnehotEmbedding

        self._onehot = tuple(m for m in network.modules() if isinstance(m, OnehotEmbedding))

    def hyperparameters(self) -> dict[str, Any]:
        return {**super().hyperparameters(), "config": self.config}

    def evaluation_values(self) -> tuple[float, float]:
        """Per edge and per atom 100 + 7·channel·(lmax + 1)²·layers values (measured with bench/eval_memory.py:
        34.6k per edge for SevenNet-0's 128 × (2 + 1)² × 5, 215-251 for 4 × (1 + 1)² × 2)."""
        config = self.config
        size = (int(config.get("channel", 128)) * (int(config.get("lmax", 2)) + 1) ** 2
                * int(config.get("num_convolution_layer", 5)))
        return 100.0 + 7.0 * size, 100.0 + 7.0 * size

    def atomic_outputs(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.atomic_features(inputs)[1]

    def atomic_features(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Scalar node features before the readout [n_atoms, F] and per-atom energies without atomref [n_atoms] (eV)."""
        pos = inputs[K.POSITIONS]
        vec = edge_vectors(pos, inputs[K.CELL], inputs[K.BATCH], inputs[K.EDGE_INDEX], inputs[K.EDGE_SHIFTS])
        # sevenn's edge_index is (centre i, neighbour j) with vector r_j - r_i: mlcalc's (j, i) flipped
        data = {"atomic_numbers": inputs[K.Z], "edge_index": inputs[K.EDGE_INDEX].flip(0), "edge_vec": vec,
                "batch": inputs[K.BATCH]}
        data = self.network._preprocess(data)
        nodes = None
        for name, module in self.network._modules.items():
            if name == "reduce_input_to_hidden":
                nodes = data["x"]
            data = module(data)
            if module in self._onehot:  # sevenn's one-hot is float32 whatever the model's dtype (exact cast)
                for key in {module.key_output, module.key_additional_output} - {None}:
                    data[key] = data[key].to(pos.dtype)
        atomic = data["atomic_energy"].squeeze(-1)
        return (nodes if nodes is not None else atomic.unsqueeze(1)), atomic
