"""CGCNN (Xie & Grossman, PRL 120, 145301, 2018) as a property model, in adjacency-list or adjacency-matrix form.

Atoms start from element feature vectors (a table indexed by atomic number, buffer
``atom_features``: :func:`mlcalc.data.elements.element_features` or a CGCNN
``atom_init.json``) embedded to ``atom_fea_len``; edges carry Gaussian-expanded
distances (centres ``dmin``..``cutoff`` every ``step`` Å, width ``step``) to the
``max_neighbors`` nearest atoms within ``cutoff``. ``n_conv`` convolutions:

- ``gated`` (Eq. 4): v_i ← softplus(v_i + BN(Σ_j σ(z_ij W_f + b_f) ⊙ softplus(z_ij W_s + b_s))),
  z_ij = v_i ⊕ v_j ⊕ u_ij (W_f, W_s one ``fc_full`` layer, BN over its output);
- ``shared`` (Eq. 3): v_i ← softplus(BN(Σ_j (v_j ⊕ u_ij) W_c) + v_i W_s + b).

Pooling (``mean``, ``max``, ``sum``) over atoms, then ``n_h`` hidden layers of
``h_fea_len`` and an output: a standardised value per target (``regression``, MSE) or
two class logits (``classification``, NLL; the model returns P(class 1)).

``form="list"`` computes on the edge list (one row per edge of the batch);
``form="matrix"`` on dense padded tensors [graphs, max atoms, max_neighbors] with
masks, as in the original code. Both use the same weights and give the same outputs.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch_geometric.utils import scatter

from mlcalc import keys as K
from mlcalc.crystal_graph import DEFAULT_MAX_NEIGHBORS, DEFAULT_RADIUS, nearest_edges
from mlcalc.model import PropertyModel, register_kind
from .layers import edge_lengths

__all__ = ["CGCNNModel", "CONVOLUTIONS", "POOLINGS", "FORMS", "TASKS"]

CONVOLUTIONS = ("gated", "shared")
POOLINGS = ("mean", "max", "sum")
FORMS = ("list", "matrix")
TASKS = ("regression", "classification")


def _check(name: str, value: str, options: tuple[str, ...]) -> str:
    if value not in options:
        raise ValueError(f"unknown CGCNN {name} {value!r}; choose one of {', '.join(options)}")
    return value


def _masked(norm: nn.Module, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``norm`` over the entries of ``x`` [..., C] where ``mask`` [...] is true; zeros elsewhere."""
    out = x.new_zeros(x.shape)
    out[mask] = norm(x[mask])
    return out


class _Dense:
    """A batch as padded tensors: atoms [B, A], neighbors [B, A, M] (local indices), masks."""

    def __init__(self, batch: torch.Tensor, n_atoms: torch.Tensor, j: torch.Tensor, i: torch.Tensor, m: int):
        n_graphs, self.width = len(n_atoms), int(n_atoms.max())
        first_atom = torch.cumsum(n_atoms, 0) - n_atoms
        local = torch.arange(len(batch), device=batch.device) - first_atom[batch]
        self.atom = (batch, local)
        self.atom_mask = torch.zeros(n_graphs, self.width, dtype=torch.bool, device=batch.device)
        self.atom_mask[self.atom] = True
        counts = torch.bincount(i, minlength=len(batch))
        slot = torch.arange(len(i), device=i.device) - (torch.cumsum(counts, 0) - counts)[i]
        self.edge = (batch[i], local[i], slot)
        self.mask = torch.zeros(n_graphs, self.width, m, dtype=torch.bool, device=batch.device)
        self.mask[self.edge] = True
        self.neighbor = torch.zeros(n_graphs, self.width, m, dtype=torch.long, device=batch.device)
        self.neighbor[self.edge] = local[j]

    def atoms(self, values: torch.Tensor) -> torch.Tensor:
        """Per-atom rows [N, C] -> [B, A, C] (zeros in padding)."""
        out = values.new_zeros(*self.atom_mask.shape, values.shape[1])
        out[self.atom] = values
        return out

    def edges(self, values: torch.Tensor) -> torch.Tensor:
        """Per-edge rows [E, C] -> [B, A, M, C] (zeros in padding)."""
        out = values.new_zeros(*self.mask.shape, values.shape[1])
        out[self.edge] = values
        return out

    def neighbors(self, dense_atoms: torch.Tensor) -> torch.Tensor:
        """[B, A, C] -> each neighbor's row [B, A, M, C]."""
        b, a, m = self.neighbor.shape
        index = self.neighbor.reshape(b, a * m, 1).expand(-1, -1, dense_atoms.shape[2])
        return torch.gather(dense_atoms, 1, index).reshape(b, a, m, -1)


