"""Bad input through the command line: one line on stderr naming the problem, exit code 2; --debug adds the traceback.

Each case is a real command on real (small, broken) files; none runs a model for long:
every error is found before any training or MD starts.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from click.testing import CliRunner

from mlcalc.cli import main
from mlcalc.data.molecules import load_molecule
from mlcalc.model import create_model
from mlcalc.modelfile import read_model_file, save_model, write_model_file
from mlcalc.testing import tiny_potential

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02\xff\xfe"
TINY_ET = {"hidden_channels": 8, "num_layers": 1, "num_rbf": 4, "num_heads": 2}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A folder of good and broken inputs: labelled frames, a model, an empty file, a PNG, a NaN, configs."""
    d = tmp_path_factory.mktemp("bad-input")
    frames = []
    for k in range(6):  # labelled frames (the labels need not be physical: nothing is fitted here)
        atoms = load_molecule("ethanol")
        atoms.rattle(0.02, seed=k)
        atoms.calc = SinglePointCalculator(atoms, energy=-1.0 * k, forces=np.zeros((len(atoms), 3)))
        frames.append(atoms)
    write(d / "frames.extxyz", frames, format="extxyz")
    write(d / "plain.xyz", load_molecule("ethanol"))  # no energies
    nan = load_molecule("ethanol")
    nan.positions[2, 1] = np.nan
    write(d / "nan.xyz", nan)
    (d / "empty.xyz").write_text("")
    (d / "picture.xyz").write_bytes(PNG)
    (d / "picture.png").write_bytes(PNG)
    (d / "a-file").write_text("not a folder")
    (d / "garbage.mlc").write_bytes(b"garbage bytes, not a model")
    save_model(d / "tiny.mlc", tiny_potential("torchmdnet-et", elements=(1, 6, 8)))
    manifest, weights = read_model_file(d / "tiny.mlc")
    weights["output.output_network.layers.2.weight"] = weights["output.output_network.layers.2.weight"] * 0 + 1e30
    del manifest["weights_sha256"]  # finite but absurd weights, the checksum recomputed
    write_model_file(d / "absurd.mlc", manifest, weights)
    members = [tiny_potential("torchmdnet-et", elements=(1, 6, 8)) for _ in range(2)]
    save_model(d / "ensemble.mlc", create_model("ensemble", members=members))
    manifest, weights = read_model_file(d / "ensemble.mlc")
    del manifest["weights_sha256"]  # the checksum recomputed over the weights left: only the build can tell
    write_model_file(d / "ensemble-missing-member.mlc", manifest,
                     {k: v for k, v in weights.items() if not k.startswith("members.1.")})
    config = {"name": "x", "data": {"path": str(d / "frames.extxyz"), "train": 3, "val": 1, "test": 1},
              "model": {"kind": "torchmdnet-et", "cutoff": 4.0, "hyperparameters": TINY_ET},
              "optim": {"epochs": 1, "batch_size": 2}, "out_dir": str(d / "train-out"), "progress": False}
    (d / "train.yaml").write_text(yaml.safe_dump(config))
    for name, space in (("tune-empty", {}), ("tune-misspelt", {"optim.lrr": {"low": 1e-3, "high": 1e-2}}),
                        ("tune-bad-value", {"optim.optimizer": {"choices": ["adam", "rmsprop"]}}),
                        ("tune-bad-hyperparameter", {"model.hyperparameters.hiden_channels": {"choices": [8, 16]}})):
        (d / f"{name}.yaml").write_text(yaml.safe_dump({"train": str(d / "train.yaml"), "space": space, "max_evals": 2,
                                                        "out_dir": str(d / name)}))
    (d / "cif-folder").mkdir()
    (d / "cif-folder" / "id_prop.csv").write_text("mp-0,-12.5\n")
    (d / "cif-energy.yaml").write_text(yaml.safe_dump({
        "name": "x", "data": {"source": "cif_folder", "path": str(d / "cif-folder"), "target": "energy"},
        "model": {"kind": "cgcnn"}, "out_dir": str(d / "cif-out")}))
    (d / "broken.yaml").write_text("name: x\ndata: {path: [frames.extxyz\nout_dir: o\n")
    (d / "done-run" / "checkpoints").mkdir(parents=True)
    (d / "done-run" / "checkpoints" / "last.ckpt").write_bytes(b"an earlier run")
    (d / "study.yaml").write_text("name: s\nsource: {molecule: ethanol, model: ethanol-et}\ntargets: [n-propanol]\n"
                                  "compare: [C-C]\nout_dir: study\nmd: {stepz: 3}\n")
    (d / "study-broken.yaml").write_text("name: s\nsource: {molecule: ethanol\n")
    from mlcalc.potentials.training.broad_set import BroadSetSettings

    (d / "broad-small").mkdir()  # a data set begun with 3 QM9 molecules; its config now says 5
    (d / "broad-small" / "settings.json").write_text(json.dumps({"settings": BroadSetSettings(molecules=3).model_dump(
        mode="json")}))
    (d / "broad.yaml").write_text("molecules: 5\n")
    (d / "charged.smi").write_text("# two molecules\nc1ccc2ncccc2c1 quinoline\nC[NH3+] methylammonium\n")
    return d


