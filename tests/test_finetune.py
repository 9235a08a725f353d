"""Fine-tuning a saved model on k frames of another molecule, training from scratch on them, and the frames."""

import json

import numpy as np
import pytest
import torch
from ase import Atoms

from mlcalc import MLCalc
from mlcalc.errors import MLCalcError, OutputExistsError
from mlcalc.modelfile import read_manifest, save_model
from mlcalc.named_models import resolve_model_path
from mlcalc.testing import tiny_potential

pytest.importorskip("tblite")

from mlcalc.md import ReferenceSettings, nested_subsets, target_training_frames  # noqa: E402
from mlcalc.potentials.training.finetune import (  # noqa: E402
    default_steps, finetune, frames_sha256, train_from_scratch)

SHORT = ReferenceSettings(frames=1, thermalise=100, interval=20)  # 10 fs between frames: a miniature of the 20 fs


@pytest.fixture(scope="module")
def propanol(tmp_path_factory):
    """(12 training frames, 10 held-out frames) of n-propanol at 500 K, GFN2-xTB, from two seeds."""
    out = tmp_path_factory.mktemp("frames")
    train = target_training_frames("n-propanol", 12, out=out, seed=0, settings=SHORT)
    held_out = target_training_frames("n-propanol", 10, out=out, seed=1, settings=SHORT)
    return train, held_out


def force_mae(model, frames) -> float:
    """Mean absolute force error (eV/Å) of a model (name, path) on labelled frames."""
    calc = MLCalc.load(model)
    return float(np.mean([np.abs(calc.get_forces(a.copy()) - a.get_forces()).mean() for a in frames]))


def test_finetuning_on_k_frames_lowers_the_error_on_that_molecule(propanol, tmp_path):
    train, held_out = propanol
    path = finetune("ethanol-bpnn", train[:8], tmp_path, steps=60, source="n-propanol 500 K")
    assert force_mae(path, held_out) < 0.7 * force_mae("ethanol-bpnn", held_out)
    manifest = read_manifest(path)
    record = manifest["finetune"]
    assert record["mode"] == "finetune" and record["parent"]["name"] == "ethanol-bpnn"
    assert len(record["parent"]["sha256"]) == 64 and record["frames"]["count"] == 8
    assert record["frames"]["source"] == "n-propanol 500 K" and record["settings"]["steps"] == 60
    assert manifest["kind"] == "bpnn" and manifest["metrics"]["steps"] >= 60


def test_a_rerun_reuses_the_finished_model_and_a_new_request_is_refused(propanol, tmp_path):
    train, _ = propanol
    path = finetune("ethanol-bpnn", train[:4], tmp_path, steps=4, name="small")
    stamp = path.stat().st_mtime_ns
    assert finetune("ethanol-bpnn", train[:4], tmp_path, steps=4, name="small") == path
    assert path.stat().st_mtime_ns == stamp
    with pytest.raises(OutputExistsError, match="not made from this request .*frames.count: 4 there, 5 here"):
        finetune("ethanol-bpnn", train[:5], tmp_path, steps=4, name="small")
    with pytest.raises(OutputExistsError, match="settings.steps: 4 there, 6 here"):
        finetune("ethanol-bpnn", train[:4], tmp_path, steps=6, name="small")


def test_the_default_budget_is_100_steps_a_frame_at_batch_16_within_1000_and_5000():
    assert [default_steps(k) for k in (1, 10)] == [1000, 1000]  # 10 frames over-fit with more
    assert default_steps(20) == 2000 and default_steps(20, batch_size=64) == 1000
    assert default_steps(40, batch_size=8) == 5000
    assert default_steps(50) == default_steps(10**5) == 5000
    with pytest.raises(ValueError, match="n_frames"):
        default_steps(0)


def test_a_fine_tune_without_steps_records_the_default_for_its_frames(propanol, tmp_path):
    """steps=None takes default_steps(k); the manifest's request records the number (here cut short by the clock)."""
    train, _ = propanol
    path = finetune("ethanol-bpnn", train[:3], tmp_path, max_minutes=1e-4)
    record = read_manifest(path)["finetune"]
    assert record["settings"]["steps"] == default_steps(3) == 1000
    assert read_manifest(path)["metrics"]["steps"] < 1000


