"""`mlcalc train CONFIG --export-best FILE`: the best checkpoint of a run, exported and tested without training."""

from __future__ import annotations

import json

import numpy as np
import torch
import yaml
from click.testing import CliRunner

from mlcalc import MLCalc
from mlcalc.cli import main
from mlcalc.data.structure_files import read_structures


def _config_of(trained_tiny_model, xtb_frames, tmp_path):
    """The YAML config of the `trained_tiny_model` run (its out_dir holds the run's checkpoints)."""
    raw = {"name": "tiny-trained", "seed": 0, "data": {"path": str(xtb_frames), "train": 36, "val": 6, "test": 6},
           "model": {"kind": "torchmdnet-et", "cutoff": 4.0,
                     "hyperparameters": {"hidden_channels": 32, "num_layers": 1, "num_rbf": 16, "num_heads": 2}},
           "optim": {"epochs": 60, "batch_size": 4, "lr": 5e-3}, "out_dir": str(trained_tiny_model.parent),
           "progress": False}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_export_best_is_the_model_training_exported(trained_tiny_model, xtb_frames, tmp_path):
    config = _config_of(trained_tiny_model, xtb_frames, tmp_path)
    out = tmp_path / "snapshot.mlc"
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)  # the exporting process runs with other threads than the training did
    try:
        result = CliRunner().invoke(main, ["train", str(config), "--export-best", str(out)])
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    assert "best checkpoint after" in result.output and str(out) in result.output

    frames = read_structures(xtb_frames)[:4]
    trained, snapshot = MLCalc.load(trained_tiny_model), MLCalc.load(out)
    for atoms in frames:  # training exports its best checkpoint too: the same weights
        a, b = atoms.copy(), atoms.copy()
        a.calc, b.calc = trained, snapshot
        np.testing.assert_allclose(b.get_forces(), a.get_forces(), atol=1e-6)
        assert abs(b.get_potential_energy() - a.get_potential_energy()) < 1e-5
    tested = json.loads((trained_tiny_model.parent / "metrics.json").read_text())["test"]
    exported = snapshot.manifest["metrics"]
    assert abs(exported["test"]["forces_mae_meV_per_A"] - tested["forces_mae_meV_per_A"]) < 1e-3
    assert exported["epochs"] >= 1 and exported["optimizer_steps"] > 0
    assert exported["train_cpu_time_s"] > 0 and exported["train_wall_time_s"] > 0
    assert exported["torch_threads"] == json.loads((trained_tiny_model.parent / "metrics.json").read_text())[
        "torch_threads"]  # the training's threads, recorded in its checkpoint


def test_export_best_refusals(trained_tiny_model, xtb_frames, tmp_path):
    config = _config_of(trained_tiny_model, xtb_frames, tmp_path)
    taken = tmp_path / "taken.mlc"
    taken.write_bytes(b"x")
    cases = {
        "exists; pass --overwrite": [str(taken)],
        "is the file the training run itself writes": [str(trained_tiny_model)],
        "must end in .mlc": [str(tmp_path / "model.pt")],
        "only exports a checkpoint": [str(tmp_path / "a.mlc"), "--resume"],
    }
    for message, args in cases.items():
        result = CliRunner().invoke(main, ["train", str(config), "--export-best", *args])
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    assert taken.read_bytes() == b"x"
    fresh = yaml.safe_load(config.read_text())
    fresh["out_dir"] = str(tmp_path / "never-trained")
    config.write_text(yaml.safe_dump(fresh))
    result = CliRunner().invoke(main, ["train", str(config), "--export-best", str(tmp_path / "b.mlc")])
    assert result.exit_code == 2 and "no checkpoint to export" in result.output
