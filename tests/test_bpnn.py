"""Behler-Parrinello networks (kind ``bpnn``): exact forces, invariances, NVE, periodic cells, training, model files."""


import numpy as np
import pytest
import torch
import yaml
from ase import units
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.md.verlet import VelocityVerlet

from mlcalc import MLCalc
from mlcalc.potentials.training.config import load_config
from mlcalc.modelfile import load_model, read_model_file, save_model
from mlcalc.testing import (finite_difference_forces, finite_difference_stress, forbid_unpickling, symmetry_errors,
                            tiny_potential, with_random_biases)


@pytest.fixture
def bpnn():
    return with_random_biases(tiny_potential("bpnn", elements=(1, 6, 8), seed=1))


def test_forces_are_minus_the_energy_gradient(bpnn, rattled_ethanol):
    rattled_ethanol.calc = MLCalc(bpnn, dtype=torch.float64)
    forces = rattled_ethanol.get_forces()
    assert np.abs(forces).max() > 1e-3
    np.testing.assert_allclose(forces, finite_difference_forces(rattled_ethanol, h=1e-4), atol=1e-7)


def test_energy_is_invariant_and_forces_equivariant(bpnn, rattled_ethanol):
    rattled_ethanol.calc = MLCalc(bpnn, dtype=torch.float64)
    errors = symmetry_errors(rattled_ethanol, seed=2)
    assert max(errors.values()) < 1e-9, errors


def test_energy_is_the_sum_of_atomic_networks_of_the_atoms_elements(bpnn, ethanol):
    """Two far-apart molecules: twice the energy of one (atomic energies sum, nothing crosses the cutoff)."""
    calc = MLCalc(bpnn, dtype=torch.float64)
    pair = ethanol.copy() + ethanol.copy()
    pair.positions[len(ethanol):] += [20.0, 0.0, 0.0]
    assert calc.get_potential_energy(pair) == pytest.approx(2 * calc.get_potential_energy(ethanol), abs=1e-9)


def test_periodic_cells_are_extensive_and_their_stress_exact(small_cell):
    model = with_random_biases(tiny_potential("bpnn", elements=(6,), periodic=True, seed=3))
    small_cell.calc = MLCalc(model, dtype=torch.float64)
    energy = small_cell.get_potential_energy()
    np.testing.assert_allclose(small_cell.get_stress(), finite_difference_stress(small_cell, h=1e-5), atol=1e-6)
    np.testing.assert_allclose(small_cell.get_forces(), finite_difference_forces(small_cell, h=1e-4), atol=1e-7)
    bigger = small_cell.repeat((2, 1, 1))
    bigger.calc = MLCalc(model, dtype=torch.float64)
    assert bigger.get_potential_energy() == pytest.approx(2 * energy, abs=1e-8)


def test_the_torchscript_used_for_inference_gives_the_eager_results(small_cell):
    """MLCalc runs the TorchScript of an eval-mode model; energy, forces and stress equal the eager model's."""
    from mlcalc.derivatives import energy_forces_stress, model_inputs
    from mlcalc.graph import atoms_to_batch

    model = with_random_biases(tiny_potential("bpnn", elements=(6,), periodic=True, seed=3)).double().eval()
    inputs = model_inputs(atoms_to_batch([small_cell.repeat((2, 1, 1))], cutoff=model.cutoff, dtype=torch.float64,
                                         labels=False))
    scripted = energy_forces_stress(model, inputs, stress=True)
    assert isinstance(model.inference_module(), torch.jit.ScriptModule)
    model.train()
    assert model.inference_module() is model
    eager = energy_forces_stress(model, inputs, stress=True)
    for key in ("energy", "forces", "stress"):
        torch.testing.assert_close(scripted[key], eager[key], rtol=0, atol=1e-12)
    model.eval().float()  # replaced parameters: the script is rebuilt for them
    assert model.inference_module().atomref.dtype == torch.float32


def test_model_file_round_trip_without_pickle(bpnn, tmp_path, monkeypatch, rattled_ethanol):
    path = save_model(tmp_path / "bpnn.mlc", bpnn)
    manifest, weights = read_model_file(path)
    assert manifest["kind"] == "bpnn" and manifest["hyperparameters"]["hidden"] == [16, 8]
    assert any(k.startswith("networks.atomics.O.") for k in weights)

    forbid_unpickling(monkeypatch)
    loaded, _ = load_model(path)
    before = MLCalc(bpnn, dtype=torch.float64).predict([rattled_ethanol])
    after = MLCalc(loaded, dtype=torch.float64).predict([rattled_ethanol])
    np.testing.assert_allclose(after["energy"], before["energy"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(after["forces"][0], before["forces"][0], rtol=0, atol=1e-12)


def test_bad_hyperparameters_are_refused_in_one_line():
    with pytest.raises(ValueError, match=r"angular_cutoff must be in \(0, cutoff=4.0\]"):
        tiny_potential("bpnn", angular_cutoff=5.0)
    with pytest.raises(ValueError, match="unknown activation 'relu'; choose from celu, gelu"):
        tiny_potential("bpnn", activation="relu")


@pytest.fixture(scope="module")
def trained_bpnn(tmp_path_factory, xtb_frames):
    """A tiny BPNN trained on energies and forces by the shared training run: its result."""
    from mlcalc.potentials.training import train

    folder = tmp_path_factory.mktemp("bpnn")
    raw = {"name": "tiny-bpnn", "seed": 0, "data": {"path": str(xtb_frames), "train": 32, "val": 8, "test": 8},
           "model": {"kind": "bpnn", "cutoff": 4.0,
                     "hyperparameters": {"angular_cutoff": 3.0, "radial_shifts": 8, "angular_shifts": 3,
                                         "angular_sections": 4, "hidden": [32, 16]}},
           "optim": {"epochs": 15, "batch_size": 4, "lr": 3e-3}, "out_dir": str(folder / "run"), "progress": False}
    (folder / "config.yaml").write_text(yaml.safe_dump(raw))
    return train(load_config(folder / "config.yaml"))


def test_training_on_energies_and_forces_lowers_the_force_error(trained_bpnn, xtb_frames):
    from ase.io import read

    test = trained_bpnn.metrics["test"]
    assert test["frames"] == 8
    frames = read(xtb_frames, ":")
    untrained = tiny_potential("bpnn", elements=(1, 6, 8), cutoff=4.0)
    reference = np.concatenate([a.get_forces() for a in frames])
    before = MLCalc(untrained, dtype=torch.float64).predict(frames)["forces"]
    after = MLCalc.load(trained_bpnn.model_path, dtype=torch.float64).predict(frames)["forces"]
    mae_before = np.abs(np.concatenate(before) - reference).mean()
    mae_after = np.abs(np.concatenate(after) - reference).mean()
    assert mae_after < 0.6 * mae_before, (mae_before, mae_after)


def test_nve_conserves_energy(trained_bpnn, ethanol):
    ethanol.calc = MLCalc.load(trained_bpnn.model_path, dtype=torch.float64)
    MaxwellBoltzmannDistribution(ethanol, temperature_K=300, rng=np.random.default_rng(0))
    Stationary(ethanol)
    dyn = VelocityVerlet(ethanol, timestep=0.25 * units.fs)
    totals = []
    dyn.attach(lambda: totals.append(ethanol.get_total_energy()), interval=10)
    dyn.run(300)
    kinetic = ethanol.get_kinetic_energy()
    assert kinetic > 0.01  # the molecule moves
    drift = max(totals) - min(totals)
    assert drift < 2e-3, f"total energy varies by {drift:.3g} eV over 300 steps"
