"""A miniature transfer study end to end: MD with model and reference, errors, distributions, report."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from mlcalc.analysis.transfer.study import run_transfer
from mlcalc.analysis.transfer.config import TransferConfig
from mlcalc.analysis.transfer.report import write_report
from mlcalc.analysis.transfer.results import TransferResults
from mlcalc.cli import main
from transfer_configs import mini_transfer_config


_config = mini_transfer_config


def test_miniature_transfer_study_end_to_end(trained_tiny_model, tmp_path):
    pytest.importorskip("tblite")
    out = tmp_path / "study"
    results = run_transfer(_config(trained_tiny_model, out), echo=lambda s: None, progress=False)
    for name in ("report.md", "report.html", "results.json", "figures/energies.png", "figures/C-C-O.png",
                 "md/ethanol/model/trajectory.traj", "md/n-propanol/reference/trajectory.traj"):
        assert (out / name).exists(), name
    saved = json.loads((out / "results.json").read_text())
    assert saved["molecules"].keys() == {"ethanol", "n-propanol"}
    for entry in saved["molecules"].values():
        assert entry["md"]["model"][0]["status"] == "completed" and entry["md"]["model"][0]["frames"] == 25
        assert entry["md"]["reference"][0]["drift_meV_per_atom_per_ps"] is not None
        errors = entry["model_errors"]
        assert errors["frames"] == 10 and 0 < errors["forces_mae_meV_per_A"] < 5000
    # the only C-C bond of ethanol touches the O: "away from O" exists for n-propanol only
    assert saved["missing_selections"]["ethanol"] == ["C-C away from O"]
    vs_ref = saved["comparisons"]["model_vs_reference"]["n-propanol"]
    assert set(vs_ref) == {"C-C", "C-O", "C-C away from O", "C-C-O"}
    assert all(c["wasserstein"] > 0 for c in vs_ref.values())  # two different potentials
    assert set(saved["comparisons"]["source_vs_target"]) == {"model", "reference"}
    report = (out / "report.md").read_text()
    assert "n-propanol" in report and "figures/C-C-O.png" in report and "W1" in report
    assert "<table>" in (out / "report.html").read_text()
    assert results.molecules["ethanol"].role == "source"
    # results.json is the typed results, read back whole; the report reads the same object
    again_read = TransferResults.read(out)
    assert again_read.to_dict() == saved == results.to_dict()
    assert again_read.molecules["n-propanol"].distributions["model"]["C-O"].unit == "Å"
    write_report(again_read, tmp_path)
    assert (tmp_path / "report.md").read_text() == report

    # a rerun reuses the finished MD (no new frames) and reproduces the numbers
    traj = out / "md/ethanol/model/trajectory.traj"
    before = traj.stat().st_mtime_ns
    again = run_transfer(_config(trained_tiny_model, out), echo=lambda s: None, progress=False)
    assert traj.stat().st_mtime_ns == before
    np.testing.assert_allclose(again.molecules["n-propanol"].model_errors["forces_mae_meV_per_A"],
                               results.molecules["n-propanol"].model_errors["forces_mae_meV_per_A"])


def test_model_without_a_target_element_is_refused(trained_tiny_model, tmp_path):
    with pytest.raises(ValueError, match="uracil also has N"):
        run_transfer(_config(trained_tiny_model, tmp_path, targets=["uracil"]), echo=lambda s: None, progress=False)


def test_transfer_config_errors(tmp_path):
    with pytest.raises(ValueError, match="either a 'model' or a 'train_config'"):
        TransferConfig.model_validate({"name": "x", "source": {"molecule": "ethanol"}, "targets": ["n-propanol"],
                                       "compare": ["C-C"], "out_dir": str(tmp_path)})
    with pytest.raises(ValueError, match="neither a shipped molecule"):
        _config("ethanol-et", tmp_path, targets=["butanol"])
    with pytest.raises(ValueError, match="bad element pattern"):
        _config("ethanol-et", tmp_path, compare=["C=C"])
    config = tmp_path / "study.yaml"
    config.write_text("name: x\nsource: {molecule: ethanol, model: ethanol-et}\ntargets: [n-propanol]\n"
                      "compare: [C-C]\nout_dir: out\nmd: {stepz: 3}\n")
    res = CliRunner().invoke(main, ["transfer", str(config)])
    assert res.exit_code != 0 and "md.stepz" in res.output


def test_source_model_from_a_training_config_without_reference(xtb_frames, tmp_path):
    """The source model is trained first when the study names a training config; no reference runs."""
    import yaml

    train_yaml = tmp_path / "train.yaml"
    train_yaml.write_text(yaml.safe_dump({
        "name": "src", "data": {"path": str(xtb_frames), "train": 36, "val": 6, "test": 6},
        "model": {"kind": "torchmdnet-et", "cutoff": 4.0,
                  "hyperparameters": {"hidden_channels": 16, "num_layers": 1, "num_rbf": 8, "num_heads": 2}},
        "optim": {"epochs": 2, "batch_size": 8}, "out_dir": str(tmp_path / "model"), "progress": False}))
    messages = []
    config = _config("unused", tmp_path / "study", source={"molecule": "ethanol", "train_config": str(train_yaml)},
                     reference=None, md={"steps": 20, "timestep": 0.5, "interval": 5})
    results = run_transfer(config, echo=messages.append, progress=False)
    assert (tmp_path / "model" / "src.mlc").exists() and results.model.path.endswith("src.mlc")
    assert any("training the source model" in m for m in messages)
    assert not (tmp_path / "study" / "md" / "ethanol" / "reference").exists()
    assert results.molecules["ethanol"].model_errors is None
    assert "model_errors" not in json.loads((tmp_path / "study" / "results.json").read_text())["molecules"]["ethanol"]
    assert results.comparisons["model_vs_reference"] == {}
    assert "No reference runs" in (tmp_path / "study" / "report.md").read_text()
    run_transfer(config, echo=messages.append, progress=False)
    assert any("already trained" in m for m in messages)


def test_torchsim_engine_runs_the_model_molecules_as_one_batch_with_the_same_frames(trained_tiny_model, tmp_path):
    """md_engine torchsim (all model runs in one TorchSim batch) follows the ASE runs in float64 (1e-6 Å)."""
    from ase.io import read

    studies = {}
    for engine in ("ase", "torchsim"):
        out = tmp_path / engine
        config = _config(trained_tiny_model, out, reference=None, error_frames=0, dtype="float64", md_engine=engine,
                         md={"steps": 60, "timestep": 0.5, "interval": 10})
        studies[engine] = run_transfer(config, echo=lambda s: None, progress=False)
    for molecule in ("ethanol", "n-propanol"):
        summaries = [studies[e].molecules[molecule].md["model"][0] for e in ("ase", "torchsim")]
        assert [s["status"] for s in summaries] == ["completed", "completed"]
        frames = [read(tmp_path / e / "md" / molecule / "model" / "trajectory.traj", ":") for e in ("ase", "torchsim")]
        assert len(frames[0]) == len(frames[1]) == 7
        np.testing.assert_allclose(frames[1][-1].positions, frames[0][-1].positions, atol=1e-6)
        assert not np.allclose(frames[1][-1].positions, frames[1][0].positions, atol=1e-3)  # the atoms moved


def test_an_ensemble_source_model_adds_uncertainty_against_error_to_the_report(trained_tiny_model, tmp_path):
    """A committee of the trained model and a perturbed copy: the study reports uncertainty vs error per molecule."""
    pytest.importorskip("tblite")
    import torch

    from mlcalc.model import create_model
    from mlcalc.modelfile import load_model, save_model

    member, _ = load_model(trained_tiny_model)
    other, _ = load_model(trained_tiny_model)
    with torch.no_grad():
        gen = torch.Generator().manual_seed(0)
        for p in other.parameters():
            p.add_(0.05 * p.abs().mean() * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    path = tmp_path / "committee.mlc"
    save_model(path, create_model("ensemble", members=[member, other]))
    out = tmp_path / "study"
    results = run_transfer(_config(path, out, md={"steps": 40, "timestep": 0.5, "interval": 5}, error_frames=6),
                           echo=lambda s: None, progress=False)
    study = results.uncertainty
    assert set(study) == {"ethanol", "n-propanol", "all"} and study["all"]["frames"] == 12
    for group in ("ethanol", "n-propanol"):
        assert study[group]["frames"] == 6 and 0 < study[group]["mean_uncertainty_eV_per_A"] < 10
        assert study[group]["mean_force_error_eV_per_A"] > 0
    assert json.loads((out / "results.json").read_text())["uncertainty"]["all"]["frames"] == 12
    assert "Ensemble uncertainty against force error" in (out / "report.md").read_text()

    # a single source model with an ensemble beside it: the ensemble's uncertainty on the same frames
    beside = run_transfer(_config(trained_tiny_model, tmp_path / "beside", md={"steps": 40, "timestep": 0.5,
                                                                              "interval": 5},
                                  error_frames=6, uncertainty_model=str(path)), echo=lambda s: None, progress=False)
    assert beside.uncertainty_model == str(path) and beside.uncertainty["all"]["frames"] == 12
    assert "committee.mlc (not the study's model)" in (tmp_path / "beside" / "report.md").read_text()
    with pytest.raises(ValueError, match="gives no uncertainty"):
        run_transfer(_config(trained_tiny_model, tmp_path / "bad", md={"steps": 10, "timestep": 0.5, "interval": 5},
                             error_frames=2, uncertainty_model=str(trained_tiny_model)),
                     echo=lambda s: None, progress=False)
    assert not (tmp_path / "bad" / "md").exists()  # refused before any MD


def test_a_run_that_blows_up_has_not_passed_the_nve_criterion(tmp_path, capsys):
    """An untrained tiny model with max_force 1.5 eV/Å: ethanol (given as a file) passes 1.5 eV/Å at step 7 and
    blows up, while its energy log until then meets the criterion; the run is counted apart, as not passed, in
    results.json, the report and the console. Progress lines name the molecule file, not its folders."""
    from ase.io import write

    from mlcalc.data import load_molecule
    from mlcalc.modelfile import save_model
    from mlcalc.testing import tiny_potential

    save_model(tmp_path / "tiny.mlc", tiny_potential("torchmdnet-et", elements=(1, 6, 8)))
    write(tmp_path / "ethanol.xyz", load_molecule("ethanol"))
    config = _config(tmp_path / "tiny.mlc", tmp_path / "study", reference=None, error_frames=0,
                     source={"molecule": str(tmp_path / "ethanol.xyz"), "model": str(tmp_path / "tiny.mlc")},
                     md={"steps": 120, "timestep": 0.5, "interval": 1, "max_force": 1.5, "bond_stretch": None})
    messages = []
    results = run_transfer(config, echo=messages.append, progress=False)
    rows = {(r["molecule"], r["run"]): r for r in results.energy_conservation}
    blown = rows["ethanol.xyz", "model"]
    assert blown["status"] == "blew_up" and blown["nve"] == "blew up" and blown["conserved"] is False
    from mlcalc.md import energy_conservation

    assert energy_conservation(tmp_path / "study" / "md" / "ethanol" / "model" / "energies.csv")["conserved"]
    others = [r for key, r in rows.items() if key != ("ethanol.xyz", "model")]
    assert others and all(r["nve"] == "passed" and r["conserved"] for r in others)
    saved = json.loads((tmp_path / "study" / "results.json").read_text())["energy_conservation"]
    assert [r["nve"] for r in saved] == [r["nve"] for r in results.energy_conservation]
    title = f"Runs that do not pass the NVE energy criterion (1 of {len(rows)}: 0 completed and failed it, 1 blew up"
    report = (tmp_path / "study" / "report.md").read_text()
    assert title in report and "Every run passes" not in report and "| ethanol.xyz | model | blew up |" in report
    assert any(title in m for m in messages) and any("ethanol.xyz" in m and "blew up" in m for m in messages)
    printed = capsys.readouterr().out
    assert "ethanol.xyz (model): blew_up" in printed and str(tmp_path) not in printed
