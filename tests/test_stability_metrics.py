"""The transfer study's metrics on constructed data: bond stability time, h(r) and its MAE, replica error bars."""

import numpy as np
import pytest
from ase.build import bulk, molecule
from ase.neighborlist import natural_cutoffs, neighbor_list

from mlcalc.analysis.stability.replicas import exceeds_noise, pool_samples, replica_stats
from mlcalc.analysis.stability.bonds import bond_lengths, bond_pairs, stability_time
from mlcalc.analysis.stability.structure import distance_histogram, h_mae


def jittered(atoms, n_frames, seed, sigma=0.005):
    return atoms.positions + np.random.default_rng(seed).normal(scale=sigma, size=(n_frames, len(atoms), 3))


def test_ethanol_has_its_eight_bonds():
    ethanol = molecule("CH3CH2OH")
    pairs = bond_pairs(ethanol)
    symbols = sorted("".join(sorted(ethanol[int(i)].symbol + ethanol[int(j)].symbol)) for i, j in pairs)
    assert symbols == ["CC", "CH", "CH", "CH", "CH", "CH", "CO", "HO"]
    lengths = bond_lengths(ethanol.positions[None], pairs)
    assert lengths.shape == (1, 8) and np.allclose(lengths[0], ethanol.get_distances(pairs[:, 0], pairs[:, 1]))


@pytest.mark.parametrize("atoms", [molecule("C6H6"), bulk("Cu", cubic=True).repeat(2)], ids=["benzene", "copper"])
def test_vesin_bonds_are_ases_natural_cutoff_bonds(atoms):
    atoms.rattle(0.05, seed=1)
    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=1.2))
    expected = np.unique(np.stack([i[i < j], j[i < j]], axis=1), axis=0)
    assert len(expected) and np.array_equal(bond_pairs(atoms), expected)


def test_stability_time_finds_the_frame_where_a_bond_breaks():
    ethanol = molecule("CH3CH2OH")
    pairs = bond_pairs(ethanol)
    k = next(n for n, (i, j) in enumerate(pairs) if {ethanol[int(i)].symbol, ethanol[int(j)].symbol} == {"O", "H"})
    i, j = (int(x) for x in pairs[k])
    hydrogen, oxygen = (i, j) if ethanol[i].symbol == "H" else (j, i)
    unit = (ethanol.positions[hydrogen] - ethanol.positions[oxygen]) / ethanol.get_distance(hydrogen, oxygen)
    times = np.arange(40) * 0.01
    positions = jittered(ethanol, 40, seed=1)
    positions[20:, hydrogen] += 0.11 * np.arange(1, 21)[:, None] * unit  # 0.44 Å at frame 23, 0.55 Å at 24
    means = bond_lengths(jittered(ethanol, 40, seed=2), pairs).mean(axis=0)
    result = stability_time(times, bond_lengths(positions, pairs), means, threshold=0.5, pairs=pairs)
    assert result == {"stable_ps": pytest.approx(0.24), "broke": True, "first_frame": 24, "bond_index": k,
                      "bond": (i, j)}
    intact = stability_time(times, bond_lengths(jittered(ethanol, 40, seed=3), pairs), means)
    assert intact == {"stable_ps": pytest.approx(0.39), "broke": False, "first_frame": None, "bond_index": None,
                      "bond": None}


def test_a_non_finite_bond_length_counts_as_broken():
    lengths = np.ones((5, 2))
    lengths[3, 1] = np.nan
    result = stability_time(np.arange(5.0), lengths, np.ones(2))
    assert result["first_frame"] == 3 and result["bond_index"] == 1 and result["bond"] is None
    with pytest.raises(ValueError, match="shape"):
        stability_time(np.arange(4.0), lengths, np.ones(2))


def test_h_of_identical_runs_agrees_and_of_a_stretched_geometry_does_not():
    ethanol = molecule("CH3CH2OH")
    frames = jittered(ethanol, 30, seed=4)
    centres, h = distance_histogram(frames)
    dr = centres[1] - centres[0]
    assert len(centres) == 500 and dr == pytest.approx(0.02) and h.sum() * dr == pytest.approx(1.0)
    assert h_mae(h, distance_histogram(frames.copy())[1], dr) == 0.0
    stretched = frames.copy()
    stretched[:, 8] += 0.3  # move one H by 0.3 Å
    mae = h_mae(h, distance_histogram(stretched)[1], dr)
    assert 0.1 < mae < 2.0


def test_h_mae_of_disjoint_distances_is_two():
    short, long = np.zeros((3, 2, 3)), np.zeros((3, 2, 3))
    short[:, 1, 0], long[:, 1, 0] = 0.74, 2.0
    centres, h_short = distance_histogram(short)
    assert h_mae(h_short, distance_histogram(long)[1], centres[1] - centres[0]) == pytest.approx(2.0)


def test_replica_stats_and_single_replicas():
    stats = replica_stats([1.0, 2.0, 3.0, np.nan])
    assert stats == {"mean": 2.0, "std": 1.0, "sem": pytest.approx(1 / np.sqrt(3)), "n": 3, "n_nonfinite": 1}
    assert replica_stats([5.0]) == {"mean": 5.0, "std": None, "sem": None, "n": 1, "n_nonfinite": 0}
    assert exceeds_noise([5.0], [1.0, 2.0])["exceeds"] is None


def test_differences_beyond_replica_noise_are_told_apart_from_noise():
    rng = np.random.default_rng(5)
    reference = rng.normal(1.0, 0.1, size=8)
    far = exceeds_noise(rng.normal(1.3, 0.1, size=8), reference)
    near = exceeds_noise(rng.normal(1.0, 0.1, size=8), reference)
    assert far["exceeds"] is True and far["difference"] > 2 * far["noise"]
    assert near["exceeds"] is False and abs(near["difference"]) < 2 * near["noise"]
    assert far["model"]["n"] == far["reference"]["n"] == 8
    # an error metric: only higher is worse (before: an h(r) MAE below the replicas' own was 'beyond noise')
    better = exceeds_noise(rng.normal(0.7, 0.1, size=8), reference, worse="higher")
    assert better["exceeds"] is False and -better["difference"] > 2 * better["noise"]
    assert exceeds_noise(rng.normal(0.7, 0.1, size=8), reference, worse="lower")["exceeds"] is True
    assert exceeds_noise(rng.normal(1.3, 0.1, size=8), reference, worse="higher")["exceeds"] is True
    with pytest.raises(ValueError, match="worse must be None, 'higher' or 'lower', got 'up'"):
        exceeds_noise([1.0, 2.0], [1.0, 2.0], worse="up")


def test_pooling_concatenates_replicas_and_refuses_mismatched_shapes():
    pooled = pool_samples([np.zeros((3, 9, 3)), np.ones((5, 9, 3))])
    assert pooled.shape == (8, 9, 3) and pooled[3:].all()
    with pytest.raises(ValueError, match="shape"):
        pool_samples([np.zeros((3, 9, 3)), np.zeros((3, 8, 3))])
