"""Bond and angle distributions from MDAnalysis, and the metrics that compare them."""

import numpy as np
import pytest
from ase import Atoms

from mlcalc.analysis import (GeometryDistributions, compare, parse_selection, universe_from_frames, wasserstein,
                             jensen_shannon, common_bins)
from mlcalc.data.molecules import load_molecule


def _co(lengths):
    return [Atoms("CO", positions=[[0, 0, 0], [d, 0, 0]]) for d in lengths]


def _cco(angles_deg, cc=1.52, co=1.43):
    frames = []
    for angle in np.radians(angles_deg):
        frames.append(Atoms("CCO", positions=[[cc, 0, 0], [0, 0, 0], [co * np.cos(angle), co * np.sin(angle), 0]]))
    return frames


def _distributions(frames, selections, **kwargs):
    return GeometryDistributions(universe_from_frames(frames), selections, **kwargs).run().results.distributions


def test_bond_lengths_of_constructed_frames():
    lengths = [1.10, 1.15, 1.20, 1.25, 1.30]
    d = _distributions(_co(lengths), ["C-O", "O-C"])
    for name in ("C-O", "O-C"):
        np.testing.assert_allclose(d[name].values[:, 0], lengths, atol=1e-6)
        assert d[name].mean == pytest.approx(1.2, abs=1e-6)
        assert d[name].std == pytest.approx(np.std(lengths), abs=1e-6)
        assert d[name].unit == "Å" and d[name].kind == "bond"


def test_angles_of_constructed_frames():
    angles = [100.0, 110.0, 120.0]
    d = _distributions(_cco(angles), ["C-C-O", "O-C-C"])
    np.testing.assert_allclose(d["C-C-O"].values[:, 0], angles, atol=1e-3)
    np.testing.assert_array_equal(d["C-C-O"].terms, [[0, 1, 2]])  # the vertex stays in the middle
    assert d["O-C-C"].mean == pytest.approx(110.0, abs=1e-3)


def test_bonds_are_guessed_once_from_the_first_frame():
    frames = _co([1.2, 2.4, 3.5])  # later frames far beyond any bond-guessing cutoff
    d = _distributions(frames, ["C-O"])
    np.testing.assert_allclose(d["C-O"].values[:, 0], [1.2, 2.4, 3.5], atol=1e-6)


def test_named_groups_split_propanol_cc_bonds_by_the_oxygen():
    atoms = load_molecule("n-propanol")
    d = _distributions([atoms], ["C-C", {"name": "near", "pattern": "C-C", "next_to": "O"},
                                 {"name": "far", "pattern": "C-C", "away_from": "O"}])
    assert len(d["C-C"].terms) == 2 and len(d["near"].terms) == 1 and len(d["far"].terms) == 1
    oxygen = int(np.flatnonzero(atoms.numbers == 8)[0])
    carbon_on_o = int(np.argsort(atoms.get_distances(oxygen, np.flatnonzero(atoms.numbers == 6)))[0])
    carbon_on_o = int(np.flatnonzero(atoms.numbers == 6)[carbon_on_o])
    assert carbon_on_o in d["near"].terms[0] and carbon_on_o not in d["far"].terms[0]
    iso = _distributions([load_molecule("iso-propanol")], [{"name": "far", "pattern": "C-C", "away_from": "O"}],
                         skip_missing=True)
    assert iso == {}  # both C-C bonds of iso-propanol touch the carbon that holds the O


def test_explicit_indices_match_ase_distances():
    frames = [load_molecule("ethanol") for _ in range(3)]
    for k, atoms in enumerate(frames):
        atoms.rattle(0.05, seed=k)
    d = _distributions(frames, [{"name": "pair", "indices": [[0, 1], [0, 2]]}])
    expected = [[a.get_distance(0, 1), a.get_distance(0, 2)] for a in frames]
    np.testing.assert_allclose(d["pair"].values, expected, atol=1e-5)


def test_unmatched_selection_is_named_or_skipped():
    with pytest.raises(ValueError, match="'C-N' matches no bond"):
        _distributions(_co([1.2]), ["C-N"])
    analysis = GeometryDistributions(universe_from_frames(_co([1.2])), ["C-N", "C-O"], skip_missing=True).run()
    assert analysis.missing == ["C-N"] and list(analysis.results.distributions) == ["C-O"]


def test_bad_selections_are_rejected():
    with pytest.raises(ValueError, match="bad element pattern 'C-X'"):
        parse_selection("C-X")
    with pytest.raises(ValueError, match="unknown selection keys"):
        parse_selection({"pattern": "C-C", "near": "O"})
    with pytest.raises(ValueError, match="2 atoms and an angle 3"):
        parse_selection({"name": "x", "indices": [[0, 1, 2, 3]]})
    with pytest.raises(ValueError, match="other atoms"):
        universe_from_frames([Atoms("CO"), Atoms("CN")])


def test_a_universe_from_position_arrays_is_the_one_from_frames():
    """The transfer study analyses the arrays it already read: same angles as from the frames themselves."""
    from mlcalc.analysis import universe_from_positions

    frames = _cco([100.0, 110.0, 120.0])
    positions = np.stack([f.positions for f in frames])
    a = GeometryDistributions(universe_from_positions(frames[0], positions), ["C-C-O"]).run().results.distributions
    np.testing.assert_array_equal(a["C-C-O"].samples, _distributions(frames, ["C-C-O"])["C-C-O"].samples)
    np.testing.assert_allclose(np.sort(a["C-C-O"].samples), [100.0, 110.0, 120.0], atol=1e-3)
    with pytest.raises(ValueError, match=r"positions must be \[frames, 3, 3\]"):
        universe_from_positions(frames[0], positions[:, :2])


def test_metrics_zero_for_identical_and_exact_for_shifts():
    rng = np.random.default_rng(0)
    a = rng.normal(1.5, 0.03, size=5000)
    assert wasserstein(a, a) == 0
    assert jensen_shannon(a, a, common_bins(a)) == pytest.approx(0, abs=1e-12)
    assert wasserstein(a, a + 0.01) == pytest.approx(0.01, rel=1e-9)
    far = a + 1.0
    assert jensen_shannon(a, far, common_bins(a, far)) == pytest.approx(1.0)
    b = rng.normal(1.5, 0.03, size=5000)
    assert 0 < jensen_shannon(a, b, common_bins(a, b, n_bins=40)) < 0.02


def test_compare_two_trajectories():
    d1 = _distributions(_co([1.1, 1.2, 1.3]), ["C-O"])["C-O"]
    d2 = _distributions(_co([1.2, 1.3, 1.4]), ["C-O"])["C-O"]
    same = compare(d1, d1)
    assert same["wasserstein"] == 0 and same["jensen_shannon"] == pytest.approx(0, abs=1e-12)
    shifted = compare(d1, d2)
    assert shifted["mean_diff"] == pytest.approx(0.1, abs=1e-6)
    assert shifted["wasserstein"] == pytest.approx(0.1, abs=1e-6)
    angle = _distributions(_cco([100, 110]), ["C-C-O"])["C-C-O"]
    with pytest.raises(ValueError, match="cannot compare a bond"):
        compare(d1, angle)
