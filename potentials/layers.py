"""Small building blocks shared by the property models: edge lengths, cutoffs, radial bases, MLPs."""

from __future__ import annotations

import math

import torch
from torch import nn

from mlcalc import keys as K
from mlcalc.graph import edge_vectors

__all__ = ["edge_lengths", "cosine_cutoff", "polynomial_cutoff", "ExpNormalBasis", "mlp"]


def edge_lengths(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Length of every edge of a batch dict, [n_edges] Å (differentiable in positions and cell)."""
    vec = edge_vectors(inputs[K.POSITIONS], inputs[K.CELL], inputs[K.BATCH], inputs[K.EDGE_INDEX],
                       inputs[K.EDGE_SHIFTS])
    return torch.linalg.vector_norm(vec, dim=1)


def cosine_cutoff(r: torch.Tensor, cutoff: float) -> torch.Tensor:
    """½(cos(πr/rc) + 1) inside the cutoff, 0 beyond; same shape as ``r``."""
    return torch.where(r < cutoff, 0.5 * (torch.cos(math.pi * r / cutoff) + 1.0), torch.zeros_like(r))


def polynomial_cutoff(r: torch.Tensor, cutoff: float) -> torch.Tensor:
    """1 - 6x⁵ + 15x⁴ - 10x³ with x = r/rc (smooth to second order, PhysNet), 0 beyond."""
    x = r / cutoff
    return torch.where(x < 1, 1 - 6 * x**5 + 15 * x**4 - 10 * x**3, torch.zeros_like(r))


class ExpNormalBasis(nn.Module):
    """PhysNet radial basis exp(-β_k (exp(-r) - μ_k)²)·f_cut(r), [n_edges, n_basis].

    Centres μ_k are spread evenly between exp(-rc) and 1; widths β_k = (2(1 - exp(-rc))/K)⁻².
    """

    def __init__(self, n_basis: int, cutoff: float):
        super().__init__()
        self.cutoff = float(cutoff)
        low = math.exp(-self.cutoff)
        self.register_buffer("centres", torch.linspace(low, 1.0, n_basis))
        self.register_buffer("widths", torch.full((n_basis,), (2 * (1 - low) / n_basis) ** -2))

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        r = r.unsqueeze(1)
        basis = torch.exp(-self.widths * (torch.exp(-r) - self.centres) ** 2)
        return basis * polynomial_cutoff(r, self.cutoff)


def mlp(sizes: list[int], activation: type[nn.Module] = nn.SiLU, last_activation: bool = False) -> nn.Sequential:
    """Linear layers of ``sizes`` with ``activation`` between them (and after the last if asked)."""
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if k < len(sizes) - 2 or last_activation:
            layers.append(activation())
    return nn.Sequential(*layers)
