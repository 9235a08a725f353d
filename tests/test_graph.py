"""Neighbor pairs (vesin) against ASE's independent neighbor list; batching."""

import numpy as np
import torch
from ase.build import bulk
from ase.neighborlist import neighbor_list

from mlcalc import keys as K
from mlcalc.graph import atoms_to_batch, atoms_to_graph, edge_vectors, neighbor_pairs


def _pair_set(i, j, S):
    return sorted(zip(i.tolist(), j.tolist(), map(tuple, np.round(S).astype(int).tolist())))


def test_molecule_pairs_match_ase(ethanol):
    edge_index, shifts = neighbor_pairs(ethanol.positions, ethanol.cell.array, ethanol.pbc, 2.0)
    i, j, S = neighbor_list("ijS", ethanol, 2.0)
    assert _pair_set(edge_index[1], edge_index[0], shifts) == _pair_set(i, j, S)
    assert 0 < edge_index.shape[1] < len(ethanol) * (len(ethanol) - 1)


def test_periodic_pairs_in_cell_smaller_than_cutoff_match_ase():
    atoms = bulk("Cu", "fcc", a=3.6)  # 1 atom, cell vectors 2.5 Å, cutoff 5 Å
    atoms.rattle(0.01, seed=0)
    edge_index, shifts = neighbor_pairs(atoms.positions, atoms.cell.array, atoms.pbc, 5.0)
    i, j, S = neighbor_list("ijS", atoms, 5.0)
    assert len(i) > 40
    assert _pair_set(edge_index[1], edge_index[0], shifts) == _pair_set(i, j, S)


def test_mixed_periodicity_slab_matches_ase():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((1, 1, 2))
    atoms.pbc = [True, True, False]
    edge_index, shifts = neighbor_pairs(atoms.positions, atoms.cell.array, atoms.pbc, 3.0)
    i, j, S = neighbor_list("ijS", atoms, 3.0)
    assert _pair_set(edge_index[1], edge_index[0], shifts) == _pair_set(i, j, S)
    assert np.all(shifts[:, 2] == 0)


def test_edge_vectors_have_pair_distances(small_cell):
    graph = atoms_to_batch([small_cell], cutoff=4.0, dtype=torch.float64)
    vec = edge_vectors(graph[K.POSITIONS], graph[K.CELL], graph[K.BATCH], graph[K.EDGE_INDEX], graph[K.EDGE_SHIFTS])
    _, _, d = neighbor_list("ijd", small_cell, 4.0)
    np.testing.assert_allclose(np.sort(vec.norm(dim=1).numpy()), np.sort(d), atol=1e-12)


def test_batching_offsets_edges_and_keeps_labels(ethanol, small_cell):
    g1 = atoms_to_graph(ethanol, cutoff=3.0)
    g2 = atoms_to_graph(small_cell, cutoff=3.0)
    batch = atoms_to_batch([ethanol, small_cell], cutoff=3.0)
    assert batch[K.EDGE_INDEX].shape[1] == g1[K.EDGE_INDEX].shape[1] + g2[K.EDGE_INDEX].shape[1]
    second = batch[K.EDGE_INDEX][:, g1[K.EDGE_INDEX].shape[1]:]
    assert second.min() >= len(ethanol)
    assert batch[K.CELL].shape == (2, 3, 3) and batch[K.BATCH].tolist() == [0] * 9 + [1] * 2
    assert torch.equal(batch[K.PBC], torch.tensor([[False] * 3, [True] * 3]))
