"""Ensembles (kind ``ensemble``): the mean prediction and the members' spread in MLCalc's results."""

import numpy as np
import pytest
import torch

from mlcalc import MLCalc
from mlcalc.data.molecules import load_molecule
from mlcalc.model import create_model
from mlcalc.modelfile import load_model, save_model
from mlcalc.testing import tiny_potential, tiny_property_model
from conftest import write_tiny_config


@pytest.fixture
def ethanol():
    atoms = load_molecule("ethanol")
    atoms.rattle(0.02, seed=3)
    return atoms


def test_identical_members_have_zero_variance(ethanol):
    members = [tiny_potential(seed=1) for _ in range(3)]
    calc = MLCalc(create_model("ensemble", members=members), dtype=torch.float64)
    single = MLCalc(tiny_potential(seed=1), dtype=torch.float64)
    ethanol.calc = calc
    forces = ethanol.get_forces()
    r = calc.results
    # zero up to the rounding of the mean (members are bit-identical)
    assert r["energy_var"] < 1e-24 and np.abs(r["forces_var"]).max() < 1e-28 and r["uncertainty"] < 1e-14
    assert r["energy"] == pytest.approx(single.get_potential_energy(ethanol), abs=1e-10)
    np.testing.assert_allclose(forces, single.get_forces(ethanol), atol=1e-10)


def test_different_members_give_mean_and_positive_spread(ethanol):
    members = [tiny_potential(seed=k) for k in range(3)]
    calc = MLCalc(create_model("ensemble", members=members), dtype=torch.float64)
    ethanol.calc = calc
    energy, forces = ethanol.get_potential_energy(), ethanol.get_forces()
    r = calc.results
    each = [MLCalc(m, dtype=torch.float64) for m in members]
    energies = np.array([c.get_potential_energy(ethanol) for c in each])
    member_forces = np.stack([c.get_forces(ethanol) for c in each])
    assert r["energy_comm"].shape == (3,) and r["forces_comm"].shape == (3, len(ethanol), 3)
    np.testing.assert_allclose(r["energy_comm"], energies, atol=1e-10)
    assert energy == pytest.approx(energies.mean(), abs=1e-10)
    np.testing.assert_allclose(forces, member_forces.mean(0), atol=1e-10)
    assert r["energy_var"] == pytest.approx(energies.var(), rel=1e-9) and r["energy_var"] > 0
    np.testing.assert_allclose(r["forces_var"], member_forces.var(0), rtol=1e-9, atol=1e-14)
    expected = np.mean(np.linalg.norm(member_forces.std(0), axis=1))
    assert r["uncertainty"] == pytest.approx(expected, rel=1e-9) and r["uncertainty"] > 0
    assert calc.get_property("uncertainty", ethanol) == r["uncertainty"]


def test_stress_spread_of_a_periodic_ensemble(small_cell):
    members = [tiny_potential(elements=(6,), periodic=True, seed=k) for k in range(2)]
    calc = MLCalc(create_model("ensemble", members=members), dtype=torch.float64)
    small_cell.calc = calc
    stress = small_cell.get_stress()
    each = np.stack([MLCalc(m, dtype=torch.float64).get_stress(small_cell) for m in members])
    np.testing.assert_allclose(stress, each.mean(0), atol=1e-12)
    np.testing.assert_allclose(calc.results["stress_var"], each.var(0), rtol=1e-9, atol=1e-16)


def test_batched_prediction_matches_single_structures(ethanol):
    calc = MLCalc(tiny_potential("ensemble", elements=(1, 6, 7, 8)), dtype=torch.float64)
    molecules = [ethanol, load_molecule("pyrimidine")]
    batch = calc.predict(molecules, batch_size=1)
    for k, atoms in enumerate(molecules):
        atoms.calc = calc
        atoms.get_forces()
        assert batch["energy_var"][k] == pytest.approx(calc.results["energy_var"], rel=1e-9)
        assert batch["uncertainty"][k] == pytest.approx(calc.results["uncertainty"], rel=1e-9)
        np.testing.assert_allclose(batch["forces_var"][k], calc.results["forces_var"], rtol=1e-9, atol=1e-15)


