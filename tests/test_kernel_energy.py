"""Kernel energy models (kinds ``krr-energy``, ``gp-energy``): forces from DScribe's descriptor derivatives,
exact fits, the GP's energy_std, model files."""


import numpy as np
import pytest
import torch
from ase.calculators.emt import EMT

from mlcalc import MLCalc
from mlcalc.data.molecules import load_molecule
from mlcalc.descriptors import descriptor_and_derivatives, featurise
from mlcalc.model import create_model
from mlcalc.modelfile import load_model, read_model_file, save_model
from mlcalc.potentials.training.kernel_fit import EnergyKernelFit, fit_kernel_energy_model
from mlcalc.testing import finite_difference_forces, forbid_unpickling

pytest.importorskip("dscribe")
pytest.importorskip("sklearn")

DESCRIPTORS = {
    "soap": {"name": "soap", "r_cut": 4.0, "n_max": 3, "l_max": 2},
    "acsf": {"name": "acsf", "r_cut": 4.0},
    "coulomb_matrix": {"name": "coulomb_matrix", "n_atoms_max": 9, "permutation": "none"},
}


@pytest.fixture(scope="module")
def labelled():
    """30 rattled ethanols with EMT energies (a cheap, smooth reference)."""
    frames = []
    for k in range(30):
        atoms = load_molecule("ethanol")
        atoms.rattle(0.08, seed=k)
        atoms.calc = EMT()
        atoms.info["energy"] = atoms.get_potential_energy()
        frames.append(atoms)
    return frames


def _energies(frames):
    return np.array([a.info["energy"] for a in frames])


@pytest.mark.parametrize("name", DESCRIPTORS)
def test_descriptor_derivatives_match_finite_differences(name):
    atoms = load_molecule("ethanol")
    atoms.rattle(0.05, seed=1)
    x, dx = descriptor_and_derivatives(atoms, DESCRIPTORS[name], [1, 6, 8])
    np.testing.assert_allclose(x, featurise([atoms], DESCRIPTORS[name], [1, 6, 8], cache=False, progress=False)[0])
    h = 1e-5
    for i, k in [(0, 0), (2, 1), (8, 2)]:
        moved = [atoms.copy(), atoms.copy()]
        moved[0].positions[i, k] += h
        moved[1].positions[i, k] -= h
        plus, minus = featurise(moved, DESCRIPTORS[name], [1, 6, 8], cache=False, progress=False)
        np.testing.assert_allclose(dx[i, k], (plus - minus) / (2 * h), atol=1e-6 * max(1.0, np.abs(dx).max()))


def _assert_forces_are_minus_the_energy_gradient(model) -> None:
    """On a rattled ethanol in float64: forces equal central finite differences of the energy."""
    atoms = load_molecule("ethanol")
    atoms.rattle(0.05, seed=100)
    atoms.calc = MLCalc(model, dtype=torch.float64)
    forces = atoms.get_forces()
    assert np.abs(forces).max() > 1e-3
    np.testing.assert_allclose(forces, finite_difference_forces(atoms, h=1e-5), atol=1e-6 * np.abs(forces).max())


@pytest.mark.parametrize("name", DESCRIPTORS)
def test_forces_are_minus_the_energy_gradient(labelled, name):
    _assert_forces_are_minus_the_energy_gradient(
        fit_kernel_energy_model(labelled, EnergyKernelFit(descriptor=DESCRIPTORS[name], alpha=1e-6),
                                energies=_energies(labelled)))


def test_reproduces_training_energies_with_tiny_regularisation(labelled):
    energies = _energies(labelled)
    model = fit_kernel_energy_model(labelled, EnergyKernelFit(descriptor=DESCRIPTORS["soap"], alpha=1e-10),
                                    energies=energies)
    predicted = MLCalc(model, dtype=torch.float64).predict(labelled)["energy"]
    assert energies.std() > 0.05
    np.testing.assert_allclose(predicted, energies, atol=1e-5)