class GatedConv(nn.Module):
    """CGCNN Eq. 4 (see module docstring); ``fc_full`` [2F+G -> 2F], ``bn1`` (2F), ``bn2`` (F)."""

    def __init__(self, atom_fea_len: int, nbr_fea_len: int, batch_norm: bool):
        super().__init__()
        f = atom_fea_len
        self.fc_full = nn.Linear(2 * f + nbr_fea_len, 2 * f)
        self.bn1 = nn.BatchNorm1d(2 * f) if batch_norm else nn.Identity()
        self.bn2 = nn.BatchNorm1d(f) if batch_norm else nn.Identity()

    def _gate(self, z: torch.Tensor) -> torch.Tensor:
        gate, core = z.chunk(2, dim=-1)
        return torch.sigmoid(gate) * F.softplus(core)

    def list_form(self, v: torch.Tensor, u: torch.Tensor, j: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        z = self.bn1(self.fc_full(torch.cat([v[i], v[j], u], dim=1)))
        summed = torch.zeros_like(v).index_add(0, i, self._gate(z))
        return F.softplus(v + self.bn2(summed))

    def matrix_form(self, v: torch.Tensor, u: torch.Tensor, dense: _Dense) -> torch.Tensor:
        own = v.unsqueeze(2).expand(-1, -1, u.shape[2], -1)
        z = _masked(self.bn1, self.fc_full(torch.cat([own, dense.neighbors(v), u], dim=3)), dense.mask)
        summed = (self._gate(z) * dense.mask.unsqueeze(3)).sum(dim=2)
        return F.softplus(v + _masked(self.bn2, summed, dense.atom_mask)) * dense.atom_mask.unsqueeze(2)


class SharedConv(nn.Module):
    """CGCNN Eq. 3 (see module docstring); ``fc_neighbor`` [F+G -> F, no bias], ``fc_self`` [F -> F], ``bn2`` (F)."""

    def __init__(self, atom_fea_len: int, nbr_fea_len: int, batch_norm: bool):
        super().__init__()
        f = atom_fea_len
        self.fc_neighbor = nn.Linear(f + nbr_fea_len, f, bias=False)
        self.fc_self = nn.Linear(f, f)
        self.bn2 = nn.BatchNorm1d(f) if batch_norm else nn.Identity()

    def list_form(self, v: torch.Tensor, u: torch.Tensor, j: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        summed = torch.zeros_like(v).index_add(0, i, self.fc_neighbor(torch.cat([v[j], u], dim=1)))
        return F.softplus(self.bn2(summed) + self.fc_self(v))

    def matrix_form(self, v: torch.Tensor, u: torch.Tensor, dense: _Dense) -> torch.Tensor:
        messages = self.fc_neighbor(torch.cat([dense.neighbors(v), u], dim=3)) * dense.mask.unsqueeze(3)
        out = F.softplus(_masked(self.bn2, messages.sum(dim=2), dense.atom_mask) + self.fc_self(v))
        return out * dense.atom_mask.unsqueeze(2)


@register_kind("cgcnn")
class CGCNNModel(PropertyModel):
    """Crystal graph convolutional network; hyperparameters as in CGCNN's ``main.py`` (see module docstring)."""

    def __init__(self, elements: Sequence[int], targets: Sequence[str], units: Sequence[str],
                 extensive: Sequence[bool], cutoff: float = DEFAULT_RADIUS, periodic: bool = True,
                 max_neighbors: int | None = DEFAULT_MAX_NEIGHBORS, atom_fea_len: int = 64, h_fea_len: int = 128,
                 n_conv: int = 3, n_h: int = 1, conv: str = "gated", pooling: str = "mean", form: str = "list",
                 task: str = "regression", dmin: float = 0.0, step: float = 0.2, n_atom_features: int | None = None,
                 batch_norm: bool = True):
        super().__init__(elements, cutoff, targets, units, extensive, periodic)
        from mlcalc.data.elements import MAX_Z, element_features

        if min(atom_fea_len, h_fea_len, n_conv, n_h) < 1 or (max_neighbors is not None and max_neighbors < 1):
            raise ValueError("CGCNN sizes atom_fea_len, h_fea_len, n_conv, n_h and max_neighbors must be >= 1")
        if not (step > 0 and 0 <= dmin < cutoff):
            raise ValueError(f"CGCNN distance expansion needs step > 0 and 0 <= dmin < cutoff, got {dmin}, {step}")
        task = _check("task", task, TASKS)
        if task == "classification" and len(self.targets) != 1:
            raise ValueError(f"CGCNN classification predicts one binary target, got {self.targets}")
        default = element_features()
        n_atom_features = default.shape[1] if n_atom_features is None else int(n_atom_features)
        self.settings = {"max_neighbors": None if max_neighbors is None else int(max_neighbors),
                         "atom_fea_len": int(atom_fea_len), "h_fea_len": int(h_fea_len), "n_conv": int(n_conv),
                         "n_h": int(n_h), "conv": _check("conv", conv, CONVOLUTIONS),
                         "pooling": _check("pooling", pooling, POOLINGS), "form": _check("form", form, FORMS),
                         "task": task, "dmin": float(dmin), "step": float(step), "n_atom_features": n_atom_features,
                         "batch_norm": bool(batch_norm)}
        table = default if n_atom_features == default.shape[1] else np.zeros((MAX_Z + 1, n_atom_features), np.float32)
        self.register_buffer("atom_features", torch.as_tensor(table))
        self.register_buffer("centres", torch.arange(dmin, self.cutoff + step, step), persistent=False)
        f, h = self.settings["atom_fea_len"], self.settings["h_fea_len"]
        self.embedding = nn.Linear(n_atom_features, f)
        layer = GatedConv if conv == "gated" else SharedConv
        self.convs = nn.ModuleList(layer(f, len(self.centres), batch_norm) for _ in range(self.settings["n_conv"]))
        self.conv_to_fc = nn.Linear(f, h)
        self.fcs = nn.ModuleList(nn.Linear(h, h) for _ in range(self.settings["n_h"] - 1))
        self.fc_out = nn.Linear(h, 2 if task == "classification" else len(self.targets))

    @property
    def max_neighbors(self) -> int | None:
        return self.settings["max_neighbors"]

    @property
    def classification(self) -> bool:
        return self.settings["task"] == "classification"

    def hyperparameters(self) -> dict[str, Any]:
        return {**super().hyperparameters(), **self.settings}

    def set_atom_features(self, table: np.ndarray | torch.Tensor) -> None:
        """Element feature table [MAX_Z + 1, n_atom_features] (row z: element z), e.g. from ``atom_init.json``."""
        table = torch.as_tensor(table, dtype=self.atom_features.dtype)
        if table.shape != self.atom_features.shape:
            raise ValueError(f"element feature table must be {tuple(self.atom_features.shape)} for this model "
                             f"(set n_atom_features), got {tuple(table.shape)}")
        self.atom_features.copy_(table)

    def expand(self, r: torch.Tensor) -> torch.Tensor:
        """Gaussian distance expansion exp(-(r - μ_k)²/step²), [..., n_centres]."""
        return torch.exp(-((r.unsqueeze(-1) - self.centres.to(r.dtype)) ** 2) / self.settings["step"] ** 2)

    def evaluated_graph(self, inputs: dict[str, torch.Tensor]) -> tuple[int, int]:
        """``(atoms, edges)`` convolved: at most ``max_neighbors`` of the inputs' pairs per atom."""
        atoms, edges = super().evaluated_graph(inputs)
        return atoms, edges if self.max_neighbors is None else min(edges, atoms * self.max_neighbors)

    def evaluation_bytes(self, inputs: dict[str, torch.Tensor]) -> float:
        """No gradients: 32 values per pair of the inputs (lengths, the nearest-neighbour selection), per convolved
        edge the distance expansion and 6 × atom_fea_len, per atom 16 × (atom_fea_len + h_fea_len) (measured: 25 per
        input pair in all, 1,500 edges convolved of 49,824 pairs; bench/eval_memory.py)."""
        atoms, edges = self.evaluated_graph(inputs)
        pairs = int(inputs[K.EDGE_INDEX].shape[1]) if K.EDGE_INDEX in inputs else 0
        f, h = self.settings["atom_fea_len"], self.settings["h_fea_len"]
        values = 32.0 * pairs + (len(self.centres) + 6.0 * f) * edges + 16.0 * (f + h) * atoms
        return inputs[K.POSITIONS].element_size() * values

    def _edges(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(j, i, r) of the edges within the cutoff, at most ``max_neighbors`` per atom, sorted by i then r."""
        r = edge_lengths(inputs)
        edge_index = inputs[K.EDGE_INDEX]
        inside = torch.nonzero(r <= self.cutoff).squeeze(1)
        m = self.max_neighbors if self.max_neighbors is not None else len(r) + 1
        keep = inside[nearest_edges(edge_index[1, inside], r[inside], len(inputs[K.Z]), m)]
        return edge_index[0, keep], edge_index[1, keep], r[keep]

    def _pool(self, v: torch.Tensor, batch: torch.Tensor, n_atoms: torch.Tensor) -> torch.Tensor:
        kind = self.settings["pooling"]
        if kind == "max":
            return scatter(v, batch, dim=0, dim_size=len(n_atoms), reduce="max")
        total = v.new_zeros(len(n_atoms), v.shape[1]).index_add(0, batch, v)
        return total / n_atoms.to(v.dtype).unsqueeze(1) if kind == "mean" else total

    def crystal_features(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Pooled atom features after the convolutions, [n_graphs, atom_fea_len]."""
        j, i, r = self._edges(inputs)
        batch, n_atoms = inputs[K.BATCH], inputs[K.N_ATOMS]
        v = self.embedding(self.atom_features[inputs[K.Z]].to(self.embedding.weight.dtype))
        u = self.expand(r).to(v.dtype)
        if self.settings["form"] == "list":
            for conv in self.convs:
                v = conv.list_form(v, u, j, i)
            return self._pool(v, batch, n_atoms)
        m = self.max_neighbors if self.max_neighbors is not None else int(torch.bincount(i).max())
        dense = _Dense(batch, n_atoms, j, i, m)
        v, u = dense.atoms(v), dense.edges(u)
        for conv in self.convs:
            v = conv.matrix_form(v, u, dense)
        mask = dense.atom_mask.unsqueeze(2)
        kind = self.settings["pooling"]
        if kind == "max":
            return v.masked_fill(~mask, float("-inf")).amax(dim=1)
        total = v.sum(dim=1)
        return total / n_atoms.to(v.dtype).unsqueeze(1) if kind == "mean" else total

    def head(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Network output: standardised targets [n_graphs, n_targets] or class logits [n_graphs, 2]."""
        h = F.softplus(self.conv_to_fc(F.softplus(self.crystal_features(inputs))))
        for fc in self.fcs:
            h = F.softplus(fc(h))
        return self.fc_out(h)

    def standardised_outputs(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.classification:
            raise ValueError("a CGCNN classifier has no standardised outputs; use log_probabilities")
        return self.head(inputs)

    def log_probabilities(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Classification: log P(class 0), log P(class 1) per structure, [n_graphs, 2]."""
        return F.log_softmax(self.head(inputs), dim=1)

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.classification:
            return {self.targets[0]: self.log_probabilities(inputs)[:, 1].exp()}
        return super().forward(inputs)