def test_property_ensemble_gives_target_variance(tmp_path):
    members = [tiny_property_model("schnet", seed=k) for k in range(3)]
    model = create_model("ensemble", members=members)
    path = save_model(tmp_path / "props.mlc", model)
    calc = MLCalc.load(path, dtype=torch.float64)
    assert calc.targets == ["homo", "zpve", "homo_var", "zpve_var"] and calc.units["homo_var"] == "eV^2"
    atoms = load_molecule("ethanol")
    homo = np.array([MLCalc(m, dtype=torch.float64).get_property("homo", atoms) for m in members])
    assert calc.get_property("homo", atoms) == pytest.approx(homo.mean(), abs=1e-10)
    assert calc.get_property("homo_var", atoms) == pytest.approx(homo.var(), rel=1e-9) and homo.var() > 0


def test_ensemble_round_trips_through_a_model_file(tmp_path, ethanol):
    model = tiny_potential("ensemble")
    path = save_model(tmp_path / "ens.mlc", model)
    loaded, manifest = load_model(path)
    assert manifest["kind"] == "ensemble" and len(manifest["hyperparameters"]["members"]) == 3
    before, after = MLCalc(model, dtype=torch.float64), MLCalc.load(path, dtype=torch.float64)
    ethanol.calc = before
    ethanol.get_forces()
    expected = dict(before.results)
    ethanol.calc = after
    ethanol.get_forces()
    for key in ("energy", "energy_var", "uncertainty"):
        assert after.results[key] == expected[key]
    np.testing.assert_array_equal(after.results["forces_comm"], expected["forces_comm"])


def test_ensemble_refuses_bad_members():
    with pytest.raises(ValueError, match="at least two members"):
        create_model("ensemble", members=[tiny_potential()])
    with pytest.raises(ValueError, match="one family"):
        create_model("ensemble", members=[tiny_potential(), tiny_property_model("schnet", elements=(1, 6, 8))])
    with pytest.raises(ValueError, match="same targets"):
        create_model("ensemble", members=[tiny_property_model("schnet"), tiny_property_model("schnet", targets=["gap"])])


def test_train_with_seeds_writes_one_ensemble_and_the_seed_spread(tmp_path, xtb_frames):
    from click.testing import CliRunner

    from mlcalc.cli import main

    config = write_tiny_config(tmp_path, xtb_frames, "ens", train=16, val=4, test=8, epochs=2, batch_size=8, seed=3)
    result = CliRunner().invoke(main, ["train", str(config), "--seeds", "3"])
    assert result.exit_code == 0, result.output
    assert "3 seeds: forces_mae_meV_per_A" in result.output
    calc = MLCalc.load(tmp_path / "run" / "ens.mlc")
    metrics = calc.manifest["metrics"]
    assert calc.manifest["kind"] == "ensemble" and len(calc.model.members) == 3
    assert [m["seed"] for m in metrics["members"]] == [3, 4, 5]
    maes = [m["test"]["forces_mae_meV_per_A"] for m in metrics["members"]]
    assert len(set(maes)) == 3  # different seeds, different members
    spread = metrics["seed_spread"]["forces_mae_meV_per_A"]
    assert spread["mean"] == pytest.approx(np.mean(maes)) and spread["std"] == pytest.approx(np.std(maes, ddof=1))
    assert metrics["test"]["frames"] == 8 and metrics["test"]["forces_mae_meV_per_A"] > 0
    atoms = load_molecule("ethanol")
    atoms.calc = calc
    atoms.get_forces()
    assert calc.results["uncertainty"] > 0
    # resume reuses the finished members
    again = CliRunner().invoke(main, ["train", str(config), "--seeds", "3", "--resume"])
    assert again.exit_code == 0, again.output
    assert MLCalc.load(tmp_path / "run" / "ens.mlc").manifest["metrics"]["seed_spread"] == metrics["seed_spread"]
