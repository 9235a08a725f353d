"""QM9 from qm9pack: units, geometry, cache reuse, seeded subsets and splits."""

import csv
import json

import numpy as np
import pytest
from ase.units import Hartree

from mlcalc.data.qm9 import QM9_EXTENSIVE, QM9_UNITS, check_targets, load_qm9, qm9_split, qm9pack_data_dir


def _raw_rows(n):
    """The first ``n`` molecules of qm9pack's first CSV file, parsed here independently of mlcalc."""
    with open(qm9pack_data_dir() / "qm9_part1.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        return [next(reader) for _ in range(n)]


def test_labels_are_converted_from_qm9pack_units(qm9):
    assert len(qm9) == 130831
    for row, raw in enumerate(_raw_rows(3)):  # methane, ammonia, water
        assert qm9.ids[row] == int(raw["Index"])
        for label, column in (("homo", "HOMO_au"), ("lumo", "LUMO_au"), ("gap", "HOMO_LUMO_gap_au"),
                              ("zpve", "ZPVE_au"), ("U0", "InternalEnergy_0K_au"), ("G", "GibbsFreeEnergy_298K_au")):
            assert qm9.labels[label][row] == pytest.approx(float(raw[column]) * Hartree, rel=1e-12)
        for label, column in (("mu", "Dipole_debye"), ("alpha", "Polarizability_bohr3"),
                              ("Cv", "Heatcapacity_Cv_cal_mol_K"), ("A", "RotA_GHz"), ("r2", "R2_bohr2")):
            assert qm9.labels[label][row] == pytest.approx(float(raw[column]), rel=1e-12)
    assert qm9.labels["homo"][0] == pytest.approx(-0.3877 * 27.211386, abs=1e-5)  # methane HOMO, -10.55 eV
    assert QM9_UNITS["homo"] == ("eV", Hartree) and QM9_UNITS["Cv"][0] == "cal/mol/K"
    assert {"U0", "zpve", "Cv", "alpha"} <= QM9_EXTENSIVE and not {"homo", "lumo", "gap", "mu"} & QM9_EXTENSIVE


def test_geometry_matches_the_source(qm9):
    for row, raw in enumerate(_raw_rows(3)):
        atoms = qm9.atoms(row)
        symbols = [s.strip("'") for s in raw["Elements"].strip("[]").split(",")]
        assert atoms.get_chemical_symbols() == symbols
        np.testing.assert_allclose(atoms.positions, json.loads(raw["XYZ_Ang"]), atol=1e-12)
        assert atoms.info["qm9_id"] == row + 1 and not atoms.pbc.any()
    assert set(np.unique(qm9.numbers)) == {1, 6, 7, 8, 9}
    assert qm9.n_atoms.max() == 29 and qm9.n_atoms.sum() == len(qm9.numbers)


def test_cache_is_reused_without_the_source(qm9_cache, qm9, tmp_path):
    again = load_qm9(cache=qm9_cache, source=tmp_path / "no-such-folder")  # would fail if it parsed the CSVs
    np.testing.assert_array_equal(again.positions, qm9.positions)
    np.testing.assert_array_equal(again.labels["homo"], qm9.labels["homo"])
    assert len(list(qm9_cache.glob("qm9_qm9pack*.npz"))) == 1 and not list(qm9_cache.glob("*.tmp"))
    with pytest.raises(FileNotFoundError, match="lacks"):
        load_qm9(cache=tmp_path / "empty-cache", source=tmp_path / "no-such-folder")


def test_cache_folder_from_environment(monkeypatch, tmp_path):
    from mlcalc.data.cache import cache_dir

    monkeypatch.setenv("MLCALC_CACHE", str(tmp_path / "here"))
    assert cache_dir() == tmp_path / "here" and (tmp_path / "here").is_dir()
    monkeypatch.delenv("MLCALC_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "mlcalc"


def test_seeded_subset_splits(qm9):
    a = qm9_split(len(qm9), 1000, 0.8, 0.1, None, seed=3)
    b = qm9_split(len(qm9), 1000, 0.8, 0.1, None, seed=3)
    c = qm9_split(len(qm9), 1000, 0.8, 0.1, None, seed=4)
    assert {k: len(v) for k, v in a.items()} == {"train": 800, "val": 100, "test": 100}
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["train"], c["train"])
    rows = np.concatenate(list(a.values()))
    assert len(np.unique(rows)) == 1000 and rows.max() < len(qm9)
    assert {k: len(v) for k, v in qm9_split(len(qm9), 1000, 0.5, 0.2, 0.1, 0).items()} == \
        {"train": 500, "val": 200, "test": 100}
    with pytest.raises(ValueError, match="subset must be between 1 and 130831"):
        qm9_split(len(qm9), 200000, 0.8, 0.1, None, 0)
    with pytest.raises(ValueError, match="empty split"):
        qm9_split(len(qm9), 5, 0.8, 0.1, None, 0)


def test_targets_by_name(qm9):
    values = qm9.targets([0, 2], ["homo", "zpve"])
    assert values.shape == (2, 2)
    assert values[1, 0] == qm9.labels["homo"][2] and values[0, 1] == qm9.labels["zpve"][0]
    with pytest.raises(ValueError, match=r"unknown QM9 target\(s\) \['HOMO'\]; QM9 labels are: A, B, C, mu"):
        check_targets(["HOMO"])
    with pytest.raises(ValueError, match="repeat"):
        check_targets(["homo", "homo"])
