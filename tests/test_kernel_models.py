"""Kernel ridge regression and Gaussian process property models (kinds ``krr``, ``gp``) through MLCalc."""

import json

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from mlcalc import MLCalc
from mlcalc.modelfile import load_model, read_model_file, save_model
from mlcalc.potentials.training.kernel_fit import PropertyKernelFit, fit_kernel_model
from mlcalc.testing.property_models import small_molecules, smooth_targets

CM = {"name": "coulomb_matrix", "n_atoms_max": 12}
SOAP = {"name": "soap", "r_cut": 4.0, "n_max": 3, "l_max": 2}


@pytest.fixture(scope="module")
def data():
    mols = small_molecules((1, 6, 7, 8), max_atoms=12)
    return mols, smooth_targets(mols, 2, seed=3)


@pytest.mark.parametrize("method, kernel, descriptor", [
    ("krr", "rbf", CM), ("krr", "laplacian", CM), ("krr", "rbf", SOAP), ("gp", "rbf", CM), ("gp", "laplacian", SOAP),
])
def test_tiny_regularisation_reproduces_the_training_labels(data, method, kernel, descriptor):
    mols, y = data
    model = fit_kernel_model(mols, y, PropertyKernelFit(targets=["homo", "zpve"], descriptor=descriptor, method=method,
                                                        kernel=kernel, alpha=1e-10, extensive=[False, True],
                                                        cache=False, progress=False))
    out = MLCalc(model, dtype=torch.float64).predict(mols)
    np.testing.assert_allclose(out["homo"], y[:, 0], atol=1e-5)
    np.testing.assert_allclose(out["zpve"], y[:, 1], atol=1e-5)
    # not an identity map: a held-out molecule is predicted, but not exactly
    held = fit_kernel_model(mols[1:], y[1:], PropertyKernelFit(targets=["homo", "zpve"], descriptor=descriptor,
                                                               method=method, kernel=kernel, alpha=1e-10,
                                                               extensive=[False, True], cache=False, progress=False))
    assert abs(MLCalc(held, dtype=torch.float64).predict(mols[:1])["homo"][0] - y[0, 0]) > 1e-4


def test_krr_equals_scikit_learn(data):
    from sklearn.kernel_ridge import KernelRidge

    mols, y = data
    model = fit_kernel_model(mols[:-5], y[:-5, :1], PropertyKernelFit(targets=["homo"], descriptor=CM,
                                                                      kernel="laplacian", alpha=1e-3, gamma=0.05,
                                                                      cache=False, progress=False))
    x = (model.features(mols) - model.feature_mean.numpy()) / model.feature_scale.numpy()
    z = (y[:-5, 0] - model.target_mean.item()) / model.target_std.item()
    ref = KernelRidge(alpha=1e-3, kernel="laplacian", gamma=0.05).fit(x[:-5], z).predict(x[-5:])
    got = MLCalc(model, dtype=torch.float64).predict(mols[-5:])["homo"]
    # same solution up to round-off (the L1 distances are summed in another order)
    np.testing.assert_allclose(got, model.target_mean.item() + model.target_std.item() * ref, atol=1e-6)


def test_gp_std_is_small_at_training_points_and_larger_far_away(data):
    mols, y = data
    model = fit_kernel_model(mols, y[:, :1], PropertyKernelFit(targets=["homo"], descriptor=CM, method="gp",
                                                               kernel="rbf", alpha=1e-8, cache=False, progress=False))
    calc = MLCalc(model, dtype=torch.float64)
    assert "homo_std" in calc.implemented_properties and calc.units["homo_std"] == "eV"
    at_train = calc.predict(mols)["homo_std"]
    far = [m.copy() for m in mols[:3]]
    for atoms in far:
        atoms.positions *= 1.6  # stretched bonds: far from every training structure
    away = calc.predict(far)["homo_std"]
    assert at_train.max() < 1e-2 * y[:, 0].std()
    assert away.min() > 10 * at_train.max() and away.min() > 0.1 * y[:, 0].std()
    atoms = far[0]
    atoms.calc = calc
    assert calc.get_property("homo_std", atoms) == pytest.approx(away[0])
    assert np.isfinite(calc.get_property("homo", atoms))


