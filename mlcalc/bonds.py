"""Which atoms are bonded: the one definition (ASE's natural cutoffs, scaled), for MD monitors, stability
metrics, conformers, MDAnalysis topologies and atom pictures."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.neighborlist import natural_cutoffs

from mlcalc.graph_size import check_periodic_search

__all__ = ["BOND_SCALE", "bonded_pairs", "bond_graph"]

#: ASE's natural cutoffs (covalent radii) are scaled by this to find bonds: at 1.0 a C-H bond
#: (1.09 Å) is longer than the radii's sum (0.76 + 0.31 = 1.07 Å) and would be missed
BOND_SCALE = 1.2


def bonded_pairs(atoms: Atoms, scale: float = BOND_SCALE) -> np.ndarray:
    """Covalently bonded atom pairs [n_bonds, 2] (i < j): distance below ``scale`` × the sum of covalent radii.

    Radii are ASE's natural cutoffs; the pairs come from vesin (mlcalc's neighbor list), periodic images included.
    """
    from vesin import NeighborList  # here: importing vesin loads torch, and `import mlcalc.md` stays light

    if len(atoms) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    radii = np.asarray(natural_cutoffs(atoms, mult=scale), dtype=np.float64)
    pbc = np.asarray(atoms.pbc, dtype=bool)
    box = atoms.cell.array if pbc.any() else np.zeros((3, 3))
    if pbc.any():
        check_periodic_search(len(atoms), box, pbc, 2 * radii.max())
    i, j, d = NeighborList(cutoff=2 * float(radii.max()), full_list=True).compute(
        points=np.ascontiguousarray(atoms.positions, dtype=np.float64), box=box,
        periodic=pbc.tolist() if pbc.any() else False, quantities="ijd")
    keep = (i < j) & (d < radii[i] + radii[j])
    pairs = np.stack([i[keep], j[keep]], axis=1).astype(np.int64)
    return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)


def bond_graph(atoms: Atoms, scale: float = BOND_SCALE) -> list[set[int]]:
    """Each atom's bonded neighbours (:func:`bonded_pairs`)."""
    graph: list[set[int]] = [set() for _ in range(len(atoms))]
    for i, j in bonded_pairs(atoms, scale).tolist():
        graph[i].add(j)
        graph[j].add(i)
    return graph
