"""Start conformers of a molecule: its rotatable torsions turned in steps of 120°.

A bond is a rotor when it is in no ring, both its atoms have other neighbours, and the
smaller side it separates is not a symmetric top (a pivot with three identical terminal
atoms, such as CH3, whose 120° turns give the same structure). Ethanol has one rotor (the
OH torsion: trans and two gauche starts); ring molecules such as uracil have none.
Bonds come from :func:`mlcalc.bonds.bonded_pairs` (ASE's natural cutoffs, scaled) on the given geometry.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from ase import Atoms

from mlcalc.bonds import bond_graph

__all__ = ["rotors", "conformer"]

_TURN = 120.0  # degrees per step
_MIN_DISTANCE = 0.75  # Å: a turned structure with atoms closer than this is not used


def _side(graph: list[set[int]], start: int, cut: int) -> set[int] | None:
    """Atoms reached from ``start`` without crossing to ``cut``; None if ``cut`` is reached (a ring)."""
    seen, queue = {start}, deque([start])
    while queue:
        a = queue.popleft()
        for b in graph[a]:
            if a == start and b == cut:
                continue
            if b == cut:
                return None
            if b not in seen:
                seen.add(b)
                queue.append(b)
    return seen


def rotors(atoms: Atoms) -> list[tuple[int, int, list[int]]]:
    """The rotatable bonds as (fixed atom, pivot atom, atoms that turn with the pivot's side)."""
    graph = bond_graph(atoms)
    found = []
    for a in range(len(atoms)):
        for b in sorted(graph[a]):
            if b < a or len(graph[a]) < 2 or len(graph[b]) < 2:
                continue
            side_b, side_a = _side(graph, b, a), _side(graph, a, b)
            if side_b is None or side_a is None:
                continue  # in a ring
            fixed, pivot, moving = (a, b, side_b) if len(side_b) <= len(side_a) else (b, a, side_a)
            others = sorted(graph[pivot] - {fixed})
            terminal = [o for o in others if len(graph[o]) == 1]
            if len(others) == 3 and len(terminal) == 3 and len({int(atoms.numbers[o]) for o in others}) == 1:
                continue  # a symmetric top: turning it by 120° changes nothing
            found.append((fixed, pivot, sorted(moving)))
    return found


def conformer(atoms: Atoms, index: int) -> tuple[Atoms, list[float]]:
    """Conformer ``index`` of ``atoms`` and the turn (degrees) of each rotor.

    Index 0 is ``atoms`` itself; index k turns rotor r by 120° × (digit r of k in base 3),
    so indices 0..3^n − 1 enumerate the n rotors' 120° staggerings (then they repeat). A
    turned structure with atoms closer than 0.75 Å is replaced by ``atoms`` unturned.
    """
    if index < 0:
        raise ValueError(f"conformer index must be at least 0, got {index}")
    found = rotors(atoms)
    out = atoms.copy()
    if not found:
        return out, []
    index %= 3 ** len(found)
    turns = [_TURN * ((index // 3 ** r) % 3) for r in range(len(found))]
    for (fixed, pivot, moving), angle in zip(found, turns):
        if angle:
            part = out[moving]
            axis = out.positions[pivot] - out.positions[fixed]
            part.rotate(angle, axis, center=out.positions[pivot])
            out.positions[moving] = part.positions
    d = out.get_all_distances()[np.triu_indices(len(out), 1)]
    if d.size and d.min() < _MIN_DISTANCE:
        return atoms.copy(), [0.0] * len(found)
    return out, turns
