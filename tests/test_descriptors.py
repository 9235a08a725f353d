"""DScribe descriptors: invariances, duplicate detection by structure hash, the disk cache, bad settings."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mlcalc import descriptors
from mlcalc.descriptors import drop_duplicates, featurise, structure_hash
from mlcalc.testing.property_models import small_molecules

SPECIES = [1, 6, 7, 8]
SETTINGS = {
    "cm-sorted": {"name": "coulomb_matrix", "n_atoms_max": 12, "permutation": "sorted_l2"},
    "cm-eigen": {"name": "coulomb_matrix", "n_atoms_max": 12, "permutation": "eigenspectrum"},
    "acsf": {"name": "acsf", "r_cut": 5.0},
    "soap": {"name": "soap", "r_cut": 4.0, "n_max": 3, "l_max": 2},
}


@pytest.fixture(scope="module")
def molecules():
    mols = small_molecules(SPECIES, max_atoms=12)[:8]
    for k, atoms in enumerate(mols):
        atoms.rattle(0.05, seed=k)  # no accidental symmetry (sorted CM ties)
    return mols


def _moved(atoms, seed):
    """``atoms`` rotated, translated and with its atoms in another order."""
    rng = np.random.default_rng(seed)
    out = atoms[rng.permutation(len(atoms))]
    out.positions = Rotation.random(random_state=seed).apply(out.positions) + rng.normal(size=3) * 3.0
    return out


@pytest.mark.parametrize("name", list(SETTINGS))
def test_invariant_to_rotation_translation_and_permutation(name, molecules):
    moved = [_moved(a, k) for k, a in enumerate(molecules)]
    x = featurise(molecules, SETTINGS[name], SPECIES, cache=False, progress=False)
    y = featurise(moved, SETTINGS[name], SPECIES, cache=False, progress=False)
    assert x.shape[0] == len(molecules) and x.shape[1] > 0
    np.testing.assert_allclose(y, x, rtol=1e-6, atol=1e-6)
    # and they tell different molecules apart
    assert np.abs(x[0] - x[1]).max() > 1e-3


def test_geometry_changes_the_descriptor(molecules):
    stretched = molecules[2].copy()
    stretched.positions *= 1.1
    x = featurise([molecules[2], stretched], SETTINGS["soap"], SPECIES, cache=False, progress=False)
    assert np.abs(x[0] - x[1]).max() > 1e-3


def test_structure_hash_finds_duplicates(molecules):
    copy = molecules[0].copy()
    copy.positions += 1e-9  # below the rounding
    assert structure_hash(copy) == structure_hash(molecules[0])
    shifted = molecules[0].copy()
    shifted.positions[0, 0] += 1e-3
    assert structure_hash(shifted) != structure_hash(molecules[0])
    kept, index = drop_duplicates([molecules[0], molecules[1], copy, molecules[1], shifted])
    assert index.tolist() == [0, 1, 4] and len(kept) == 3


def test_cache_is_written_and_read_back(molecules, tmp_path, monkeypatch):
    first = featurise(molecules, SETTINGS["cm-sorted"], SPECIES, cache=tmp_path, progress=False)
    assert len(list(tmp_path.glob("*.npy"))) == 1

    def no_compute(*args, **kwargs):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(descriptors, "_compute", no_compute)
    again = featurise(molecules, SETTINGS["cm-sorted"], SPECIES, cache=tmp_path, progress=False)
    np.testing.assert_array_equal(again, first)
    with pytest.raises(AssertionError, match="recomputed"):  # other settings: another cache key
        featurise(molecules, SETTINGS["cm-eigen"], SPECIES, cache=tmp_path, progress=False)


@pytest.mark.parametrize("settings, message", [
    ({"name": "bob"}, "descriptors: coulomb_matrix, acsf, soap"),
    ({"name": "soap", "r_cut": -1.0}, "r_cut"),
    ({"name": "coulomb_matrix", "n_atoms_max": 3}, "more than the Coulomb matrix's n_atoms_max=3"),
])
def test_bad_settings_give_one_line_errors(settings, message, molecules):
    with pytest.raises(ValueError, match=message):
        featurise(molecules, settings, SPECIES, cache=False, progress=False)


def test_unknown_elements_are_named(molecules):
    with pytest.raises(ValueError, match=r"elements \[8\] outside"):
        featurise(molecules, SETTINGS["acsf"], [1, 6, 7], cache=False, progress=False)
