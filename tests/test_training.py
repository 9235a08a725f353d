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
    cmd = [sys.executable, "-m", "mlcalc.cli", "train", str(path), "--set", "optim.epochs=12"]
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
    assert metrics["epochs"] == 12
    assert (tmp_path / "run" / "tiny.mlc").exists()
    assert "epoch 12/12" in done.stdout and "val_loss" in done.stdout
    whole = subprocess.run(cmd + ["--set", f"out_dir={tmp_path / 'whole'}"], capture_output=True, text=True,
                           timeout=600)
    assert whole.returncode == 0, whole.stderr[-3000:]
    from safetensors.numpy import load_file

    resumed, uninterrupted = load_file(tmp_path / "run" / "tiny.mlc"), load_file(tmp_path / "whole" / "tiny.mlc")
    assert resumed.keys() == uninterrupted.keys()
    for name in resumed:
        np.testing.assert_array_equal(resumed[name], uninterrupted[name], err_msg=name)
    assert json.loads((tmp_path / "whole" / "metrics.json").read_text())["test"] == metrics["test"]


def _init_from_config(tmp_path, data, parent, **optim):
    """A config that starts from ``parent`` (no model section), on 8/4/4 frames of ``data``."""
    raw = {"name": "child", "seed": 0, "init_from": str(parent),
           "data": {"path": str(data), "train": 8, "val": 4, "test": 4},
           "optim": {"epochs": 1, "batch_size": 4, "optimizer": "sgd", "lr": 1e-9, "lr_schedule": "constant", **optim},
           "out_dir": str(tmp_path / "child"), "progress": False}
    path = tmp_path / "child.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _network_state(model):
    return {k: v for k, v in model.state_dict().items() if k != "atomref"}


@pytest.mark.parametrize("kind", ["torchmdnet-et", pytest.param("sevennet", marks=pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("sevenn") is None, reason="sevennet needs sevenn (mlcalc[foundation])"))])
def test_init_from_starts_at_the_parents_weights_records_it_and_resumes(tmp_path, xtb_frames, kind):
    """init_from: the parent's kind, hyperparameters and weights (a learning rate of 1e-9 keeps them), its atomrefs at the
    frames' energy zero (a foundation parent first at GFN2-xTB's free atoms), its sha256 in the manifest; resume
    continues, a resume from another parent file is refused."""
    import torch

    from mlcalc.data.structure_files import file_sha256, read_structures
    from mlcalc.errors import OutputExistsError
    from mlcalc.modelfile import load_model, save_model
    from mlcalc.testing import tiny_potential

    foundation = {"foundation": {"package": "test", "level_of_theory": "PBE"}} if kind == "sevennet" else {}
    parent_path = save_model(tmp_path / "parent.mlc", tiny_potential(kind, cutoff=4.0), **foundation)
    parent, parent_manifest = load_model(parent_path)
    config = load_config(_init_from_config(tmp_path, xtb_frames, parent_path))
    assert config.model.kind == kind and config.model.cutoff == 4.0
    result = train(config)
    child, manifest = load_model(result.model_path)
    assert manifest["kind"] == kind and manifest["hyperparameters"] == parent_manifest["hyperparameters"]
    assert manifest["init_from"]["sha256"] == file_sha256(parent_path) and manifest["init_from"]["kind"] == kind
    assert ("foundation" in manifest["init_from"]) == (kind == "sevennet") and "foundation" not in manifest
    assert manifest["normalisation"]["atomref"]["rereferenced_to_reference"] == (kind == "sevennet")
    for key, value in _network_state(parent).items():
        torch.testing.assert_close(_network_state(child)[key], value, rtol=0, atol=1e-6)
    frames = read_structures(xtb_frames)[:8]
    before = np.mean([a.get_potential_energy() - MLCalc(parent_path).get_potential_energy(a.copy()) for a in frames])
    after = np.mean([a.get_potential_energy() - MLCalc(result.model_path).get_potential_energy(a.copy()) for a in frames])
    assert abs(before) > 10 and abs(after) < 1.0, (before, after)  # the atomrefs moved to the frames' energy zero

    resumed = train(load_config(_init_from_config(tmp_path, xtb_frames, parent_path), {"optim.epochs": 2}),
                    resume=True)
    assert resumed.metrics["epochs"] == 2
    other = save_model(tmp_path / "other.mlc", tiny_potential(kind, cutoff=4.0, seed=1), **foundation)
    with pytest.raises(OutputExistsError, match="not started from this init_from file"):
        train(load_config(_init_from_config(tmp_path, xtb_frames, other), {"optim.epochs": 3}), resume=True)


