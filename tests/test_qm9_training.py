"""Training property models on a small QM9 subset: export, metrics, figures, resume, the linear fit, configs."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlcalc import MLCalc
from mlcalc.potentials.training.config import load_config
from mlcalc.potentials.training import train

CONFIGS = Path(__file__).parent.parent / "configs"


def _config(tmp_path, kind="schnet", targets=("homo", "zpve"), **optim):
    hyper = {"schnet": {"hidden_channels": 16, "num_filters": 16, "num_interactions": 2, "num_gaussians": 16},
             "linear": {}}[kind]
    raw = {"name": f"tiny-{kind}", "seed": 0,
           "data": {"source": "qm9", "targets": list(targets), "subset": 120, "split_seed": 1},
           "model": {"kind": kind, "cutoff": 4.0, "hyperparameters": hyper},
           "optim": {"epochs": 8, "batch_size": 16, "lr": 3e-3, **optim},
           "out_dir": str(tmp_path / kind), "progress": False}
    path = tmp_path / f"{kind}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, qm9_cache):
    """One tiny SchNet run on 120 QM9 molecules (96 train, 12 val, 12 test), HOMO and ZPVE."""
    tmp = tmp_path_factory.mktemp("qm9-train")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLCALC_CACHE", str(qm9_cache))
        return train(load_config(_config(tmp))), tmp / "schnet"


def _losses(run_dir, key):
    rows = []
    for log in sorted((run_dir / "logs").glob("version_*/metrics.csv")):
        rows += [r for r in csv.DictReader(open(log)) if r.get(key)]
    return [float(r[key]) for r in sorted(rows, key=lambda r: int(r["epoch"]))]


def test_tiny_run_exports_a_model_with_test_errors(trained):
    result, out = trained
    test = result.metrics["test"]
    assert test["structures"] == 12 and {len(v) for v in result.split.values()} == {96, 12}
    assert test["homo_mae_eV"] > 0 and test["zpve_mae_eV"] > 0
    assert json.loads((out / "metrics.json").read_text())["test"] == test
    manifest = MLCalc.load(result.model_path).manifest
    assert manifest["metrics"]["test"] == test and manifest["kind"] == "schnet"
    assert manifest["data"]["splits"] == {"train": 96, "val": 12, "test": 12} and manifest["data"]["subset"] == 120
    assert len(manifest["data"]["sha256"]) == 64
    assert manifest["normalisation"]["per_atom"] == {"homo": False, "zpve": True}
    losses = _losses(out, "train_loss")
    assert len(losses) == 8 and losses[-1] < 0.7 * losses[0], losses


def test_manifest_errors_are_those_of_the_exported_model(trained, qm9):
    """The test MAE in the manifest is reproduced by loading the file and predicting the test molecules."""
    result, _ = trained
    calc = MLCalc.load(result.model_path)
    rows = result.split["test"]
    predicted = calc.predict(qm9.structures(rows))
    for target in ["homo", "zpve"]:
        mae = np.abs(predicted[target] - qm9.targets(rows, [target])[:, 0]).mean()
        assert mae == pytest.approx(result.metrics["test"][f"{target}_mae_eV"], rel=1e-5)


def test_figures_are_written(trained):
    _, out = trained
    for name in ("parity.png", "loss.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_resume_continues_from_the_last_epoch_even_without_improvement(tmp_path, qm9_env):
    """last.ckpt is the last epoch, not the last improving one (lr ~ 0: validation loss never improves)."""
    import torch

    path = _config(tmp_path, lr=1e-30)
    train(load_config(path, {"optim.epochs": 2}))
    last = torch.load(tmp_path / "schnet" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert (last["epoch"], last["global_step"]) == (1, 12)
    result = train(load_config(path, {"optim.epochs": 4}), resume=True)
    assert result.metrics["epochs"] == 4
    epochs = []
    for log in sorted((tmp_path / "schnet" / "logs").glob("version_*/metrics.csv")):
        epochs += [int(r["epoch"]) for r in csv.DictReader(open(log)) if r.get("val_loss")]
    assert epochs == [0, 1, 2, 3], "no epoch is repeated after the restart"


def test_linear_baseline_is_the_least_squares_fit(tmp_path, qm9_env, qm9):
    result = train(load_config(_config(tmp_path, kind="linear"), {"data.subset": 2000}))
    rows = result.split["train"]
    structures = qm9.structures(rows)
    counts = np.array([[np.count_nonzero(a.numbers == z) for z in (1, 6, 7, 8, 9)] for a in structures], float)
    values = qm9.targets(rows, ["homo", "zpve"])
    homo_design = np.concatenate([counts, np.ones((len(counts), 1))], axis=1)  # intensive: with intercept
    expected = {"homo": homo_design @ np.linalg.lstsq(homo_design, values[:, 0], rcond=None)[0],
                "zpve": counts @ np.linalg.lstsq(counts, values[:, 1], rcond=None)[0]}  # extensive: per element
    predicted = MLCalc.load(result.model_path, dtype=__import__("torch").float64).predict(structures)
    for target in expected:
        np.testing.assert_allclose(predicted[target], expected[target], atol=2e-5)
    test_rows = result.split["test"]
    zpve = qm9.targets(test_rows, ["zpve"])[:, 0]
    assert result.metrics["test"]["zpve_mae_eV"] < 0.2 * np.abs(zpve - zpve.mean()).mean()
    assert not (tmp_path / "linear" / "loss.png").exists() and (tmp_path / "linear" / "parity.png").exists()


def test_train_size_keeps_the_first_training_molecules_and_the_same_test_set(tmp_path, qm9_env):
    """A learning-curve point: the first N molecules of the training split; validation and test unchanged."""
    full = train(load_config(_config(tmp_path, kind="linear"), {"data.subset": 2000}))
    small = train(load_config(_config(tmp_path, kind="linear"),
                              {"data.subset": 2000, "data.train_size": 300, "out_dir": str(tmp_path / "small")}))
    np.testing.assert_array_equal(small.split["train"], full.split["train"][:300])
    for stage in ("val", "test"):
        np.testing.assert_array_equal(small.split[stage], full.split[stage])
    assert small.metrics["test"]["zpve_mae_eV"] != full.metrics["test"]["zpve_mae_eV"]
    with pytest.raises(ValueError, match=r"data.train_size is 5000, but the training split holds only 1600 molecules"):
        train(load_config(_config(tmp_path, kind="linear"),
                          {"data.subset": 2000, "data.train_size": 5000, "out_dir": str(tmp_path / "big")}))


def test_every_shipped_qm9_config_is_valid():
    paths = sorted(CONFIGS.glob("qm9_*.yaml"))
    kinds = set()
    for target in ("homo", "zpve"):
        for kind in ("schnet", "physnet", "mpnn", "mpnn_transformer", "gnn", "linear"):
            path = CONFIGS / f"qm9_{target}_{kind}.yaml"
            assert path in paths, path
            cfg = load_config(path)
            assert cfg.data.source == "qm9" and cfg.data.targets == [target]
            assert cfg.name == f"qm9-{target}-{kind.replace('_', '-')}"
            kinds.add(cfg.model.kind)
    assert kinds == {"schnet", "physnet", "mpnn", "mpnn-transformer", "gnn", "linear"}
    for path in CONFIGS.glob("ethanol_*.yaml"):  # the force-field configs still load
        assert load_config(path).data.source == "file"


def test_config_errors_name_the_field(tmp_path):
    path = _config(tmp_path)
    with pytest.raises(ValueError, match=r"data.targets: .*unknown QM9 target\(s\) \['HOMO'\]"):
        load_config(path, {"data.targets": ["HOMO"]})
    with pytest.raises(ValueError, match="model.kind 'torchmdnet-et' is an energy model; QM9 properties need one of"):
        load_config(path, {"model.kind": "torchmdnet-et"})
    with pytest.raises(ValueError, match="data.path: Extra inputs"):
        load_config(path, {"data.path": "x.xyz"})
    with pytest.raises(ValueError, match="data.source must be one of file, qm9"):
        load_config(path, {"data.source": "csv"})
    with pytest.raises(ValueError, match="must leave a test set"):
        load_config(path, {"data.train_fraction": 0.9, "data.val_fraction": 0.1})
    with pytest.raises(ValueError, match="optim.loss applies to property models"):
        load_config(CONFIGS / "ethanol_et.yaml", {"optim.loss": "l1"})
    assert load_config(path, {"optim.loss": "l1"}).optim.loss == "l1"
