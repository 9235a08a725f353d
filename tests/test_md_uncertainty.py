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
