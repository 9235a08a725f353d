"""`mlcalc predict` (CSV of per-structure properties) and `mlcalc train --subset` on a QM9 config."""

import csv

import pytest
import torch
import yaml
from ase import Atoms
from ase.io import write
from click.testing import CliRunner

from mlcalc import MLCalc
from mlcalc.cli import main
from mlcalc.data.molecules import load_molecule
from mlcalc.modelfile import read_manifest, save_model
from mlcalc.testing import tiny_potential, tiny_property_model


@pytest.fixture
def structure_files(tmp_path):
    """A two-frame extxyz file and a one-frame xyz file."""
    frames = [load_molecule("uracil"), load_molecule("ethanol")]
    frames[1].rattle(0.02, seed=0)
    write(tmp_path / "two.extxyz", frames)
    write(tmp_path / "one.xyz", load_molecule("pyrimidine"))
    return [tmp_path / "two.extxyz", tmp_path / "one.xyz"], frames + [load_molecule("pyrimidine")]


def _read(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_predict_writes_one_row_per_frame(tmp_path, structure_files):
    files, frames = structure_files
    model = save_model(tmp_path / "m.mlc", tiny_property_model("physnet", targets=["homo", "zpve"]))
    out = tmp_path / "pred" / "predictions.csv"
    result = CliRunner().invoke(main, ["predict", str(model), *map(str, files), "--out", str(out), "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "wrote 3 rows" in result.output
    header, *rows = _read(out)
    assert header == ["file", "index", "formula", "homo [eV]", "zpve [eV]"]
    assert [(r[0], r[1], r[2]) for r in rows] == [(str(files[0]), "0", "C4H4N2O2"), (str(files[0]), "1", "C2H6O"),
                                                 (str(files[1]), "0", "C4H4N2")]
    expected = MLCalc.load(model).predict(frames)
    for k, row in enumerate(rows):
        assert float(row[3]) == pytest.approx(expected["homo"][k], abs=1e-6)
        assert float(row[4]) == pytest.approx(expected["zpve"][k], abs=1e-6)


def test_predict_with_an_energy_model(tmp_path, structure_files):
    files, _ = structure_files
    model = save_model(tmp_path / "e.mlc", tiny_potential(elements=(1, 6, 7, 8)))
    out = tmp_path / "e.csv"
    result = CliRunner().invoke(main, ["predict", str(model), str(files[1]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert _read(out)[0] == ["file", "index", "formula", "energy [eV]"]


def test_predict_names_the_file_and_frame_it_cannot_take(tmp_path, structure_files):
    files, _ = structure_files
    bad = tmp_path / "silane.xyz"
    write(bad, [load_molecule("ethanol"), Atoms("SiH4", positions=[[0, 0, 0], [0.9, 0.9, 0.9], [-0.9, -0.9, 0.9],
                                                                    [-0.9, 0.9, -0.9], [0.9, -0.9, -0.9]])])
    model = save_model(tmp_path / "m.mlc", tiny_property_model("gnn", targets=["homo"]))
    result = CliRunner().invoke(main, ["predict", str(model), str(files[0]), str(bad), "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{bad} frame 1: element(s) Si not known to this model; it was trained on: H, C, N, O, F" in result.output
    assert not (tmp_path / "x.csv").exists()


def test_train_subset_option(tmp_path, qm9_env):
    raw = {"name": "lin", "data": {"source": "qm9", "targets": ["zpve"], "subset": 20000},
           "model": {"kind": "linear"}, "out_dir": str(tmp_path / "run"), "progress": False}
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(main, ["train", str(config), "--subset", "300"])
    assert result.exit_code == 0, result.output
    assert "test zpve_mae_eV" in result.output and "(30 structures)" in result.output
    manifest = read_manifest(tmp_path / "run" / "lin.mlc")
    assert manifest["data"]["subset"] == 300 and manifest["data"]["splits"] == {"train": 240, "val": 30, "test": 30}
    assert MLCalc.load(tmp_path / "run" / "lin.mlc", dtype=torch.float64).implemented_properties == ["zpve"]


def test_subset_on_a_force_field_config_is_refused(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("name: x\ndata: {path: d.xyz, train: 1, val: 1}\nout_dir: o\n")
    result = CliRunner().invoke(main, ["train", str(config), "--subset", "10"])
    assert result.exit_code == 2
    assert "--subset applies to QM9 configs (data.source: qm9)" in result.output and "data.source: file" in result.output
