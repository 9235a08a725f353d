"""Property models (SchNet, PhysNet, MPNN, MPNN-transformer, GNN and linear baselines): symmetry,
readouts, standardisation and the .mlc round trip."""

import numpy as np
import pytest
import torch
from ase import Atoms

from mlcalc import MLCalc
from mlcalc.data.molecules import load_molecule
from mlcalc.modelfile import load_model, read_manifest, save_model
from mlcalc.model import create_model, known_kinds
from mlcalc.testing import random_rotation, tiny_property_model

EXPECTED_KINDS = ["cgcnn", "gnn", "linear", "mpnn", "mpnn-transformer", "physnet", "schnet"]


@pytest.fixture(params=EXPECTED_KINDS)
def property_kind(request):
    return request.param


@pytest.fixture
def molecules():
    """Shipped molecules plus fluoromethane, so that every QM9 element occurs; rattled."""
    mols = [load_molecule(name) for name in ("uracil", "ethanol", "pyrimidine")]
    mols.append(Atoms("CFH3", positions=[[0, 0, 0], [0, 0, 1.38], [1.03, 0, -0.36], [-0.52, 0.89, -0.36],
                                          [-0.52, -0.89, -0.36]]))
    for k, atoms in enumerate(mols):
        atoms.rattle(0.03, seed=k)
    return mols


#: fitted kernel models (tests/test_kernel_models.py)
KERNEL_KINDS = ["gp", "krr"]


def test_every_kind_is_registered():
    assert known_kinds("property") == sorted(EXPECTED_KINDS + KERNEL_KINDS)
    # the ensemble is listed with the energy kinds (its class family); it takes property members too
    assert known_kinds("energy") == ["bpnn", "chgnet", "ensemble", "gp-energy", "krr-energy", "sevennet", "sum",
                                        "torchmdnet-et", "torchmdnet-tensornet"]
    assert set(known_kinds()) == set(EXPECTED_KINDS + KERNEL_KINDS) | set(known_kinds("energy"))


def test_invariant_to_rotation_translation_and_permutation(property_kind, molecules):
    calc = MLCalc(tiny_property_model(property_kind), dtype=torch.float64)
    rng = np.random.default_rng(1)
    reference = calc.predict(molecules)
    changed = []
    for k, atoms in enumerate(molecules):
        moved = atoms[rng.permutation(len(atoms))]
        moved.positions = moved.positions @ random_rotation(k).T + rng.normal(size=3) * 5.0
        changed.append(moved)
    out = calc.predict(changed)
    for name in ("homo", "zpve"):
        assert np.ptp(reference[name]) > 1e-6, "outputs must differ between molecules for the test to mean anything"
        np.testing.assert_allclose(out[name], reference[name], rtol=0, atol=1e-9)


def test_extensive_targets_add_up_and_intensive_ones_do_not(property_kind, molecules):
    """Two far-apart copies of a molecule: twice the ZPVE (summed over atoms), the same HOMO (averaged).

    The linear baseline is linear in element counts for every target, so only its extensive part adds up.
    """
    calc = MLCalc(tiny_property_model(property_kind), dtype=torch.float64)
    single = molecules[1]
    pair = single + single
    pair.positions[len(single):] += [30.0, 0, 0]
    out = calc.predict([single, pair])
    assert out["zpve"][1] == pytest.approx(2 * out["zpve"][0], rel=1e-9)
    if property_kind != "linear":
        assert out["homo"][1] == pytest.approx(out["homo"][0], rel=1e-9)


def test_standardisation_round_trip(property_kind):
    model = tiny_property_model(property_kind).double()
    n_atoms = torch.tensor([3, 9, 20])
    values = torch.tensor([[-7.0, 1.2], [-6.5, 2.8], [-5.9, 4.4]], dtype=torch.float64)
    z_hat = model.standardise(values, n_atoms)
    torch.testing.assert_close(model.destandardise(z_hat, n_atoms), values)
    mean, std = model.target_mean, model.target_std
    torch.testing.assert_close(z_hat[:, 0], (values[:, 0] - mean[0]) / std[0])  # homo: intensive
    torch.testing.assert_close(z_hat[:, 1], (values[:, 1] / n_atoms - mean[1]) / std[1])  # zpve: per atom
    with pytest.raises(ValueError, match="positive deviations"):
        model.set_standardisation([0.0, 0.0], [1.0, 0.0])
    with pytest.raises(ValueError, match=r"need 2 means and standard deviations for \['homo', 'zpve'\]"):
        model.set_standardisation([0.0], [1.0])


def test_model_file_round_trip(property_kind, tmp_path, molecules):
    model = tiny_property_model(property_kind, seed=7)
    path = save_model(tmp_path / "p.mlc", model, normalisation={"note": "test"})
    loaded, manifest = load_model(path, dtype=torch.float64)
    assert type(loaded) is type(model) and manifest["kind"] == property_kind
    assert manifest["properties"] == {"homo": {"unit": "eV", "per": "structure", "extensive": False},
                                      "zpve": {"unit": "eV", "per": "structure", "extensive": True}}
    assert read_manifest(path)["hyperparameters"]["targets"] == ["homo", "zpve"]
    for name in ("target_mean", "target_std"):
        torch.testing.assert_close(loaded.state_dict()[name].float(), model.state_dict()[name])
    assert not torch.equal(loaded.target_mean, torch.zeros(2)), "standardisation must survive the file"
    before = MLCalc(model, dtype=torch.float64).predict(molecules)
    after = MLCalc(loaded, manifest, dtype=torch.float64).predict(molecules)
    for name in before:
        np.testing.assert_allclose(after[name], before[name], rtol=0, atol=1e-12)


def test_single_target_and_other_units():
    model = tiny_property_model("physnet", targets=["mu"], units=["D"], extensive=[False])
    calc = MLCalc(model)
    assert calc.implemented_properties == ["mu"] and calc.units == {"mu": "D"}


def test_bad_hyperparameters_are_named():
    common = {"elements": [1, 6], "targets": ["homo"], "units": ["eV"], "extensive": [False]}
    with pytest.raises(ValueError, match=r"hidden_channels \(10\) must be divisible by num_heads \(4\)"):
        create_model("mpnn-transformer", **common, hidden_channels=10, num_heads=4)
    with pytest.raises(ValueError, match="bad hyperparameters for 'schnet'.*num_heads"):
        create_model("schnet", **common, num_heads=4)
    with pytest.raises(ValueError, match="aggr must be"):
        create_model("mpnn", **common, aggr="sum")
    with pytest.raises(ValueError, match="one unit and one extensive flag per target"):
        create_model("gnn", **{**common, "units": []})
    with pytest.raises(ValueError, match=r"elements must be atomic numbers 1..100, got \[0, 6\]"):
        create_model("schnet", **{**common, "elements": [0, 6]})
    with pytest.raises(ValueError, match="target cannot be named .forces.: reserved for energy models"):
        create_model("gnn", **{**common, "targets": ["forces"]})
