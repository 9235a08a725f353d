"""Transfer studies with replicas: start conformers, pre-optimised starts, pooled runs, and the report's images."""

import json

import numpy as np
import pytest
from ase.calculators.emt import EMT
from ase.io import read

from mlcalc.analysis.transfer.conformers import conformer, rotors
from mlcalc.analysis.report_check import browser_check, check_images, find_browser
from mlcalc.analysis.transfer.study import run_transfer
from mlcalc.analysis.transfer.starts import preoptimise
from mlcalc.data.molecules import load_molecule
from transfer_configs import mini_transfer_config


def test_ethanol_has_one_rotor_and_its_conformers_turn_the_oh_torsion_only():
    ethanol = load_molecule("ethanol")
    (fixed, pivot, moving), = rotors(ethanol)  # C-O: the methyl's turns change nothing and are skipped
    assert {ethanol[fixed].symbol, ethanol[pivot].symbol} == {"C", "O"} and len(moving) == 2
    h = next(i for i in moving if ethanol[i].symbol == "H")
    start = ethanol.get_dihedral(0, fixed, pivot, h)
    for k, turn in ((1, 120.0), (2, 240.0), (3, 0.0)):
        atoms, turns = conformer(ethanol, k)
        assert turns == [turn]
        assert (atoms.get_dihedral(0, fixed, pivot, h) - start) % 360 == pytest.approx(turn, abs=1e-6)
        bonded = ethanol.get_all_distances() < 1.6
        np.testing.assert_allclose(atoms.get_all_distances()[bonded], ethanol.get_all_distances()[bonded], atol=1e-9)
    assert rotors(load_molecule("uracil")) == [] and conformer(load_molecule("uracil"), 2)[1] == []
    with pytest.raises(ValueError, match="at least 0"):
        conformer(ethanol, -1)


def test_preoptimise_relaxes_on_the_given_surface():
    atoms = load_molecule("ethanol")
    atoms.rattle(0.05, seed=1)
    relaxed, info = preoptimise(atoms, EMT(), fmax=0.02)
    assert info["converged"] and info["energy_drop_eV"] > 0 and info["rmsd_A"] > 0
    relaxed.calc = EMT()
    assert np.abs(relaxed.get_forces()).max() < 0.02 * 1.01
    assert relaxed.calc is not atoms.calc and np.allclose(atoms.positions, load_molecule("ethanol").positions,
                                                          atol=0.3)  # the input is not moved


def _config(model, out, **changes):
    """The miniature study with 2 replicas of 40 steps."""
    return mini_transfer_config(model, out, **{"name": "replicas", "md": {"steps": 40, "timestep": 0.5, "interval": 5},
                                               "error_frames": 9, "replicas": 2, "compare": ["C-C", "C-O", "C-C-O"],
                                               **changes})


def test_replicas_run_with_their_own_seeds_and_starts_and_pool(trained_tiny_model, tmp_path):
    pytest.importorskip("tblite")
    out = tmp_path / "study"
    results = run_transfer(_config(trained_tiny_model, out), echo=lambda s: None, progress=False)
    for name in ("ethanol/model", "ethanol/model-r1", "ethanol/reference-r1", "n-propanol/model-unoptimised-r1",
                 "n-propanol/starts/r1-model-optimised.xyz"):
        assert (out / "md" / name).exists(), name
    assert not (out / "md/ethanol/model-unoptimised").exists()  # the source starts as given
    propanol = results.molecules["n-propanol"]
    assert [len(propanol.md[run]) for run in ("reference", "model", "model-unoptimised")] == [2, 2, 2]
    assert all(info["converged"] and info["energy_drop_eV"] >= 0 for info in propanol.starts["preoptimised"])
    # replica 1: another seed and the OH turned by 120°: another trajectory from another start
    from ase.io import read

    runs = [read(out / "md/ethanol" / name / "trajectory.traj", ":") for name in ("reference", "reference-r1")]
    assert not np.allclose(runs[0][0].positions, runs[1][0].positions, atol=0.1)
    # pooled: both replicas' frames (9 per run) in each distribution, per-replica means kept apart
    ethanol = results.molecules["ethanol"]
    assert len(ethanol.replica_means["model"]["C-O"]) == 2
    assert np.mean(ethanol.replica_means["model"]["C-O"]) == pytest.approx(ethanol.distributions["model"]["C-O"].mean)
    assert ethanol.model_errors["frames"] == 9  # shared out over the two reference runs
    saved = json.loads((out / "results.json").read_text())
    assert saved["config"]["replicas"] == 2

    # the report as a reader sees it: every figure present and decodable
    files = check_images(out / "report.html")
    assert files["broken"] == [] and len(files["images"]) >= 4
    if find_browser():
        drawn = browser_check(out / "report.html", screenshot=tmp_path / "page.png")
        assert drawn["broken"] == [] and len(drawn["drawn"]) == len(files["images"])
        assert (tmp_path / "page.png").stat().st_size > 10_000
        from matplotlib.image import imread

        assert imread(tmp_path / "page.png").shape[:2] == (drawn["page_height"], 1280)  # the whole page, not a window


def test_check_images_names_a_missing_figure(tmp_path):
    page = tmp_path / "report.html"
    page.write_text("<html><body><img src='figures/a.png'><img src='figures/missing.png'></body></html>")
    (tmp_path / "figures").mkdir()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.imsave(tmp_path / "figures/a.png", np.zeros((4, 6)))
    assert check_images(page)["broken"] == ["figures/missing.png"]
    if find_browser():
        assert browser_check(page)["broken"] == ["figures/missing.png"]