def test_model_file_round_trip_without_pickle(labelled, tmp_path, monkeypatch):
    model = fit_kernel_energy_model(labelled, EnergyKernelFit(descriptor=DESCRIPTORS["soap"], alpha=1e-6),
                                    energies=_energies(labelled))
    path = save_model(tmp_path / "krr.mlc", model)
    manifest, weights = read_model_file(path)
    assert manifest["kind"] == "krr-energy" and "forces" in manifest["properties"]
    assert tuple(weights["train_x"].shape) == (30, manifest["hyperparameters"]["n_features"])

    forbid_unpickling(monkeypatch)
    loaded, _ = load_model(path)
    before = MLCalc(model, dtype=torch.float64).predict(labelled[:3])
    after = MLCalc(loaded, dtype=torch.float64).predict(labelled[:3])
    np.testing.assert_allclose(after["energy"], before["energy"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.concatenate(after["forces"]), np.concatenate(before["forces"]), rtol=0, atol=1e-12)


def test_periodic_models_and_bad_settings_are_refused_in_one_line():
    with pytest.raises(ValueError, match="krr-energy models describe molecules only"):
        create_model("krr-energy", elements=[6], periodic=True)
    with pytest.raises(ValueError, match="gp-energy models describe molecules only"):
        create_model("gp-energy", elements=[6], periodic=True)
    with pytest.raises(ValueError, match="unknown kernel 'cosine'; choose from rbf, laplacian, linear"):
        create_model("krr-energy", elements=[6], kernel="cosine")


@pytest.fixture(scope="module")
def gp(labelled):
    return fit_kernel_energy_model(labelled, EnergyKernelFit(descriptor=DESCRIPTORS["soap"], alpha=1e-8, method="gp"),
                                   energies=_energies(labelled))


def test_gp_forces_are_minus_the_energy_gradient(gp):
    _assert_forces_are_minus_the_energy_gradient(gp)


def test_gp_std_is_small_at_training_points_and_larger_away(gp, labelled):
    calc = MLCalc(gp, dtype=torch.float64)
    at_training = calc.predict(labelled[:5])
    np.testing.assert_allclose(at_training["energy"], _energies(labelled[:5]), atol=1e-3)
    far = load_molecule("ethanol")
    far.rattle(0.3, seed=7)
    std_far = calc.predict([far])["energy_std"][0]
    assert at_training["energy_std"].max() < 0.1 * std_far
    far.calc = calc
    assert far.calc.get_property("energy_std", far) == pytest.approx(std_far)


def test_mlcalc_train_solves_a_kernel_energy_model_in_closed_form(labelled, tmp_path):
    import yaml
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    from mlcalc.potentials.training.config import load_config
    from mlcalc.potentials.training import train

    frames = []
    for atoms in labelled:
        copy = atoms.copy()
        copy.info.pop("energy")
        copy.calc = SinglePointCalculator(copy, energy=atoms.get_potential_energy(), forces=atoms.get_forces())
        frames.append(copy)
    write(tmp_path / "emt.extxyz", frames)
    raw = {"name": "krr", "data": {"path": str(tmp_path / "emt.extxyz"), "train": 20, "val": 5, "test": 5},
           "model": {"kind": "gp-energy", "hyperparameters": {"descriptor": DESCRIPTORS["soap"],
                                                                "kernel_params": {"alpha": 1e-6}}},
           "out_dir": str(tmp_path / "run"), "progress": False}
    (tmp_path / "krr.yaml").write_text(yaml.safe_dump(raw))
    result = train(load_config(tmp_path / "krr.yaml"))
    assert result.metrics["epochs"] == 0 and result.metrics["test"]["frames"] == 5
    calc = MLCalc.load(result.model_path, dtype=torch.float64)
    assert calc.model.n_train == 20 and calc.model.kernel_params["alpha"] == 1e-6
    test = [frames[i] for i in result.split["test"]]
    mae = 1000 * np.abs(np.concatenate(calc.predict(test)["forces"]) - np.concatenate([a.get_forces() for a in test])).mean()
    assert mae == pytest.approx(result.metrics["test"]["forces_mae_meV_per_A"], rel=1e-3)


def test_fitting_forces_too_recovers_a_kernel_model_from_noisy_energies():
    """Labels from a KRR model (so a fit can be exact), energies with 10 meV noise: the forces pin the model down."""
    frames = []
    for k in range(40):
        atoms = load_molecule("ethanol")
        atoms.rattle(0.08, seed=k)
        frames.append(atoms)
    train, held_out = frames[:30], frames[30:]
    descriptor, rng = DESCRIPTORS["coulomb_matrix"], np.random.default_rng(0)
    teacher = fit_kernel_energy_model(train, EnergyKernelFit(descriptor=descriptor, alpha=1e-6, gamma=1e-2),
                                      energies=rng.normal(size=30))
    labels = MLCalc(teacher, dtype=torch.float64).predict(frames)
    noisy = labels["energy"][:30] + rng.normal(scale=0.01, size=30)
    reference = np.concatenate(labels["forces"][30:])
    errors = {}
    for weight in (0.0, 1e3):
        fit = EnergyKernelFit(descriptor=descriptor, alpha=1e-10, gamma=1e-2, force_weight=weight)
        model = fit_kernel_energy_model(train, fit, energies=noisy, forces=labels["forces"][:30])
        assert model.kernel_params.get("force_weight", 0.0) == weight
        predicted = MLCalc(model, dtype=torch.float64).predict(held_out)["forces"]
        errors[weight] = np.abs(np.concatenate(predicted) - reference).mean()
    assert errors[1e3] < 0.1 * errors[0.0], errors
    with pytest.raises(ValueError, match="gp-energy models fit energies only"):
        fit_kernel_energy_model(train, EnergyKernelFit(descriptor=descriptor, method="gp", force_weight=1.0),
                                energies=noisy, forces=labels["forces"][:30])