def _train(*args):
    return ["train", "{d}/train.yaml", *args]


def _md(structure, *args):
    return ["md", "{d}/tiny.mlc", structure, "--steps", "4", "--out", "{d}/md-out", "--no-progress", *args]


# (command line with {d} for the folder of files, words the one-line message must contain)
CASES = {
    "train: missing data file": (_train("--set", "data.path={d}/missing.extxyz"), ["missing.extxyz", "does not exist"]),
    "train: data without energies": (_train("--set", "data.path={d}/plain.xyz"), ["plain.xyz", "no reference energy"]),
    "train: a PNG as data": (_train("--set", "data.path={d}/picture.png"), ["picture.png", "png"]),
    "train: an empty data file": (_train("--set", "data.path={d}/empty.xyz"), ["empty.xyz", "is empty"]),
    "train: NaN in the data": (_train("--set", "data.path={d}/nan.xyz"), ["nan.xyz", "NaN"]),
    "train: too few frames for the split": (_train("--set", "data.train=100"), ["train=100", "6 structures"]),
    "train: misspelt hyperparameter": (_train("--set", "model.hyperparameters.hiden_channels=8"),
                                       ["bad hyperparameters", "unknown hiden_channels", "valid:", "hidden_channels"]),
    "train: hyperparameter of the wrong type": (_train("--set", "model.hyperparameters.hidden_channels=many"),
                                                ["bad hyperparameters", "torchmdnet-et"]),
    "train: misspelt optim key": (_train("--set", "optim.learning_rate=0.1"), ["optim.learning_rate"]),
    "train: bad value": (_train("--set", "optim.optimizer=rmsprop"), ["optim.optimizer"]),
    "train: out_dir is a file": (_train("--set", "out_dir={d}/a-file"), ["a-file", "is a file"]),
    "train: earlier run in out_dir": (_train("--set", "out_dir={d}/done-run"), ["already holds", "--resume",
                                                                               "--overwrite"]),
    "train: --resume with --overwrite": (_train("--resume", "--overwrite"), ["--resume", "--overwrite", "not both"]),
    "train --seeds: --resume with --overwrite": (_train("--seeds", "2", "--resume", "--overwrite"), ["not both"]),
    "md: --resume with --overwrite": (_md("ethanol", "--resume", "--overwrite"), ["--resume", "--overwrite",
                                                                                "not both"]),
    "md --replicas: --resume with --overwrite": (_md("ethanol", "--replicas", "2", "--resume", "--overwrite"),
                                                 ["not both"]),
    "data broad: --resume with --overwrite": (["data", "broad", "--out", "{d}/broad", "--resume", "--overwrite"],
                                              ["data set", "not both"]),
    "data broad: --resume with the config's count, not the set's": (
        ["data", "broad", "{d}/broad.yaml", "--out", "{d}/broad-small", "--resume"],
        ["broad-small holds a sample of 3", "ask for 5", "--molecules 5 to grow it", "--molecules 3 to go on"]),
    "data broad: --include not SMARTS": (["data", "broad", "--out", "{d}/broad", "--include", "c1cc("],
                                         ["include", "SMARTS pattern 'c1cc('", "c1ccccc1"]),
    "data broad: --smiles file with a charged molecule": (
        ["data", "broad", "--out", "{d}/broad", "--smiles", "{d}/charged.smi"],
        ["--smiles", "charged.smi, line 3", "'C[NH3+]'", "net charge of +1", "only neutral"]),
    "data broad: --smiles file missing": (["data", "broad", "--out", "{d}/broad", "--smiles", "{d}/absent.smi"],
                                          ["--smiles", "absent.smi", "not found"]),
    "train: a crystal target named energy": (["train", "{d}/cif-energy.yaml"],
                                             ["data.target cannot be named 'energy'", "reserved for energy models",
                                              "'total_energy'", "extensive", "'energy_per_atom'"]),
    "train: YAML syntax error": (["train", "{d}/broken.yaml"], ["broken.yaml", "YAML", "line 3"]),
    "train: --set value not YAML": (_train("--set", "data.train=[1"), ["--set data.train=[1", "YAML"]),
    "train: --set without =": (_train("--set", "data.train"), ["KEY=VALUE"]),
    "md: empty structure file": (_md("{d}/empty.xyz"), ["empty.xyz", "is empty"]),
    "md: a PNG named .xyz": (_md("{d}/picture.xyz"), ["picture.xyz", "binary"]),
    "md: NaN coordinate": (_md("{d}/nan.xyz"), ["nan.xyz", "atom(s) [2]", "NaN"]),
    "md: unknown molecule": (_md("ethanoll"), ["unknown molecule 'ethanoll'", "smiles:SMILES", "ethanol"]),
    "md: a radical from SMILES": (_md("smiles:[CH3]"), ["'[CH3]' is a radical", "closed-shell"]),
    "md: unknown model": (["md", "ethanol-xx", "ethanol", "--steps", "2", "--out", "{d}/o"], ["ethanol-xx",
                                                                                              "shipped models"]),
    "md: a model file that is not one": (["md", "{d}/garbage.mlc", "ethanol", "--steps", "2", "--out", "{d}/o"],
                                         ["garbage.mlc"]),
    "md: a property model": (["md", "qm9-zpve", "ethanol", "--steps", "2", "--out", "{d}/o"],
                             ["qm9-zpve is a property model", "zpve", "energy models: ", "ethanol-et"]),
    "md --replicas: a property model": (["md", "qm9-homo", "ethanol", "--steps", "2", "--replicas", "2", "--out",
                                         "{d}/o"], ["qm9-homo is a property model", "ethanol-et"]),
    "md: time step too large": (_md("ethanol", "--timestep", "20"), ["timestep must be", "got 20"]),
    "md: negative temperature": (_md("ethanol", "--temperature", "-5"), ["temperature must be"]),
    "md: element unknown to the model": (_md("uracil"), ["N", "not known to this model"]),
    "predict: --out is an input": (["predict", "{d}/tiny.mlc", "{d}/frames.extxyz", "--out", "{d}/frames.extxyz"],
                                   ["also an input file"]),
    "predict: full disk": (["predict", "{d}/tiny.mlc", "{d}/frames.extxyz", "--out", "/dev/full"],
                           ["No space left on device", "/dev/full"]),
    "predict: empty file": (["predict", "{d}/tiny.mlc", "{d}/empty.xyz", "--out", "{d}/p.csv"], ["empty.xyz"]),
    "predict: a model with absurd weights": (["predict", "{d}/absurd.mlc", "{d}/frames.extxyz", "--out",
                                              "{d}/absurd.csv"], ["absurd.mlc (torchmdnet-et) predicts an energy of",
                                                                  "for structure 0 (C2H6O, 9 atoms)", "broken"]),
    "predict: --out over an existing file": (["predict", "{d}/tiny.mlc", "{d}/frames.extxyz", "--out",
                                              "{d}/picture.png"], ["--out", "picture.png exists", "--overwrite"]),
    "info: an ensemble missing a member": (["info", "{d}/ensemble-missing-member.mlc"],
                                           ["ensemble-missing-member.mlc", "weights do not match", "members.1."]),
    "info: not a model file": (["info", "{d}/garbage.mlc"], ["garbage.mlc", "not an mlcalc model"]),
    "data reference: negative --thermalise": (["data", "reference", "--molecule", "ethanol", "--thermalise", "-100"],
                                              ["thermalise must be", "-100"]),
    "data reference: --frames 0": (["data", "reference", "--molecule", "ethanol", "--frames", "0"],
                                   ["frames must be"]),
    "data reference: NaN molecule": (["data", "reference", "--molecule", "{d}/nan.xyz", "--frames", "1"],
                                     ["nan.xyz", "NaN"]),
    "tune: empty space": (["tune", "{d}/tune-empty.yaml"], ["space is empty", "optim.lr"]),
    "tune: misspelt space key": (["tune", "{d}/tune-misspelt.yaml"], ["space: optim.lrr is not a setting",
                                                                      "train.yaml", "optim.lr,"]),
    "tune: space value the config refuses": (["tune", "{d}/tune-bad-value.yaml"], ["optim.optimizer = 'rmsprop'",
                                                                                  "'adamw'"]),
    "tune: misspelt hyperparameter in space": (["tune", "{d}/tune-bad-hyperparameter.yaml"],
                                               ["hiden_channels is not a hyperparameter of 'torchmdnet-et'",
                                                "hidden_channels"]),
    "transfer: out_dir is a file": (["transfer", "{d}/study.yaml", "--set", "md={{}}", "--set", "out_dir={d}/a-file"],
                                    ["transfer study", "a-file is a file", "a folder is needed"]),
    "predict: --out inside a file": (["predict", "{d}/tiny.mlc", "{d}/frames.extxyz", "--out", "{d}/a-file/p.csv"],
                                     ["a-file is a file", "a folder is needed", "p.csv"]),
    "data reference: --out over an existing data set": (["data", "reference", "--molecule", "ethanol", "--frames",
                                                          "1", "--out", "{d}/frames.extxyz"],
                                                         ["frames.extxyz exists", "--overwrite"]),
    "data emt-copper: OUT over an existing data set": (["data", "emt-copper", "{d}/frames.extxyz", "--bulk", "1"],
                                                       ["frames.extxyz exists", "--overwrite"]),
    "transfer: unknown setting": (["transfer", "{d}/study.yaml"], ["md.stepz"]),
    "transfer: YAML syntax error": (["transfer", "{d}/study-broken.yaml"], ["study-broken.yaml", "YAML", "line"]),
}


