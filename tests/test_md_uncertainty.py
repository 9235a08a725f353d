"""MD with an ensemble: the force uncertainty in the energy log, and --max-uncertainty stops the run."""

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mlcalc import MLCalc
from mlcalc.data.molecules import load_molecule
from mlcalc.md import MDSettings, read_energy_log, run_md
from mlcalc.modelfile import save_model
from mlcalc.testing import tiny_potential


def _ethanol(model):
    atoms = load_molecule("ethanol")
    atoms.calc = MLCalc(model, dtype=torch.float64)
    return atoms


def test_uncertainty_is_logged_and_a_limit_stops_the_run_where_it_is_first_exceeded(tmp_path):
    model = tiny_potential("ensemble")
    free = run_md(_ethanol(model), MDSettings(steps=30, interval=1, temperature=600, seed=1, bond_stretch=None), tmp_path / "free")
    u = read_energy_log(tmp_path / "free" / "energies.csv")["uncertainty_eV_per_A"]
    assert free.status == "completed" and len(u) == 31 and np.all(u > 0)
    assert free.summary()["max_uncertainty_eV_per_A"] == pytest.approx(u.max())
    limit = 0.5 * (u[0] + u.max())  # passed at the start, exceeded later
    first_above = int(np.argmax(u > limit))
    assert 0 < first_above < 30
    stopped = run_md(_ethanol(model), MDSettings(steps=30, interval=1, temperature=600, seed=1, bond_stretch=None,
                                                        max_uncertainty=limit),
                     tmp_path / "stopped")
    assert stopped.status == "blew_up" and "force uncertainty" in stopped.message
    assert stopped.steps_done == first_above - 1  # the last frame saved is the one before the limit was crossed
    assert f"at step {first_above}:" in stopped.message


def test_max_uncertainty_needs_an_ensemble(tmp_path):
    with pytest.raises(ValueError, match="needs an ensemble"):
        run_md(_ethanol(tiny_potential()), MDSettings(steps=5, max_uncertainty=0.1), tmp_path / "run")


def test_cli_md_max_uncertainty_stops(tmp_path):
    from mlcalc.cli import main

    path = save_model(tmp_path / "ens.mlc", tiny_potential("ensemble"))
    result = CliRunner().invoke(main, ["md", str(path), "ethanol", "--steps", "10", "--max-uncertainty", "1e-6",
                                       "--out", str(tmp_path / "run"), "--no-progress"])
    assert result.exit_code == 1 and "force uncertainty" in result.output
    assert read_energy_log(tmp_path / "run" / "energies.csv")["uncertainty_eV_per_A"].size == 0


def test_flag_mode_goes_on_and_records_the_steps_above_the_limit(tmp_path):
    model = tiny_potential("ensemble")
    base = dict(steps=30, interval=1, temperature=600, seed=1, bond_stretch=None)
    free = run_md(_ethanol(model), MDSettings(**base), tmp_path / "free")
    u = free.log["uncertainty_eV_per_A"]
    limit = 0.5 * (u[0] + u.max())
    above = u > limit
    flagged = run_md(_ethanol(model), MDSettings(**base, max_uncertainty=limit, uncertainty_action="flag"),
                     tmp_path / "flag")
    assert flagged.status == "completed" and flagged.steps_done == 30
    np.testing.assert_array_equal(flagged.log["uncertainty_eV_per_A"], u)  # the same run as without a limit
    np.testing.assert_array_equal(flagged.log["flagged_steps"], above.astype(float))
    s = flagged.summary()
    assert s["flagged_steps"] == above.sum() > 0 and s["first_flagged_step"] == int(np.argmax(above))
    assert "flagged_steps" not in free.summary()


def test_flag_mode_counts_the_steps_between_log_rows_and_survives_a_resume(tmp_path):
    model = tiny_potential("ensemble")
    base = dict(steps=30, interval=1, temperature=600, seed=1, bond_stretch=None)
    u = run_md(_ethanol(model), MDSettings(**base), tmp_path / "free").log["uncertainty_eV_per_A"]
    limit = 0.5 * (u[0] + u.max())
    settings = MDSettings(**{**base, "interval": 10}, max_uncertainty=limit, uncertainty_action="flag")
    run_md(_ethanol(model), settings.model_copy(update={"steps": 20}), tmp_path / "sparse")
    result = run_md(_ethanol(model), settings, tmp_path / "sparse", resume=True)
    counts = result.log["flagged_steps"]  # rows at steps 0, 10, 20, 30: steps (prev row, this row] above
    expected = [int(u[0] > limit)] + [int((u[a + 1:a + 11] > limit).sum()) for a in (0, 10, 20)]
    np.testing.assert_array_equal(counts, expected)
    assert result.summary()["first_flagged_step"] == int(np.argmax(u > limit))


def test_cli_md_uncertainty_action_flag(tmp_path):
    from mlcalc.cli import main

    path = save_model(tmp_path / "ens.mlc", tiny_potential("ensemble"))
    result = CliRunner().invoke(main, ["md", str(path), "ethanol", "--steps", "10", "--max-uncertainty", "1e-6",
                                       "--uncertainty-action", "flag", "--out", str(tmp_path / "run"),
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "force uncertainty above 1e-06 eV/Å in 11 steps, first at step 0" in result.output


@pytest.mark.parametrize("action", ["stop", "flag"])
def test_batched_torchsim_md_stops_or_flags_on_uncertainty(tmp_path, action):
    pytest.importorskip("torch_sim")
    from mlcalc.md import run_batched_md

    model = tiny_potential("ensemble")
    base = dict(steps=30, interval=1, temperature=600, seed=1, bond_stretch=None)
    ase_free = run_md(_ethanol(model), MDSettings(**base), tmp_path / "ase")
    u = ase_free.log["uncertainty_eV_per_A"]
    limit = 0.5 * (u[0] + u.max())
    first_above = int(np.argmax(u > limit))
    settings = [MDSettings(**{**base, "seed": s}, max_uncertainty=limit, uncertainty_action=action) for s in (1, 2)]
    results = run_batched_md([load_molecule("ethanol")] * 2, model, settings, [tmp_path / "a", tmp_path / "b"])
    first = results[0]
    n = len(first.log["uncertainty_eV_per_A"])
    np.testing.assert_allclose(first.log["uncertainty_eV_per_A"], u[:n], rtol=1e-6)  # as the ASE run's
    if action == "stop":
        assert first.status == "blew_up" and "force uncertainty" in first.message
        assert first.steps_done == first_above - 1
    else:
        assert first.status == "completed" and first.steps_done == 30
        assert first.summary()["first_flagged_step"] == first_above
        np.testing.assert_array_equal(first.log["flagged_steps"], (u > limit).astype(float))
