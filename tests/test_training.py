"""Training: a tiny run lowers the loss and exports a model; resume; config validation."""

import json

import numpy as np
import pytest
import yaml

from mlcalc import MLCalc
from mlcalc.potentials.training.config import load_config
from mlcalc.potentials.training import train


def _config(tmp_path, data, **optim):
    raw = {
        "name": "tiny", "seed": 0,
        "data": {"path": str(data), "train": 32, "val": 8, "test": 8},
        "model": {"kind": "torchmdnet-et", "cutoff": 4.0,
                  "hyperparameters": {"hidden_channels": 32, "num_layers": 2, "num_rbf": 16, "num_heads": 4}},
        "optim": {"epochs": 12, "batch_size": 4, "lr": 3e-3, **optim},
        "out_dir": str(tmp_path / "run"), "progress": False,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _val_losses(run_dir):
    """Validation losses in epoch order across all (re)starts of a run."""
    import csv

    rows = []
    for log in sorted((run_dir / "logs").glob("version_*/metrics.csv")):
        rows += [r for r in csv.DictReader(open(log)) if r.get("val_loss")]
    return [float(r["val_loss"]) for r in sorted(rows, key=lambda r: int(r["epoch"]))]


def test_tiny_training_lowers_loss_and_exports(tmp_path, xtb_frames, ethanol, caplog, capfd, recwarn):
    import logging

    caplog.set_level(logging.INFO)
    result = train(load_config(_config(tmp_path, xtb_frames)))
    chatter = caplog.text + "".join(capfd.readouterr()) + "".join(str(w.message) for w in recwarn)
    assert "GPU available" in caplog.text  # Lightning's own information still gets through
    assert "litlogger" not in chatter and "LeafSpec" not in chatter  # its advertising and deprecation noise do not
    losses = _val_losses(tmp_path / "run")
    assert len(losses) == 12
    assert min(losses[-3:]) < 0.5 * losses[0]
    test = result.metrics["test"]
    assert 0 < test["forces_mae_meV_per_A"] < 2000 and test["frames"] == 8
    ethanol.calc = MLCalc.load(result.model_path)
    assert np.isfinite(ethanol.get_potential_energy())
    manifest = ethanol.calc.manifest
    assert manifest["data"]["splits"] == {"train": 32, "val": 8, "test": 8}
    assert len(manifest["data"]["sha256"]) == 64
    assert manifest["normalisation"]["energy_scale_eV"] > 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test"] == test


@pytest.mark.parametrize("optimizer,amp", [("sgd", False), ("lamb", False), ("adam", True)])
def test_other_optimizers_and_options_run(tmp_path, xtb_frames, ethanol, optimizer, amp):
    cfg = load_config(_config(tmp_path, xtb_frames), {
        "optim.epochs": 2, "optim.optimizer": optimizer, "optim.lr": 1e-3, "optim.gradient_clip": 1.0,
        "optim.accumulate_grad_batches": 2, "optim.lr_schedule": "cosine", "optim.weight_decay": 1e-4,
        "optim.amp": amp})
    result = train(cfg)
    ethanol.calc = MLCalc.load(result.model_path)
    assert np.isfinite(ethanol.get_forces()).all()
    assert ethanol.calc.manifest["training"]["optim"]["optimizer"] == optimizer


def test_resume_continues_from_last_checkpoint(tmp_path, xtb_frames):
    path = _config(tmp_path, xtb_frames)
    train(load_config(path, {"optim.epochs": 2}))
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").exists()
    result = train(load_config(path, {"optim.epochs": 4}), resume=True)
    assert result.metrics["epochs"] == 4
    assert len(_val_losses(tmp_path / "run")) == 4  # both starts keep their logs: 2 + 2 epochs
    assert len(list((tmp_path / "run" / "logs").glob("version_*"))) == 2


def test_cpu_budget_stops_fitting_and_carries_over_a_resume(tmp_path, xtb_frames):
    """optim.max_cpu_minutes ends fitting after the epoch that spends it; the CPU time used survives a resume."""
    path = _config(tmp_path, xtb_frames)
    first = train(load_config(path, {"optim.epochs": 1}))
    spent = first.metrics["train_cpu_time_s"]
    assert spent > 0
    # a budget just above one epoch's CPU time: a resumed run may add at most about one more epoch, not 40
    budget = train(load_config(path, {"optim.epochs": 40, "optim.max_cpu_minutes": 1.5 * spent / 60}), resume=True)
    assert 2 <= budget.metrics["epochs"] <= 4
    assert budget.metrics["train_cpu_time_s"] >= 1.5 * spent


def test_config_errors_name_the_field(tmp_path, xtb_frames):
    path = _config(tmp_path, xtb_frames)
    with pytest.raises(ValueError, match="optim.optimizer"):
        load_config(path, {"optim.optimizer": "rmsprop"})
    with pytest.raises(ValueError, match="optim.learning_rate: Extra inputs"):
        load_config(path, {"optim.learning_rate": 0.1})
    with pytest.raises(ValueError, match="data.train"):
        load_config(path, {"data.train": -1})
    with pytest.raises(ValueError, match="model.kind 'sum' is made of member models: train each member"):
        load_config(path, {"model.kind": "sum"})
    with pytest.raises(ValueError, match="unknown model kind 'nope'; known kinds: .*torchmdnet-et"):
        load_config(path, {"model.kind": "nope"})
    cfg = load_config(path, {"data.train": 1000})
    with pytest.raises(ValueError, match="needs more than the 48 structures"):
        train(cfg)


def test_killed_training_resumes_to_the_uninterrupted_weights(tmp_path, xtb_frames):
    """`mlcalc train` killed mid-run, then `--resume`, ends with all epochs, a model file, and the weights and
    metrics of the same run uninterrupted (bit for bit on the CPU: epoch-seeded order, random states saved);
    output to a file gets one line per epoch."""
    import os
    import signal
    import subprocess
    import sys
    import time

    path = _config(tmp_path, xtb_frames)
    cmd = [sys.executable, "-m", "mlcalc.cli", "train", str(path), "--set", "optim.epochs=30"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert last.exists() and not (tmp_path / "run" / "tiny.mlc").exists(), "the run was not interrupted mid-way"
    done = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["epochs"] == 30
    assert (tmp_path / "run" / "tiny.mlc").exists()
    assert "epoch 30/30" in done.stdout and "val_loss" in done.stdout
    whole = subprocess.run(cmd + ["--set", f"out_dir={tmp_path / 'whole'}"], capture_output=True, text=True,
                           timeout=600)
    assert whole.returncode == 0, whole.stderr[-3000:]
    from safetensors.numpy import load_file

    resumed, uninterrupted = load_file(tmp_path / "run" / "tiny.mlc"), load_file(tmp_path / "whole" / "tiny.mlc")
    assert resumed.keys() == uninterrupted.keys()
    for name in resumed:
        np.testing.assert_array_equal(resumed[name], uninterrupted[name], err_msg=name)
    assert json.loads((tmp_path / "whole" / "metrics.json").read_text())["test"] == metrics["test"]
