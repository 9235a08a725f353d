"""Neighbor pairs reused within a skin: the same forces as a fresh search at every MD step."""

import numpy as np
import pytest
import torch
from ase import units
from ase.md.verlet import VelocityVerlet

from mlcalc import MLCalc
from mlcalc.graph import neighbor_pairs
from mlcalc.md import initialise_velocities
from mlcalc.neighbor_cache import NeighborCache
from mlcalc.testing import tiny_potential


def _fresh(model):
    """A calculator that searches anew on every call (skin 0)."""
    calc = MLCalc(model, dtype=torch.float64, min_distance=0)
    calc.neighbors = NeighborCache(model.cutoff, skin=0.0)
    return calc


@pytest.mark.parametrize("kind", ["torchmdnet-et", "torchmdnet-tensornet", "sum"])
def test_reused_pairs_give_the_forces_of_a_rebuild_at_every_md_step(kind, ethanol):
    model = tiny_potential(kind, elements=(1, 6, 8))
    calc = MLCalc(model, dtype=torch.float64, min_distance=0)  # a random model: atoms may come close
    calc.neighbors = NeighborCache(model.cutoff, skin=0.3)
    fresh = _fresh(model)
    ethanol.calc = calc
    initialise_velocities(ethanol, 600, seed=1)
    dyn = VelocityVerlet(ethanol, 0.5 * units.fs)
    for _ in range(80):
        dyn.run(1)
        twin = ethanol.copy()
        twin.calc = fresh
        np.testing.assert_allclose(ethanol.get_forces(), twin.get_forces(), rtol=0, atol=1e-10)
        assert ethanol.get_potential_energy() == pytest.approx(twin.get_potential_energy(), abs=1e-10)
    assert 3 <= calc.neighbors.builds < 40  # it crossed several rebuilds and skipped most searches
    assert fresh.neighbors.builds == 80


def test_reuse_in_a_small_periodic_cell_and_after_a_cell_change(small_cell):
    model = tiny_potential("torchmdnet-et", elements=(6,), periodic=True)
    calc, fresh = MLCalc(model, dtype=torch.float64), _fresh(model)
    rng = np.random.default_rng(0)
    atoms = small_cell.copy()
    for step in range(12):
        atoms.positions += rng.normal(scale=0.03, size=atoms.positions.shape)
        if step == 6:
            atoms.set_cell(atoms.cell.array * 1.02, scale_atoms=True)
        for c in (calc, fresh):
            c.reset()
        a, b = atoms.copy(), atoms.copy()
        a.calc, b.calc = calc, fresh
        np.testing.assert_allclose(a.get_forces(), b.get_forces(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(a.get_stress(), b.get_stress(), rtol=0, atol=1e-10)
    assert 2 <= calc.neighbors.builds < 12


def test_cache_returns_exactly_the_pairs_within_the_cutoff(rattled_ethanol):
    cache = NeighborCache(cutoff=2.0, skin=1.0)
    pos = rattled_ethanol.positions
    args = (rattled_ethanol.numbers, np.zeros((1, 3, 3)), np.zeros((1, 3), dtype=bool), [len(pos)])
    for shift in (0.0, 0.15, 0.28):  # atoms move up to 0.28·√3 < skin/2
        moved = pos + shift * np.sin(np.arange(pos.size)).reshape(pos.shape)
        edges, _ = cache.pairs(moved, *args)
        expected, _ = neighbor_pairs(moved, np.zeros((3, 3)), np.zeros(3, dtype=bool), 2.0)
        assert sorted(map(tuple, edges.T)) == sorted(map(tuple, expected.T))
    assert cache.builds == 1
    cache.pairs(pos + 0.6, *args)  # a uniform shift of 0.6·√3 Å > skin/2: searched anew
    assert cache.builds == 2
    with pytest.raises(ValueError, match="need cutoff > 0 and skin >= 0"):
        NeighborCache(cutoff=2.0, skin=-1)


def test_structures_of_a_batch_are_searched_again_only_when_they_need_it(rattled_ethanol):
    """Two molecules: one jumps, the other creeps (small moves adding up past skin/2); pairs always exact."""
    cache = NeighborCache(cutoff=2.0, skin=0.4)
    pos = rattled_ethanol.positions
    numbers = np.tile(rattled_ethanol.numbers, 2)
    cells, pbc = np.zeros((2, 3, 3)), np.zeros((2, 3), dtype=bool)
    rng = np.random.default_rng(1)
    jumper, creeper = pos.copy(), pos.copy()
    builds = []
    for step in range(12):
        jumper = jumper + (0.5 if step % 3 == 0 else 0.0)  # 0.5·√3 Å at once: searched anew
        creeper = creeper + rng.normal(scale=0.03, size=pos.shape)
        edges, _ = cache.pairs(np.concatenate([jumper, creeper]), numbers, cells, pbc, [9, 9])
        expected = [neighbor_pairs(p, cells[0], pbc[0], 2.0)[0] for p in (jumper, creeper)]
        expected = np.concatenate([expected[0], expected[1] + 9], axis=1)
        assert sorted(map(tuple, edges.T)) == sorted(map(tuple, expected.T))
        builds.append(cache.builds)
    assert 2 + 3 + 1 <= builds[-1] < 12  # first call (both), jumps at steps 3, 6, 9, a creep rebuild or more
