"""The mlcalc command line."""

import json

import pytest
from click.testing import CliRunner

from mlcalc.cli import main
from mlcalc.modelfile import save_model
from mlcalc.testing import tiny_potential


@pytest.fixture
def runner():
    return CliRunner()


def test_info_prints_manifest(runner, tmp_path):
    path = save_model(tmp_path / "m.mlc", tiny_potential(), metrics={"test": {"forces_mae_meV_per_A": 12.5}})
    result = runner.invoke(main, ["info", str(path)])
    assert result.exit_code == 0, result.output
    assert "kind: torchmdnet-et" in result.output and "elements: H, C, O" in result.output
    assert "forces_mae_meV_per_A 12.5" in result.output
    raw = runner.invoke(main, ["info", "--json", str(path)])
    assert json.loads(raw.output)["kind"] == "torchmdnet-et"


def test_info_on_shipped_model_and_models_list(runner):
    result = runner.invoke(main, ["info", "ethanol-et"])
    assert result.exit_code == 0, result.output
    assert "ethanol" in result.output and "sha256" in result.output
    listing = runner.invoke(main, ["models"])
    assert "ethanol-et" in listing.output and "meV/Å" in listing.output


def test_info_on_bad_file_is_a_clean_error(runner, tmp_path):
    bad = tmp_path / "bad.mlc"
    bad.write_bytes(b"garbage bytes here")
    result = runner.invoke(main, ["info", str(bad)])
    assert result.exit_code == 2
    assert "Error:" in result.output and "not an mlcalc model" in result.output
    assert "Traceback" not in result.output


def test_data_reference_writes_frames(runner, tmp_path):
    pytest.importorskip("tblite")
    out = tmp_path / "ref.extxyz"
    result = runner.invoke(main, ["data", "reference", "--molecule", "pyrimidine", "--frames", "2",
                                  "--thermalise", "2", "--interval", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    from mlcalc.data import read_structures

    frames = read_structures(out)
    assert len(frames) == 2 and frames[0].get_chemical_formula() == "C4H4N2"
    before = out.read_bytes()
    again = runner.invoke(main, ["data", "reference", "--molecule", "pyrimidine", "--frames", "1", "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output and out.read_bytes() == before


def test_data_reference_of_a_smiles_is_named_by_its_formula(runner, tmp_path, monkeypatch):
    pytest.importorskip("tblite")
    pytest.importorskip("rdkit")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, ["data", "reference", "--molecule", "smiles:C/C=C/C#N", "--frames", "1",
                                  "--thermalise", "2", "--interval", "1"])
    assert result.exit_code == 0, result.output
    from mlcalc.data import read_structures

    (frame,) = read_structures(tmp_path / "C4H5N-xtb-500K.extxyz")  # no folder from the SMILES's slashes
    assert frame.get_chemical_formula() == "C4H5N" and abs(frame.get_forces()).max() > 0


def test_data_reference_unknown_molecule(runner):
    result = runner.invoke(main, ["data", "reference", "--molecule", "unobtainium", "--frames", "1"])
    assert result.exit_code == 2 and "unknown molecule 'unobtainium'" in result.output


def test_train_rejects_bad_override(runner, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: x\ndata: {path: d.xyz, train: 1, val: 1}\nout_dir: o\n")
    result = runner.invoke(main, ["train", str(cfg), "--set", "optim.optimizer=rmsprop"])
    assert result.exit_code == 2 and "optim.optimizer" in result.output


def test_data_emt_copper_writes_labelled_periodic_frames(tmp_path):
    from ase.io import read

    out = tmp_path / "cu.extxyz"
    result = CliRunner().invoke(main, ["data", "emt-copper", str(out), "--bulk", "2", "--slab", "1"])
    assert result.exit_code == 0, result.output
    frames = read(out, index=":")
    assert len(frames) == 3 and all(a.pbc.any() for a in frames)
    assert all(abs(a.get_forces()).max() > 0 for a in frames)
    refused = CliRunner().invoke(main, ["data", "emt-copper", str(out), "--bulk", "1", "--slab", "0"])
    assert refused.exit_code == 2 and "--overwrite" in refused.output and len(read(out, index=":")) == 3
    replaced = CliRunner().invoke(main, ["data", "emt-copper", str(out), "--bulk", "1", "--slab", "0", "--overwrite"])
    assert replaced.exit_code == 0 and len(read(out, index=":")) == 1


def test_config_shortcuts_are_the_same_as_their_set_option():
    for command, flag, key in (("train", "--subset", "data.subset"), ("train", "--no-progress", "progress"),
                               ("transfer", "--replicas", "replicas"),
                               ("transfer", "--finetune", "finetune")):
        text = CliRunner().invoke(main, [command, "--help"]).output
        assert flag in text and f"--set {key}=VALUE" in " ".join(text.split())