@pytest.mark.parametrize("method", ["krr", "gp"])
def test_predictions_are_invariant_to_rotation_and_permutation(data, method):
    mols, y = data
    model = fit_kernel_model(mols[:-4], y[:-4, :1], PropertyKernelFit(targets=["homo"], descriptor=SOAP, method=method,
                                                                      alpha=1e-4, cache=False, progress=False))
    calc = MLCalc(model, dtype=torch.float64)
    moved = []
    for k, atoms in enumerate(mols[-4:]):
        out = atoms[np.random.default_rng(k).permutation(len(atoms))]
        out.positions = Rotation.random(random_state=k).apply(out.positions) + 2.0
        moved.append(out)
    before, after = calc.predict(mols[-4:]), calc.predict(moved)
    for name in before:
        np.testing.assert_allclose(after[name], before[name], atol=1e-8)


@pytest.mark.parametrize("method, kernel", [("krr", "rbf"), ("krr", "linear"), ("gp", "laplacian"), ("gp", "linear")])
def test_model_file_round_trip_holds_arrays_not_pickles(data, tmp_path, method, kernel):
    mols, y = data
    model = fit_kernel_model(mols[:-4], y[:-4], PropertyKernelFit(targets=["homo", "zpve"], descriptor=CM,
                                                                  method=method, kernel=kernel, alpha=1e-4,
                                                                  extensive=[False, True], cache=False, progress=False))
    path = save_model(tmp_path / "k.mlc", model)
    assert path.read_bytes()[8:9] == b"{"  # a safetensors header (JSON), not a pickle stream
    manifest, weights = read_model_file(path)
    assert manifest["kind"] == method and manifest["hyperparameters"]["descriptor"]["name"] == "coulomb_matrix"
    assert weights["train_x"].shape == (len(mols) - 4, 144) and weights["dual"].shape == (len(mols) - 4, 2)
    assert json.loads(json.dumps(manifest["hyperparameters"]["kernel_params"])) == model.kernel_params
    loaded, manifest = load_model(path, dtype=torch.float64)
    before = MLCalc(model, dtype=torch.float64).predict(mols)
    after = MLCalc(loaded, manifest, dtype=torch.float64).predict(mols)
    assert set(before) == ({"homo", "zpve"} | ({"homo_std", "zpve_std"} if method == "gp" else set()))
    for name, array in model.state_dict().items():  # the file holds the model's arrays bit for bit
        assert torch.equal(loaded.state_dict()[name], array), name
    for name in before:  # the same arithmetic; BLAS may round differently for another memory layout
        np.testing.assert_allclose(after[name], before[name], rtol=1e-6, atol=1e-9)


def test_bad_input_gives_one_line_errors(data):
    mols, y = data
    with pytest.raises(ValueError, match="unknown kernel 'poly'; choose from rbf, laplacian, linear"):
        fit_kernel_model(mols, y[:, :1], PropertyKernelFit(targets=["homo"], descriptor=CM, kernel="poly", cache=False))
    with pytest.raises(ValueError, match="unknown kernel method 'svm'"):
        fit_kernel_model(mols, y[:, :1], PropertyKernelFit(targets=["homo"], descriptor=CM, method="svm", cache=False))
    with pytest.raises(ValueError, match="at least 2 distinct structures"):
        fit_kernel_model([mols[0], mols[0].copy()], y[:2, :1], PropertyKernelFit(targets=["homo"], descriptor=CM,
                                                                                 cache=False, progress=False))
    bad = y[:, :1].copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="must be finite"):
        fit_kernel_model(mols, bad, PropertyKernelFit(targets=["homo"], descriptor=CM, cache=False, progress=False))


def test_raw_descriptors_when_asked(data):
    mols, y = data
    model = fit_kernel_model(mols, y[:, :1], PropertyKernelFit(targets=["homo"], descriptor=CM, kernel="laplacian",
                                                               gamma=1e-3, alpha=1e-10, standardise_features=False,
                                                               cache=False, progress=False))
    assert not model.feature_mean.any() and (model.feature_scale == 1).all()
    np.testing.assert_allclose(model.train_x.numpy(), model.features(mols), rtol=0, atol=0)
    np.testing.assert_allclose(MLCalc(model, dtype=torch.float64).predict(mols)["homo"], y[:, 0], atol=1e-5)