def test_init_from_config_errors_name_the_problem(tmp_path, xtb_frames):
    from mlcalc.modelfile import save_model
    from mlcalc.testing import tiny_potential

    parent = save_model(tmp_path / "parent.mlc", tiny_potential("torchmdnet-et"))
    path = _init_from_config(tmp_path, xtb_frames, parent)
    with pytest.raises(ValueError, match="leave out the model section"):
        load_config(path, {"model.kind": "torchmdnet-et"})
    with pytest.raises(ValueError, match="init_from: no model file 'nope.mlc'"):
        load_config(path, {"init_from": "nope.mlc"})
    ensemble = save_model(tmp_path / "ensemble.mlc", tiny_potential("ensemble"))
    with pytest.raises(ValueError, match="made of member models; start from one"):
        load_config(path, {"init_from": str(ensemble)})
    narrow = save_model(tmp_path / "narrow.mlc", tiny_potential("torchmdnet-et", elements=(1, 6)))
    with pytest.raises(ValueError, match="elements O that the model does not know"):
        train(load_config(path, {"init_from": str(narrow)}))


def test_the_epoch_seeded_sampler_keeps_the_loaders_sample_count_and_draws_from_seed_and_epoch():
    import torch
    from torch.utils.data import DataLoader, RandomSampler

    from mlcalc.potentials.training.exact_resume import EpochSeededSampler, exactly_resumable

    data = list(range(8))
    loader = DataLoader(data, batch_size=4, sampler=RandomSampler(data, num_samples=20,
                                                                  generator=torch.Generator().manual_seed(3)))
    sampler = exactly_resumable(loader).sampler
    assert isinstance(sampler, EpochSeededSampler) and len(sampler) == 20
    first = list(sampler)
    assert sorted(first[:8]) == data and sorted(first[8:16]) == data  # whole orders, the last one cut
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first
    again = EpochSeededSampler(8, 3, 20)
    again.set_epoch(1)
    assert list(again) == second  # an epoch's order depends on (seed, epoch) only


def test_a_training_with_no_test_frames_exports_its_validation_metrics(tmp_path, xtb_frames):
    """``data.test: 0`` (every frame for fitting, e.g. a final model tested elsewhere) exports a model."""
    from conftest import write_tiny_config
    from mlcalc.potentials.training import train
    from mlcalc.potentials.training.config import load_config

    config = write_tiny_config(tmp_path, xtb_frames, "no-test", train=8, val=4, test=0, epochs=1, batch_size=4)
    result = train(load_config(config))
    assert result.metrics["test"] == {"frames": 0}
    assert result.metrics["val"]["frames"] == 4 and result.metrics["val"]["forces_mae_meV_per_A"] > 0
    assert result.model_path.is_file()


def test_epoch_frames_draws_that_many_frames_per_epoch(tmp_path, xtb_frames):
    """``optim.epoch_frames``: an epoch of a large set is a seeded subset (validation, checkpoint, budget each)."""
    import yaml
    from conftest import write_tiny_config
    from mlcalc.potentials.training import train
    from mlcalc.potentials.training.config import load_config

    config = write_tiny_config(tmp_path, xtb_frames, "subset-epochs", train=16, val=4, test=4, epochs=2, batch_size=4)
    raw = yaml.safe_load(config.read_text())
    raw["optim"]["epoch_frames"] = 8
    config.write_text(yaml.safe_dump(raw))
    result = train(load_config(config))
    assert result.metrics["epochs"] == 2 and result.metrics["optimizer_steps"] == 2 * 8 // 4


def test_a_parents_atomrefs_are_fitted_on_a_capped_subset_that_holds_every_element(monkeypatch):
    """A large training set: the per-element correction calls the parent on at most ATOMREF_FRAMES frames (plus one
    per element the draw missed), and an element in a single frame still gets its correction."""
    import torch
    from ase.build import molecule
    from ase.calculators.singlepoint import SinglePointCalculator

    from mlcalc.potentials.training import parent_model
    from mlcalc.testing import tiny_potential

    parent = tiny_potential("bpnn", elements=(1, 6, 7, 8), seed=0)
    frames = []
    for k, name in enumerate(["CH3OH"] * 30 + ["CH3CN"]):  # nitrogen in the last frame only
        atoms = molecule(name)
        atoms.rattle(0.01, seed=k)
        atoms.calc = SinglePointCalculator(atoms, energy=float(len(atoms)) + 0.5 * int((atoms.numbers == 7).sum()))
        frames.append(atoms)
    called = []
    original = parent_model.residual_frames
    monkeypatch.setattr(parent_model, "residual_frames", lambda model, chosen: called.append(len(chosen)) or
                        original(model, chosen))
    monkeypatch.setattr(parent_model, "ATOMREF_FRAMES", 5)
    before = {z: float(parent.atomref[z]) for z in parent.elements}
    refs = parent_model.atomrefs_at_frames_zero(parent, {}, frames, None)
    assert called == [6]  # 5 drawn, and the one frame with nitrogen
    assert refs[7] != pytest.approx(before[7], abs=1e-6)
    assert torch.tensor([refs[z] for z in sorted(refs)]).isfinite().all()
