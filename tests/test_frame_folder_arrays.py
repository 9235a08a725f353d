"""A frame folder's arrays give training what it would read from one Atoms object per frame (compositions,
energies, forces, the reference method), without making those objects."""

import json

import numpy as np

from mlcalc.atomref import composition_rank, compositions, fit_atomref
from mlcalc.data.frame_folder import FrameFolder, write_shard
from mlcalc.potentials.training.data import FrameView, force_rms


def _folder(tmp_path, rng):
    """Three molecules of different sizes and elements, 4 random frames each (labels are random numbers)."""
    (tmp_path / "settings.json").write_text(json.dumps({"reference": "gfn2-xtb", "held_out": {}}))
    for key, numbers in (("a", [8, 1, 1]), ("b", [6, 1, 1, 1, 1]), ("c", [7, 6, 8, 9, 1, 1])):
        n = len(numbers)
        write_shard(tmp_path, key, {"numbers": np.array(numbers), "positions": rng.normal(size=(4, n, 3)),
                                    "energy": rng.normal(size=4) - 10 * n, "forces": rng.normal(size=(4, n, 3)),
                                    "temperature": np.full(4, 300.0)}, {"atoms": n, "frames": 4})
    return FrameFolder(tmp_path).arrays()


def test_arrays_and_atoms_agree_on_what_training_reads(tmp_path, rng):
    flat = _folder(tmp_path, rng)
    picked = np.array([11, 0, 5, 6, 9, 2])  # frames of all three molecules, out of order
    view, atoms = FrameView(flat, picked), [flat[int(i)] for i in picked]
    assert hasattr(view, "element_counts") and not hasattr(FrameView(atoms, range(6)), "element_counts")

    elements, counts = compositions(view)
    slow_elements, slow_counts = compositions(atoms)
    assert elements == slow_elements and np.array_equal(counts, slow_counts)
    assert elements == [1, 6, 7, 8, 9] and counts[0].tolist() == [2, 1, 1, 1, 1]  # frame 11: molecule c
    assert composition_rank(view) == composition_rank(atoms)
    np.testing.assert_allclose(force_rms(view), force_rms(atoms), rtol=1e-14)
    start = {1: -10.0, 6: -40.0, 7: -55.0, 8: -70.0, 9: -90.0}
    fast, slow = fit_atomref(view, start=start), fit_atomref(atoms, start=start)
    assert fast.keys() == slow.keys() and all(abs(fast[z] - slow[z]) < 1e-9 for z in fast)
    assert view.reference == "gfn2-xtb"
    rows = flat.atom_rows(picked)
    np.testing.assert_array_equal(flat.positions[rows], np.concatenate([a.positions for a in atoms]))