def test_replica_and_finetune_settings_are_checked(tmp_path):
    with pytest.raises(ValueError, match="replicas"):
        _config("ethanol-bpnn", tmp_path, replicas=0)
    with pytest.raises(ValueError, match="0 or more"):
        _config("ethanol-bpnn", tmp_path, finetune=[10, -1])
    assert _config("ethanol-bpnn", tmp_path, finetune=[50, 0, 10, 10]).finetune == [0, 10, 50]
    with pytest.raises(ValueError, match="preoptimise"):
        _config("ethanol-bpnn", tmp_path, preoptimise="yes")
    with pytest.raises(ValueError, match=r"learn_replicas \(3\) cannot exceed replicas \(2\)"):
        _config("ethanol-bpnn", tmp_path, learn={"reference": "gfn2-xtb"}, learn_replicas=3)
    with pytest.raises(ValueError, match="learn_replicas needs learn"):
        _config("ethanol-bpnn", tmp_path, learn_replicas=2)


def test_stability_metrics_and_the_finetuning_curve_in_a_miniature_study(trained_tiny_model, tmp_path):
    """Replicas scored against the reference (leave-one-out noise), NVE verdicts, and fine-tuning on k frames of
    the target lowers the force error on that target's scored frames; the source model learning on the fly
    during a run of the target is scored beside them."""
    pytest.importorskip("tblite")
    out = tmp_path / "study"
    config = _config(trained_tiny_model, out, md={"steps": 60, "timestep": 0.5, "interval": 2, "engine": "torchsim"},
                     finetune=[0, 8],
                     finetune_steps=30, finetune_train_steps=60, error_frames=12,
                     learn={"reference": "gfn2-xtb", "max_calls": 3, "members": 2, "init_steps": 5, "update_steps": 5,
                            "max_update_steps": 10, "calibration_interval": 10}, learn_replicas=2)
    results = run_transfer(config, echo=lambda s: None, progress=False)
    metrics = results.molecules["n-propanol"].metrics
    assert set(metrics) >= {"reference", "model", "model-unoptimised"}
    for run in ("reference", "model"):
        summary = metrics[run]["summary"]
        assert summary["runs"] == 2 and summary["h_mae"]["n"] == 2 and 0 <= summary["h_mae"]["mean"] <= 2
        assert 0 < summary["stable_ps"]["mean"] <= 0.03 + 1e-9
    assert set(metrics["model"]["beyond_noise"]) == {"stable_ps", "h_mae", "spectrum_w1_cm1"}
    assert len(results.energy_conservation) == 10  # 2 molecules × 2 replicas × (model, reference) + 2 unoptimised
    assert all(isinstance(r["conserved"], bool) for r in results.energy_conservation)
    curve = results.finetune["n-propanol"]
    assert [(r["k"], r["kind"]) for r in curve] == [(0, "source"), (8, "finetuned"), (8, "scratch"), (3, "on-the-fly")]
    learned = curve[3]
    assert learned["reference_calls"] == 3 and learned["runs"] == 2 and learned["forces_mae_meV_per_A"] > 0
    assert (out / "finetune/n-propanol/on-the-fly/learned.mlc").exists()
    for r, folder in enumerate(("model", "model-r1")):  # each learning replica starts where the reference's does
        first = read(out / f"finetune/n-propanol/on-the-fly/replica-{r:03d}/trajectory.traj", 0)
        np.testing.assert_allclose(first.positions, read(out / f"md/n-propanol/reference{folder[5:]}/trajectory.traj",
                                                         0).positions, atol=1e-5)
    assert all(isinstance(row["beyond_noise"]["h_mae"]["exceeds"], bool) for row in curve)
    source, tuned = curve[0], curve[1]
    assert tuned["forces_mae_meV_per_A"] < source["forces_mae_meV_per_A"]
    assert tuned["runs"] == 2 and tuned["steps"] == 30
    assert (out / "finetune/n-propanol/k8/finetuned/md/model-r1/trajectory.traj").exists()
    report = (out / "report.md").read_text()
    assert "How much n-propanol data fixes transfer" in report and "Stability and structure" in report
    assert (out / results.figures["fine-tuning n-propanol"]).stat().st_size > 5000
    assert check_images(out / "report.html")["broken"] == []


def test_molecules_given_as_files_are_labelled_by_their_file_name(trained_tiny_model, tmp_path):
    from ase.io import write

    folder = tmp_path / "deep" / "folder"
    folder.mkdir(parents=True)
    write(folder / "my-propanol.xyz", load_molecule("n-propanol"))
    out = tmp_path / "study"
    config = _config(trained_tiny_model, out, targets=[str(folder / "my-propanol.xyz")], reference=None,
                     error_frames=0, replicas=1, md={"steps": 10, "timestep": 0.5, "interval": 5})
    results = run_transfer(config, echo=lambda s: None, progress=False)
    assert list(results.molecules) == ["ethanol", "my-propanol.xyz"]
    assert results.molecules["my-propanol.xyz"].file == str(folder / "my-propanol.xyz")
    report = (out / "report.md").read_text()
    assert "my-propanol.xyz" in report and str(folder) not in report