def test_held_out_frames_pick_the_checkpoint_and_give_an_out_of_sample_error(propanol, tmp_path):
    """val=4: the last 4 frames never train; the exported checkpoint has the lowest val_loss on them (epoch log)."""
    import csv

    train, held_out = propanol
    path = finetune("ethanol-bpnn", train[:8] + held_out[:4], tmp_path, steps=75, val=4)
    assert path.name == "ethanol-bpnn-ft8.mlc"
    manifest = read_manifest(path)
    metrics, settings = manifest["metrics"], manifest["finetune"]["settings"]
    assert metrics["train"]["frames"] == 8 and metrics["val"]["frames"] == 4 and manifest["data"]["size"] == 8
    assert settings["val"] == 4 and settings["validation"] == "the last 4 frames, held out"
    assert metrics["val"]["forces_mae_meV_per_A"] == pytest.approx(1000 * force_mae(path, held_out[:4]), rel=1e-3)
    assert metrics["val"]["forces_mae_meV_per_A"] > 1.2 * metrics["train"]["forces_mae_meV_per_A"]
    epochs = [r for r in csv.DictReader(open(next((tmp_path / "ethanol-bpnn-ft8.run" / "logs").rglob("metrics.csv"))))
              if r.get("val_loss")]
    best = min(epochs, key=lambda r: float(r["val_loss"]))
    assert len(epochs) == 3 and 1000 * float(best["val_forces_mae"]) == pytest.approx(
        metrics["val"]["forces_mae_meV_per_A"], rel=1e-3)
    with pytest.raises(ValueError, match="val=3 holds out every one of the 3 frames"):
        finetune("ethanol-bpnn", train[:3], tmp_path, val=3)


def test_a_run_whose_export_was_lost_resumes_from_its_last_checkpoint(propanol, tmp_path):
    train, _ = propanol
    path = finetune("ethanol-bpnn", train[:4], tmp_path, steps=6)
    weights = read_manifest(path)["weights_sha256"]
    path.unlink()  # killed after the last checkpoint, before the export
    assert finetune("ethanol-bpnn", train[:4], tmp_path, steps=6) == path
    assert read_manifest(path)["weights_sha256"] == weights


def test_training_from_scratch_on_the_same_frames(propanol, tmp_path):
    train, held_out = propanol
    path = train_from_scratch("ethanol-bpnn", train[:8], tmp_path, steps=60, seed=1)
    manifest = read_manifest(path)
    assert manifest["finetune"]["mode"] == "scratch" and manifest["kind"] == "bpnn"
    assert manifest["finetune"]["settings"]["lr"] == 1e-3  # the parent's training lr
    parent = read_manifest(resolve_model_path("ethanol-bpnn"))["hyperparameters"]
    assert manifest["hyperparameters"]["hidden"] == parent["hidden"]
    assert np.isfinite(force_mae(path, held_out))


def test_a_torchmdnet_model_is_finetuned_and_trained_from_scratch(propanol, tmp_path):
    train, _ = propanol
    parent = save_model(tmp_path / "tiny-et.mlc", tiny_potential("torchmdnet-et", elements=(1, 6, 8), cutoff=4.0))
    before = force_mae(parent, train[:6])
    tuned = finetune(parent, train[:6], tmp_path / "out", steps=20, lr=3e-3)
    assert force_mae(tuned, train[:6]) < before
    assert read_manifest(tuned)["finetune"]["parent"]["name"] == "tiny-et"
    scratch = train_from_scratch(parent, train[:6], tmp_path / "out", steps=5)
    assert read_manifest(scratch)["kind"] == "torchmdnet-et"


def test_bad_input_is_one_line(propanol, tmp_path):
    train, _ = propanol
    bare = [Atoms(a.numbers, a.positions) for a in train[:3]]
    with pytest.raises(ValueError, match="no reference energy"):
        finetune("ethanol-bpnn", bare, tmp_path)
    with pytest.raises(MLCalcError, match="needs an energy model"):
        finetune("qm9-homo", train[:3], tmp_path)
    nitrogen = train[0].copy()
    nitrogen.numbers[3] = 7
    nitrogen.calc = train[0].calc
    with pytest.raises(MLCalcError, match="elements N"):
        finetune("ethanol-bpnn", [nitrogen], tmp_path)
    with pytest.raises(ValueError, match=r"k must lie in 1\.\.12"):
        nested_subsets(train, [10, 50])
    with pytest.raises(ValueError, match="steps must be"):
        finetune("ethanol-bpnn", train[:3], tmp_path, steps=0)
    with pytest.raises(ValueError, match="atomref must be"):
        finetune("ethanol-bpnn", train[:3], tmp_path, atomref="refit")


