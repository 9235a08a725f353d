"""Searches on DeepHyper's cluster evaluators: Ray (run locally when installed), a one-line error without it."""

import importlib.util
import time

import pytest
import yaml
from click.testing import CliRunner

from mlcalc.cli import main
from mlcalc.potentials.training.tune import read_results

pytest.importorskip("deephyper")


def _config(tmp_path, xtb_frames, **changes):
    train = {"name": "tiny", "data": {"path": str(xtb_frames), "train": 16, "val": 8, "test": 8},
             "model": {"kind": "torchmdnet-et", "cutoff": 4.0,
                       "hyperparameters": {"hidden_channels": 8, "num_layers": 1, "num_rbf": 8, "num_heads": 2}},
             "optim": {"epochs": 1, "batch_size": 8}, "out_dir": str(tmp_path / "unused")}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(train))
    tune = {"train": str(tmp_path / "train.yaml"), "method": "random", "max_evals": 3, "workers": 2, "seed": 0,
            "out_dir": str(tmp_path / "search"), "space": {"optim.lr": {"low": 1e-3, "high": 3e-2, "log": True}},
            **changes}
    (tmp_path / "tune.yaml").write_text(yaml.safe_dump(tune))
    return tmp_path / "tune.yaml"


@pytest.mark.slow  # starting a local Ray takes ~10 s, each Ray worker imports torch and Lightning
def test_a_search_on_a_local_ray_finishes_every_trial(tmp_path, xtb_frames):
    pytest.importorskip("ray")
    start = time.perf_counter()
    result = CliRunner().invoke(main, ["tune", str(_config(tmp_path, xtb_frames)), "--evaluator", "ray"])
    assert result.exit_code == 0, result.output
    rows = read_results(tmp_path / "search")
    assert sorted(int(r["job_id"]) for r in rows) == [0, 1, 2]
    assert all(float(r["objective"]) < 0 for r in rows), rows
    print(f"3 trials on a local Ray, 2 workers: {time.perf_counter() - start:.0f} s")


def test_a_missing_cluster_package_is_one_line_naming_the_install(tmp_path, xtb_frames, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("ray", "mpi4py")
                        else real(name, *a))
    for evaluator, hint in (("ray", "pip install 'mlcalc[cluster]'"), ("mpicomm", "pip install mpi4py")):
        result = CliRunner().invoke(main, ["tune", str(_config(tmp_path, xtb_frames)), "--evaluator", evaluator,
                                           "--out", str(tmp_path / evaluator)])
        assert result.exit_code == 2, result.output
        line = result.output.strip()
        assert "\n" not in line and f"evaluator {evaluator!r} needs" in line and hint in line
