"""Source models side by side: one study per model, the reference runs made once and shared, one comparison."""

import json

import pytest
import torch
from ase.io import read

from mlcalc.analysis.transfer.sources import SourceComparison
from mlcalc.analysis.transfer.study import run_transfer
from mlcalc.modelfile import save_model
from mlcalc.testing import tiny_potential
from transfer_configs import mini_transfer_config


def test_two_source_models_share_the_reference_runs_and_are_compared(trained_tiny_model, tmp_path):
    pytest.importorskip("tblite")
    untrained = save_model(tmp_path / "untrained.mlc", tiny_potential("torchmdnet-et", elements=(1, 6, 8)))
    out = tmp_path / "study"
    config = mini_transfer_config(None, out, source={"molecule": "ethanol"},
                                  source_models=[str(trained_tiny_model), str(untrained)], md={"steps": 60,
                                                                                             "timestep": 0.5,
                                                                                             "interval": 5})
    comparison = run_transfer(config, echo=lambda s: None, progress=False)
    assert isinstance(comparison, SourceComparison)
    reference = out / "reference" / "md" / "n-propanol" / "reference" / "trajectory.traj"
    assert reference.exists()
    for model in (trained_tiny_model, untrained):
        study = out / "sources" / model.stem
        assert (study / "report.html").exists() and (study / "md" / "n-propanol" / "model" / "trajectory.traj").exists()
        assert not (study / "md" / "n-propanol" / "reference").exists(), "each study made its own reference runs"
    saved = json.loads((out / "sources.json").read_text())
    rows = saved["molecules"]["n-propanol"]
    assert [r["model"] for r in rows] == [str(trained_tiny_model), str(untrained)]
    trained, random = (r["forces_mae_meV_per_A"] for r in rows)
    assert 0 < trained < random, "the trained model should beat an untrained one on its own chemistry"
    assert all(r["nve_runs"] == 1 and r["role"] == "target" for r in rows)
    table = (out / "sources.md").read_text()
    assert "## n-propanol (target)" in table and untrained.stem in table
    assert "<table>" in (out / "sources.html").read_text()
    assert SourceComparison.read(out / "sources.json") == comparison


def test_source_models_are_refused_beside_a_source_model(trained_tiny_model, tmp_path):
    with pytest.raises(ValueError, match="source_models, not both"):
        mini_transfer_config(trained_tiny_model, tmp_path, source_models=[str(trained_tiny_model)])
    with pytest.raises(ValueError, match="or list source_models"):
        mini_transfer_config(None, tmp_path, source={"molecule": "ethanol"})


def test_overwrite_clears_the_shared_reference_runs_once(tmp_path):
    """overwrite clears out_dir/reference/ (runs of an earlier study) once, before the first source model: the
    reference runs are made anew by the first model's study and kept by the second."""
    pytest.importorskip("tblite")
    models = [str(save_model(tmp_path / f"m{seed}.mlc", tiny_potential("torchmdnet-et", elements=(1, 6, 8), seed=seed)))
              for seed in (0, 1)]
    out = tmp_path / "study"
    earlier = out / "reference" / "md" / "n-propanol" / "reference"
    earlier.mkdir(parents=True)
    (earlier / "left-over").write_text("a run of an earlier study")
    (out / "sources.json").write_text("{}")
    config = mini_transfer_config(None, out, source={"molecule": "ethanol"}, source_models=models,
                                  md={"steps": 10, "timestep": 0.5, "interval": 5}, error_frames=2)
    run_transfer(config, echo=lambda s: None, progress=False, overwrite=True)
    assert not (earlier / "left-over").exists()
    assert len(read(earlier / "trajectory.traj", ":")) == 3  # 10 steps, every 5th frame and the start
    made = (earlier / "trajectory.traj").stat().st_mtime_ns
    first, second = (out / "sources" / f"m{seed}" / "results.json" for seed in (0, 1))
    assert made < first.stat().st_mtime_ns < second.stat().st_mtime_ns  # made once, in the first model's study
    assert json.loads((out / "sources.json").read_text())["models"] == models


def test_the_comparison_names_each_curve_rows_source_with_its_stability_and_h_r(tmp_path):
    from mlcalc.analysis.transfer.sources import write_source_report

    curve = [{"model": "runs/x/finetune/n-propanol/on-the-fly/learned.mlc", "k": 35, "kind": "on-the-fly",
              "forces_mae_meV_per_A": 33.9, "stable_ps": {"mean": 10.0, "n": 1}, "broke": 0, "runs": 1,
              "h_mae": {"mean": 0.1331, "n": 1}, "source": "organic-xtb"},
             {"model": "runs/y/finetune/n-propanol/on-the-fly/learned.mlc", "k": 41, "kind": "on-the-fly",
              "forces_mae_meV_per_A": 30.2, "stable_ps": {"mean": 10.0, "n": 3}, "broke": 0, "runs": 3,
              "h_mae": {"mean": 0.2101, "n": 3}, "beyond_noise": {"h_mae": {"exceeds": False}}, "source": "u.mlc"}]
    comparison = SourceComparison("s", ["organic-xtb", "u.mlc"], {"organic-xtb": "sources/organic-xtb",
                                                                  "u.mlc": "sources/u"},
                                  molecules={"n-propanol": []}, finetune={"n-propanol": curve})
    write_source_report(comparison, tmp_path)
    lines = (tmp_path / "sources.md").read_text().splitlines()
    row = next(line for line in lines if line.startswith("| organic-xtb"))
    assert row == "| organic-xtb | 35 | on-the-fly | 33.9 | 10.00 | 0 of 1 | 0.1331 | – |"  # one run: no verdict
    assert "| u | 41 | on-the-fly | 30.2 | 10.00 | 0 of 3 | 0.2101 | no |" in lines
    assert "learned.mlc" not in (tmp_path / "sources.html").read_text()


def test_the_comparison_names_a_model_file_by_its_study_folder_not_its_path(tmp_path):
    from mlcalc.analysis.transfer.sources import write_source_report

    path = "runs/foundation/sevennet-0-ethanol10/sevennet-0-ethanol10.mlc"
    row = {"model": path, "kind": "sevennet", "role": "target", "forces_mae_meV_per_A": 65.2, "stable_ps": 2.0,
           "broke": 0, "runs": 1, "h_mae": 0.1499, "nve_conserved": 1, "nve_runs": 1}
    curve = [{"model": "learned.mlc", "k": 10, "kind": "finetuned", "forces_mae_meV_per_A": 40.0, "source": path}]
    comparison = SourceComparison("s", [path], {path: "sources/sevennet-0-ethanol10"},
                                  molecules={"n-propanol": [row]}, finetune={"n-propanol": curve})
    write_source_report(comparison, tmp_path)
    markdown, page = (tmp_path / "sources.md").read_text(), (tmp_path / "sources.html").read_text()
    assert "| sevennet-0-ethanol10 | 65.2 |" in markdown and "| sevennet-0-ethanol10 | 10 | finetuned |" in markdown
    assert "[sevennet-0-ethanol10](sources/sevennet-0-ethanol10/report.md)" in markdown
    assert path not in markdown and path not in page
