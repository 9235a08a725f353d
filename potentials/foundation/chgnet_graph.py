"""CHGNet's bond and angle graphs from mlcalc's edges (a full vesin neighbour list: each pair in both directions).

CHGNet describes a bond twice: as two directed edges (centre i to neighbour j with image S, and j
to i with -S) that share one undirected bond, whose features both use; and as a node of its line
graph, whose edges are the angles: ordered pairs of distinct directed edges leaving the same
atom, both shorter than the bond-graph cutoff (3 Å for the pretrained models). Integer
bookkeeping only (no gradients); the lengths and directions come from mlcalc's differentiable
edge vectors. Orders differ from chgnet's own converter; every sum over them is the same.
"""

from __future__ import annotations

import torch

__all__ = ["undirected_bonds", "angle_pairs"]


def undirected_bonds(centre: torch.Tensor, neighbour: torch.Tensor, shifts: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(directed2undirected [n_edges], undirected2directed [n_bonds])`` of directed edges centre -> neighbour
    + ``shifts`` (integer cell images [n_edges, 3]); every edge's reverse must be among them (a full list)."""
    shifts = shifts.to(torch.int64)
    n_edges = centre.numel()
    if n_edges == 0:
        empty = centre.new_zeros(0, dtype=torch.int64)
        return empty, empty
    # an edge is its bond's representative when it leaves the lower index (or, from an atom to its own image,
    # points along a positive image); a bond's key is its representative's (centre, neighbour, image)
    signs = shifts.sign()
    leading = signs.gather(1, (signs != 0).to(torch.int64).argmax(1, keepdim=True)).squeeze(1)  # first non-zero
    representative = (centre < neighbour) | ((centre == neighbour) & (leading > 0))
    a = torch.where(representative, centre, neighbour).to(torch.int64)
    b = torch.where(representative, neighbour, centre).to(torch.int64)
    s = torch.where(representative.unsqueeze(1), shifts, -shifts)
    span = int(shifts.abs().max()) * 2 + 1
    n = int(torch.maximum(centre.max(), neighbour.max())) + 1
    s = s + span // 2  # images as digits 0..span-1
    key = (((a * n + b) * span + s[:, 0]) * span + s[:, 1]) * span + s[:, 2]
    keys, directed2undirected = torch.unique(key, return_inverse=True)
    undirected2directed = torch.full((keys.numel(),), -1, dtype=torch.int64, device=centre.device)
    index = torch.arange(n_edges, device=centre.device)
    undirected2directed[directed2undirected[representative]] = index[representative]
    if bool((undirected2directed < 0).any()) or 2 * keys.numel() != n_edges:
        raise ValueError("CHGNet needs every edge with its reverse (a full neighbour list); some edge has none")
    return directed2undirected, undirected2directed


def angle_pairs(centre: torch.Tensor, lengths: torch.Tensor, cutoff: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(first, second)`` edge indices [n_angles]: every ordered pair of distinct edges that leave the same
    ``centre`` atom, both shorter than ``cutoff`` (Å; ``lengths`` [n_edges], not differentiated)."""
    short = torch.nonzero(lengths.detach() < cutoff).squeeze(1)
    short = short[torch.argsort(centre[short], stable=True)]
    owner = centre[short].to(torch.int64)
    if owner.numel() == 0:
        return short, short
    counts = torch.bincount(owner)
    start = torch.cumsum(counts, 0) - counts  # where each atom's short edges begin in ``short``
    per_edge = counts[owner]  # partners of each short edge, itself included
    first = torch.repeat_interleave(torch.arange(short.numel(), device=short.device), per_edge)
    offset = torch.arange(first.numel(), device=short.device) - torch.repeat_interleave(
        torch.cumsum(per_edge, 0) - per_edge, per_edge)
    second = start[owner[first]] + offset
    keep = first != second
    return short[first[keep]], short[second[keep]]
