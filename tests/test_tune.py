"""Hyperparameter search (mlcalc tune): a tiny search completes, failures are recorded, kill + resume, random mode."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from click.testing import CliRunner

from mlcalc.cli import main
from mlcalc.potentials.training.config import load_config
from mlcalc.potentials.training.tune import best_trial, check_space, read_results, run_search
from mlcalc.potentials.training.tune_config import PAPER_SPACE, ParamRange, load_tune_config

pytest.importorskip("deephyper")


@pytest.fixture
def search_config(tmp_path, xtb_frames):
    """A search over a tiny ET: num_heads 5 does not divide hidden_channels 12, so those trials fail."""
    train = {"name": "tiny", "data": {"path": str(xtb_frames), "train": 16, "val": 8, "test": 8},
             "model": {"kind": "torchmdnet-et", "cutoff": 4.0,
                       "hyperparameters": {"hidden_channels": 12, "num_layers": 1, "num_rbf": 8, "num_heads": 2}},
             "optim": {"epochs": 1, "batch_size": 8}, "out_dir": str(tmp_path / "unused")}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(train))

    def write(name="tune.yaml", **changes):
        tune = {"train": str(tmp_path / "train.yaml"), "method": "cbo", "max_evals": 4, "initial_points": 2,
                "evaluator": "thread", "seed": 0, "out_dir": str(tmp_path / "search"),
                "space": {"optim.lr": {"low": 1e-3, "high": 3e-2, "log": True},
                          "optim.optimizer": {"choices": ["adam", "sgd"]},
                          "model.hyperparameters.num_heads": {"choices": [2, 5]}}, **changes}
        (tmp_path / name).write_text(yaml.safe_dump(tune))
        return tmp_path / name

    return write


def _params(rows):
    return [tuple(v for k, v in sorted(r.items()) if k.startswith("p:")) for r in rows]


def test_a_tiny_search_completes_records_failures_and_retrains_the_best(search_config, tmp_path):
    result = CliRunner().invoke(main, ["tune", str(search_config()), "--retrain-best"])
    assert result.exit_code == 0, result.output
    rows = read_results(tmp_path / "search")
    assert len(rows) == 4 and sorted(int(r["job_id"]) for r in rows) == [0, 1, 2, 3]
    failed = [r for r in rows if r["p:model.hyperparameters.num_heads"] == "5"]
    finished = [r for r in rows if r["p:model.hyperparameters.num_heads"] == "2"]
    assert failed and finished, "the seeded search should try both head counts"
    assert all(r["objective"] == "F_error" and "divisible" in r["m:error"] for r in failed)
    assert all(float(r["objective"]) < 0 and float(r["m:val_mae"]) == -float(r["objective"]) for r in finished)
    values, loss = best_trial(rows)
    assert loss == min(float(r["m:val_mae"]) for r in finished)
    assert (tmp_path / "search" / "best" / "tiny-best.mlc").exists() and "retrained" in result.output


def test_random_mode_and_compare(search_config, tmp_path):
    cbo = load_tune_config(search_config(max_evals=3, out_dir=str(tmp_path / "cbo")))
    run_search(cbo)
    random = load_tune_config(search_config(max_evals=3, out_dir=str(tmp_path / "random")), {"method": "random"})
    run_search(random)
    assert len(read_results(tmp_path / "random")) == 3
    assert len(set(_params(read_results(tmp_path / "random")))) == 3
    result = CliRunner().invoke(main, ["tune", "--compare", str(tmp_path / "cbo"), str(tmp_path / "random"),
                                       "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    assert "| cbo | 3 |" in result.output and "| random | 3 |" in result.output
    assert (tmp_path / "cmp" / "comparison.png").stat().st_size > 0


@pytest.mark.slow  # ~30 s on 2 cores: a fresh `mlcalc tune` process imports torch, Lightning and DeepHyper
def test_a_killed_search_resumes_without_repeating_or_losing_trials(search_config, tmp_path):
    config = search_config(max_evals=6,
                           space={"optim.lr": {"low": 1e-3, "high": 3e-2, "log": True},
                                  "optim.optimizer": {"choices": ["adam", "sgd"]}})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "mlcalc.cli", "tune", str(config)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    results = tmp_path / "search" / "results.csv"
    deadline = time.time() + 120
    while time.time() < deadline and not (results.exists() and len(read_results(results)) >= 2):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = read_results(results)
    assert 2 <= len(before) < 6, "the search should be killed part way"
    with pytest.raises(ValueError, match="--resume"):
        run_search(load_tune_config(config))
    run_search(load_tune_config(config), resume=True)
    after = read_results(results)
    assert len(after) == 6
    assert _params(after)[:len(before)] == _params(before)  # the finished trials are kept as they were
    assert len(set(_params(after))) == 6  # and none is proposed again
    assert sorted(int(r["job_id"]) for r in after) == list(range(6))


def test_the_default_space_is_the_papers_table_1(search_config):
    cfg = load_tune_config(search_config(space=None))
    assert cfg.search_space == PAPER_SPACE
    assert PAPER_SPACE["optim.lr"].log and PAPER_SPACE["optim.batch_size"].integer
    assert PAPER_SPACE["optim.optimizer"].choices == ["sgd", "adam", "adamw", "lamb"]
    with pytest.raises(ValueError, match="low must be below high"):
        load_tune_config(search_config(space={"optim.lr": {"low": 1, "high": 0.1}}))
    base = json.loads(load_config(cfg.train).model_dump_json())
    check_space(base, PAPER_SPACE, cfg.train)  # every key and end of the table is a valid training setting
    with pytest.raises(ValueError, match=r"space: optim.epochs = 0 is refused .*greater than 0"):
        check_space(base, {"optim.epochs": ParamRange(low=0, high=10)}, cfg.train)


def test_a_resumed_search_keeps_its_trials_and_proposes_new_ones(search_config, tmp_path):
    """The in-process counterpart of the kill test: a search of 2 trials continued to 4."""
    config = search_config(max_evals=4, space={"optim.lr": {"low": 1e-3, "high": 3e-2, "log": True},
                                               "optim.optimizer": {"choices": ["adam", "sgd"]}})
    run_search(load_tune_config(config, {"max_evals": 2}))
    before = read_results(tmp_path / "search")
    run_search(load_tune_config(config), resume=True)
    after = read_results(tmp_path / "search")
    assert len(before) == 2 and len(after) == 4
    assert _params(after)[:2] == _params(before) and len(set(_params(after))) == 4


def test_a_search_without_a_finished_trial_names_the_first_failure():
    rows = [{"job_id": "0", "objective": "F_error", "m:error": "ValueError: num_heads must divide hidden_channels"},
            {"job_id": "1", "objective": "F_nan", "m:error": "validation forces_mae_meV_per_A is nan"}]
    with pytest.raises(ValueError, match=r"no trial of the search finished successfully \(2 failed; the first: "
                                         r"ValueError: num_heads must divide hidden_channels\)"):
        best_trial(rows)