def test_target_frames_are_cached_and_nested(propanol, tmp_path):
    train, held_out = propanol
    sets = nested_subsets(train, [4, 8])
    assert frames_sha256(sets[8][:4]) == frames_sha256(sets[4])
    assert all(np.abs(a.get_forces()).max() > 0 for a in train)
    assert not any(np.allclose(a.positions, b.positions) for a in train for b in held_out)
    first = target_training_frames("n-propanol", 2, out=tmp_path, settings=SHORT)
    more = target_training_frames("n-propanol", 3, out=tmp_path, settings=SHORT)  # extends the cached run
    assert frames_sha256(more[:2]) == frames_sha256(first)
    meta = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert meta["frames"] == 3 and meta["temperature"] == 500.0
    assert torch.get_default_dtype() == torch.float32


def test_the_command_finetunes_the_first_k_frames_of_a_file(propanol, tmp_path):
    import ase.io
    from click.testing import CliRunner

    from mlcalc.cli import main

    train, _ = propanol
    ase.io.write(tmp_path / "frames.extxyz", train, format="extxyz")
    args = ["finetune", "ethanol-bpnn", str(tmp_path / "frames.extxyz"), "--out", str(tmp_path / "out"),
            "--steps", "2", "--no-progress"]
    result = CliRunner().invoke(main, [*args, "--k", "3"])
    assert result.exit_code == 0, result.output
    manifest = read_manifest(result.stdout.strip().splitlines()[-1])
    assert manifest["finetune"]["frames"]["count"] == 3 and manifest["finetune"]["frames"]["source"].endswith("extxyz")
    bad = CliRunner().invoke(main, [*args, "--k", "13"])
    assert bad.exit_code == 2 and "k must lie in 1..12" in bad.stderr and "Traceback" not in bad.stderr
    held = CliRunner().invoke(main, [*args, "--k", "3", "--val", "2", "--name", "held"])
    assert held.exit_code == 0, held.output
    manifest = read_manifest(held.stdout.strip().splitlines()[-1])
    assert manifest["finetune"]["frames"]["sha256"] == frames_sha256(train[:3] + train[-2:])
    assert manifest["metrics"]["val"]["frames"] == 2 and "held-out frames (2): force MAE" in held.stderr
    bad = CliRunner().invoke(main, [*args, "--val", "12"])
    assert bad.exit_code == 2 and "would leave none to train on" in bad.stderr and "Traceback" not in bad.stderr
    bad = CliRunner().invoke(main, [*args, "--val", "4", "--k", "9"])
    assert bad.exit_code == 2 and "has 8 besides the last 4 that --val holds out" in bad.stderr


@pytest.mark.skipif(__import__("importlib.util").util.find_spec("sevenn") is None,
                    reason="the foundation kind needs sevenn (pip install 'mlcalc[foundation]')")
def test_the_command_takes_the_frames_reference_method_for_a_foundation_parent(propanol, tmp_path):
    """--reference: a foundation parent's free atoms go to that method's energies first (gfn2-xtb by default);
    none keeps the parent's level of theory; the manifest's finetune record says which."""
    import ase.io
    from click.testing import CliRunner

    from mlcalc.cli import main

    parent = save_model(tmp_path / "found.mlc", tiny_potential("sevennet", cutoff=4.0),
                        foundation={"package": "test", "level_of_theory": "PBE"})
    train, _ = propanol
    ase.io.write(tmp_path / "frames.extxyz", train[:2], format="extxyz")
    records = {}
    for reference in ("gfn1-xtb", "none"):
        result = CliRunner().invoke(main, ["finetune", str(parent), str(tmp_path / "frames.extxyz"), "--out",
                                           str(tmp_path / reference), "--steps", "1", "--no-progress",
                                           "--reference", reference])
        assert result.exit_code == 0, result.output
        records[reference] = read_manifest(result.stdout.strip().splitlines()[-1])["finetune"]["settings"]
    assert records["gfn1-xtb"]["reference"] == "gfn1-xtb" and "reference" not in records["none"]
    bad = CliRunner().invoke(main, ["finetune", str(parent), str(tmp_path / "frames.extxyz"), "--out",
                                    str(tmp_path / "x"), "--reference", "pbe"])
    assert bad.exit_code == 2 and "gfn2-xtb" in bad.output


def test_a_child_names_a_shipped_parent_by_its_name_and_any_other_by_its_path(tmp_path):
    import shutil

    from mlcalc.modelfile import read_manifest
    from mlcalc.named_models import resolve_model_path
    from mlcalc.potentials.training.parent_model import parent_record

    shipped = resolve_model_path("ethanol-bpnn")
    record = parent_record(shipped, read_manifest(shipped))
    assert record["path"] == "ethanol-bpnn" and record["name"] == "ethanol-bpnn"   # no machine's folders
    copy = shutil.copy(shipped, tmp_path / "mine.mlc")
    other = parent_record(copy, read_manifest(copy))
    assert other["path"] == str(copy) and other["sha256"] == record["sha256"]
