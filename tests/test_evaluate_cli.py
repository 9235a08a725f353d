"""``mlcalc evaluate``: a model's errors against labelled frames, per file, on screen and as JSON."""

import json

import numpy as np
from ase.io import read, write
from click.testing import CliRunner

from mlcalc import MLCalc
from mlcalc.cli import main


def test_evaluate_matches_errors_computed_frame_by_frame(xtb_frames, tmp_path):
    out = tmp_path / "errors.json"
    result = CliRunner().invoke(main, ["evaluate", "ethanol-bpnn", str(xtb_frames), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "ethanol.extxyz" in result.output
    errors = json.loads(out.read_text())["files"][str(xtb_frames)]

    calc = MLCalc.load("ethanol-bpnn")
    frames = read(xtb_frames, ":")
    diffs, de = [], []
    for atoms in frames:
        probe = atoms.copy()
        probe.calc = calc
        diffs.append(probe.get_forces() - atoms.get_forces())
        de.append(probe.get_potential_energy() - atoms.get_potential_energy())
    assert errors["frames"] == len(frames) == 48
    np.testing.assert_allclose(errors["forces_mae_meV_per_A"], 1000 * np.abs(np.concatenate(diffs)).mean(), rtol=1e-4)
    np.testing.assert_allclose(errors["energy_offset_meV"], 1000 * np.mean(de), rtol=1e-4, atol=1e-3)
    assert f"{errors['forces_mae_meV_per_A']:.1f}" in result.output

    again = CliRunner().invoke(main, ["evaluate", "ethanol-bpnn", str(xtb_frames), "--json", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_evaluate_refuses_property_models_and_unlabelled_frames(xtb_frames, tmp_path, ethanol):
    result = CliRunner().invoke(main, ["evaluate", "qm9-zpve", str(xtb_frames)])
    assert result.exit_code == 2 and "property model" in result.output and "predict" in result.output

    bare = tmp_path / "bare.xyz"
    write(bare, ethanol)
    result = CliRunner().invoke(main, ["evaluate", "ethanol-bpnn", str(bare)])
    assert result.exit_code == 2 and "bare.xyz" in result.output and "energies/forces" in result.output
    assert "Traceback" not in result.output
