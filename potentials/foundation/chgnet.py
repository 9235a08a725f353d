"""CHGNet (chgnet's crystal Hamiltonian graph network, e.g. CHGNet 0.3.0) as an mlcalc energy kind.

The network is chgnet's own ``CHGNet``, built by chgnet from its constructor arguments (the
``config`` hyperparameter: chgnet's ``model_args`` as JSON). mlcalc supplies the graph: the
directed atom-graph edges are mlcalc's vesin edges within the atom-graph cutoff (the model's
``cutoff``), paired into undirected bonds, and the angles of the bond graph are built from them
(:mod:`.chgnet_graph`); bond lengths and directions come from :func:`mlcalc.graph.edge_vectors`,
differentiable in positions and cell, so forces and stress come from mlcalc's autograd evaluators
like every kind. chgnet's own forward pass runs on that graph (``CHGNet._compute``) and returns the
per-atom energies of its readout; its composition model (a per-element energy) lives in mlcalc's
``atomref`` (eV) after the import, and its force, stress and magnetic-moment outputs are not used.
Needs the ``foundation`` extra (chgnet); never unpickles anything.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any, ClassVar, Sequence

import torch

from mlcalc import keys as K
from mlcalc.graph import edge_vectors
from mlcalc.graph_size import estimated_angles
from mlcalc.model import EnergyModel, register_kind

from .chgnet_graph import angle_pairs, undirected_bonds
from .extra import require

__all__ = ["CHGNetPotential", "tiny_config"]

#: the largest atomic number CHGNet's embedding has a row for
MAX_Z = 94


def _chgnet(kind: str = "chgnet"):
    return require("chgnet.model.model", "chgnet", kind)


def tiny_config(elements: Sequence[int], cutoff: float, features: int = 8, layers: int = 2) -> dict[str, Any]:
    """A small CHGNet configuration (JSON) for tests: ``features`` per atom, bond and angle, ``layers`` convolutions
    (``elements``: checked against the embedding's 94 rows; CHGNet embeds every element up to Pu)."""
    if max(elements) > MAX_Z:
        raise ValueError(f"CHGNet knows elements up to Z={MAX_Z}; got {max(elements)}")
    return {"atom_fea_dim": features, "bond_fea_dim": features, "angle_fea_dim": features, "composition_model": None,
            "num_radial": 5, "num_angular": 5, "n_conv": layers, "atom_conv_hidden_dim": features,
            "update_bond": True, "bond_conv_hidden_dim": features, "update_angle": True, "angle_layer_hidden_dim": 0,
            "mlp_hidden_dims": [features], "mlp_first": True, "is_intensive": True, "non_linearity": "silu",
            "atom_graph_cutoff": float(cutoff), "bond_graph_cutoff": min(3.0, float(cutoff)), "cutoff_coeff": 8,
            "learnable_rbf": True, "gMLP_norm": "layer", "readout_norm": "layer", "graph_converter_algorithm": "legacy"}


@register_kind("chgnet")
class CHGNetPotential(EnergyModel):
    """A CHGNet network (``config``: chgnet's constructor arguments as JSON) on mlcalc's graph.

    ``elements``: the atomic numbers it answers for (1..94 as imported); ``cutoff``: the atom-graph radius (Å, the
    configuration's ``atom_graph_cutoff``); ``periodic``: False (it describes crystals and molecules alike). Per-element
    energies are ``atomref`` (eV); ``energy_scale`` multiplies the network's per-atom energies (1 as imported).
    """

    #: packages a model of this kind needs (the ``foundation`` extra)
    extra_packages: ClassVar[tuple[str, ...]] = ("chgnet",)

    def __init__(self, elements: Sequence[int], cutoff: float, config: dict, periodic: bool = False,
                 energy_scale: float = 1.0):
        super().__init__(elements, cutoff, periodic, energy_scale)
        model = _chgnet()
        if float(config.get("atom_graph_cutoff", -1)) != self.cutoff:
            raise ValueError(f"cutoff {self.cutoff} Å differs from the network's atom_graph_cutoff "
                             f"{config.get('atom_graph_cutoff')} Å")
        if not config.get("mlp_first", True):
            raise ValueError("CHGNet networks that pool before their readout (mlp_first: false) have no per-atom "
                             "energies; mlcalc takes those with mlp_first: true (the pretrained ones)")
        if config.get("composition_model") is not None:
            raise ValueError("the network's composition model must be None: its per-element energies are the "
                             "model's atomref (mlcalc import moves them there)")
        if max(self.elements) > MAX_Z:
            raise ValueError(f"CHGNet knows elements up to Z={MAX_Z}; got {max(self.elements)}")
        self.config = dict(config)
        with contextlib.redirect_stdout(io.StringIO()):  # CHGNet prints its parameter count
            self.network = model.CHGNet(**self.config)
        self.network.graph_converter = None  # mlcalc builds the graphs
        self.bond_graph_cutoff = float(self.config.get("bond_graph_cutoff", 3.0))  # CHGNet's default

    def hyperparameters(self) -> dict[str, Any]:
        return {**super().hyperparameters(), "config": self.config}

    def _width_depth(self) -> float:
        """Widest feature (atom, bond, angle) times the convolutions."""
        config = self.config
        width = max(int(config.get(key, 64)) for key in ("atom_fea_dim", "bond_fea_dim", "angle_fea_dim"))
        return float(width * int(config.get("n_conv", 4)))

    def evaluation_values(self) -> tuple[float, float]:
        """Per edge and per atom 150 + 11·F·L values (F the widest feature, L the convolutions; measured with
        bench/eval_memory.py: 2761 for CHGNet 0.3.0's 64 × 4, 300 for 8 × 2)."""
        return 150.0 + 11.0 * self._width_depth(), 150.0 + 11.0 * self._width_depth()

    def evaluation_bytes(self, inputs: dict[str, torch.Tensor]) -> float:
        """Edges and atoms (:meth:`evaluation_values`) plus 100 + 25·F·L values per angle of the bond graph (ordered
        pairs of edges within ``bond_graph_cutoff`` leaving one atom; measured: 6356 for 64 × 4, 294 for 8 × 2)."""
        angles = estimated_angles(inputs[K.EDGE_INDEX], int(inputs[K.Z].shape[0]), self.bond_graph_cutoff, self.cutoff)
        per_angle = 100.0 + 25.0 * self._width_depth()
        return super().evaluation_bytes(inputs) + inputs[K.POSITIONS].element_size() * per_angle * angles

    def atomic_outputs(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.atomic_features(inputs)[1]

    def atomic_features(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Atom features before the last convolution [n_atoms, F], per-atom energies without atomref [n_atoms] (eV)."""
        from chgnet.model.model import BatchedGraph

        net = self.network
        z, batch = inputs[K.Z], inputs[K.BATCH]
        edge_index = inputs[K.EDGE_INDEX]
        vec = edge_vectors(inputs[K.POSITIONS], inputs[K.CELL], batch, edge_index, inputs[K.EDGE_SHIFTS])
        centre, neighbour = edge_index[1], edge_index[0]  # vec: r_neighbour + S·cell - r_centre
        lengths = torch.linalg.vector_norm(vec, dim=1)
        directions = -vec / lengths.unsqueeze(1)  # chgnet's bond vector points from the neighbour to the centre
        directed2undirected, undirected2directed = undirected_bonds(centre, neighbour, inputs[K.EDGE_SHIFTS])
        bond_lengths = lengths[undirected2directed]
        first, second = angle_pairs(centre, lengths, self.bond_graph_cutoff)
        bonds = net.bond_basis_expansion
        graph = BatchedGraph(
            atomic_numbers=z.to(torch.int64), bond_bases_ag=bonds.rbf_expansion_ag(bond_lengths),
            bond_bases_bg=bonds.rbf_expansion_bg(bond_lengths),
            angle_bases=(net.angle_basis_expansion(directions[first], directions[second]) if first.numel()
                         else directions.new_zeros(0)),
            batched_atom_graph=torch.stack([centre, neighbour], 1).to(torch.int64),
            batched_bond_graph=torch.stack([centre[first], directed2undirected[first], directed2undirected[second]],
                                           1).to(torch.int64),
            atom_owners=batch, directed2undirected=directed2undirected, atom_positions=[], strains=[], volumes=[])
        out = net._compute(graph, return_site_energies=True, return_atom_feas=True)
        atomic = torch.cat(out["site_energies"])
        nodes = torch.cat(out["atom_fea"]) if "atom_fea" in out else atomic.unsqueeze(1)
        return nodes, atomic