def _run(args, folder, env=None):
    return CliRunner().invoke(main, [a.format(d=folder) for a in args], env=env)


def _error_line(result) -> str:
    """The one error line on stderr."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_info_and_loading_agree_on_an_ensemble_missing_a_member(files):
    from mlcalc import MLCalc

    assert _run(["info", "{d}/ensemble.mlc"], files).exit_code == 0
    with pytest.raises(ValueError, match="weights do not match"):
        MLCalc.load(files / "ensemble-missing-member.mlc")
    assert _run(["info", "{d}/ensemble-missing-member.mlc"], files).exit_code == 2


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_code_2(case, files):
    args, words = CASES[case]
    result = _run(args, files)
    assert result.exit_code == 2, (result.output, result.exception)
    line = _error_line(result)
    for word in words:
        assert word in line, line


def test_md_refuses_to_replace_a_run_and_says_how_to_go_on(files, tmp_path):
    args = ["md", str(files / "tiny.mlc"), "ethanol", "--steps", "4", "--interval", "2", "--out", str(tmp_path),
            "--no-progress", "--max-force", "none", "--bond-stretch", "none"]
    assert _run(args, files).exit_code == 0
    before = (tmp_path / "trajectory.traj").read_bytes()
    again = _run(args, files)
    assert again.exit_code == 2
    line = _error_line(again)
    assert str(tmp_path) in line and "completed at step 4 of 4" in line and "--resume" in line and "--overwrite" in line
    assert (tmp_path / "trajectory.traj").read_bytes() == before  # untouched
    assert _run(args + ["--resume"], files).exit_code == 0
    replaced = _run(args + ["--overwrite", "--seed", "1"], files)
    assert replaced.exit_code == 0, replaced.output
    assert (tmp_path / "trajectory.traj").read_bytes() != before  # a new run (another seed)


def test_predict_replaces_its_out_file_only_with_overwrite(files, tmp_path):
    args = ["predict", str(files / "tiny.mlc"), str(files / "frames.extxyz"), "--out", str(tmp_path / "p.csv")]
    (tmp_path / "p.csv").write_text("earlier results\n")
    refused = _run(args, files)
    assert refused.exit_code == 2 and "--overwrite" in _error_line(refused)
    assert (tmp_path / "p.csv").read_text() == "earlier results\n"  # untouched
    replaced = _run(args + ["--overwrite"], files)
    assert replaced.exit_code == 0, replaced.output
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 7  # header and the 6 frames


def test_debug_shows_the_traceback(files):
    args = ["md", "{d}/tiny.mlc", "{d}/nan.xyz", "--steps", "2", "--out", "{d}/o"]
    for result in (_run(["--debug", *args], files), _run(args, files, env={"MLCALC_DEBUG": "1"})):
        assert result.exit_code == 2
        assert "Traceback (most recent call last)" in result.stderr and "check_structures" in result.stderr
        assert result.stderr.rstrip().splitlines()[-1].startswith("Error: ") and "NaN" in result.stderr


def test_an_unexpected_error_is_one_line_with_a_hint(files, monkeypatch):
    import mlcalc.cli.predict_structures

    def broken(*args, **kwargs):
        raise RuntimeError("something inside went wrong\nover two lines")

    monkeypatch.setattr(mlcalc.cli.predict_structures, "predict_files", broken)
    result = _run(["predict", "{d}/tiny.mlc", "{d}/frames.extxyz", "--out", "{d}/p.csv"], files)
    assert result.exit_code == 1
    line = _error_line(result)
    assert line == ("Error: unexpected RuntimeError: something inside went wrong over two lines "
                    "(run with --debug for the traceback)")


def test_a_failed_checkpoint_write_is_an_input_error(tmp_path):
    """torch's writer on a full disk (/dev/full) raises RuntimeError; it is described as a disk problem, one line."""
    import torch

    from mlcalc.errors import describe

    try:
        torch.save({"weights": torch.zeros(100_000)}, "/dev/full")
    except RuntimeError as err:
        text, from_input = describe(err)
    else:  # pragma: no cover
        pytest.skip("/dev/full accepted the write on this system")
    assert from_input and "\n" not in text and "full or read-only disk" in text
