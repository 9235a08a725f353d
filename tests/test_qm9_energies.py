"""QM9 energies (U0, U, H, G) over per-element references fitted by least squares; polarizability and H configs."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from mlcalc import MLCalc
from mlcalc.potentials.training.config import load_config
from mlcalc.model.checks import check_against_weights
from mlcalc.modelfile import save_model
from mlcalc.potentials.training import train
from mlcalc.potentials.training.property_data import element_counts, element_references
from mlcalc.testing import tiny_property_model

CONFIGS = Path(__file__).parent.parent / "configs"


def test_element_references_recover_known_per_element_energies():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 9, size=(300, 4)).astype(float)
    known = np.array([[-13.6, 2.0], [-1030.0, 5.0], [-1480.0, 7.0], [-2040.0, 9.0]])  # two targets
    values = counts @ known + rng.normal(0, 0.05, size=(300, 2))
    np.testing.assert_allclose(element_references(counts, values), known, atol=0.02)
    # an element no structure has gets 0, the others are unchanged
    padded = np.concatenate([counts, np.zeros((300, 1))], axis=1)
    refs = element_references(padded, values)
    assert np.all(refs[-1] == 0) and np.allclose(refs[:-1], known, atol=0.02)


def test_element_counts_per_structure():
    counts = element_counts([np.array([6, 1, 1, 1, 1]), np.array([8, 1, 1])], [1, 6, 7, 8, 9])
    np.testing.assert_array_equal(counts, [[4, 1, 0, 0, 0], [2, 0, 0, 1, 0]])
    with pytest.raises(ValueError, match=r"elements \[16\] outside"):
        element_counts([np.array([16])], [1, 6])


def test_references_add_to_the_output_and_survive_the_file(tmp_path, ethanol):
    model = tiny_property_model("schnet", targets=["H", "alpha"], units=["eV", "bohr^3"], extensive=[True, True])
    calc = MLCalc(model, dtype=torch.float64)
    before = calc.get_property("H", ethanol)
    atomrefs = np.zeros((5, 2))
    atomrefs[:, 0] = [-16.0, -1030.0, -1480.0, -2040.0, -2710.0]  # H C N O F
    model.set_atomrefs(atomrefs)
    after = MLCalc(model, dtype=torch.float64)
    assert after.get_property("H", ethanol) - before == pytest.approx(6 * -16.0 + 2 * -1030.0 - 2040.0)
    assert after.get_property("alpha", ethanol) == pytest.approx(calc.get_property("alpha", ethanol))
    path = save_model(tmp_path / "h.mlc", model)
    assert MLCalc.load(path, dtype=torch.float64).get_property("H", ethanol) == pytest.approx(
        after.get_property("H", ethanol))
    # a model saved without references (older files) loads with zero references
    state = {k: v for k, v in model.state_dict().items() if k != "target_atomref"}
    fresh = tiny_property_model("schnet", targets=["H", "alpha"], units=["eV", "bohr^3"], extensive=[True, True])
    check_against_weights(fresh, {"kind": "schnet", "properties": fresh.properties}, state)
    fresh.load_state_dict(state, strict=True)
    assert not fresh.target_atomref.any()
    with pytest.raises(ValueError, match="atomrefs of shape"):
        model.set_atomrefs(np.zeros((4, 2)))


@pytest.mark.parametrize("target", ["alpha", "h"])
def test_alpha_and_enthalpy_configs_are_valid(target):
    for kind in ("linear", "schnet"):
        cfg = load_config(CONFIGS / f"qm9_{target}_{kind}.yaml")
        assert cfg.data.targets == [{"alpha": "alpha", "h": "H"}[target]] and cfg.name == f"qm9-{target}-{kind}"
        assert cfg.data.subset == 20000 and cfg.model.kind == kind


def test_one_epoch_enthalpy_and_polarizability_run(tmp_path, qm9_env, qm9, caplog):
    """H is learned over per-element references (recorded in the file), alpha directly; errors in eV and bohr^3.

    The 96 training molecules have no F: its reference is 0 (a warning says so), and test
    molecules with F are off by its atom energy, about 2,700 eV per F.
    """
    raw = yaml.safe_load((CONFIGS / "qm9_h_schnet.yaml").read_text())
    raw.update(out_dir=str(tmp_path / "run"), progress=False)
    raw["data"].update(targets=["H", "alpha"], subset=120)
    raw["model"]["hyperparameters"] = {"hidden_channels": 16, "num_filters": 16, "num_interactions": 1,
                                       "num_gaussians": 16}
    raw["optim"].update(epochs=1, batch_size=16)
    path = tmp_path / "h.yaml"
    path.write_text(yaml.safe_dump(raw))
    result = train(load_config(path))
    manifest = MLCalc.load(result.model_path).manifest
    refs = manifest["normalisation"]["atomrefs"]
    assert set(refs) == {"H"} and -20 < refs["H"]["H"] < -10 and -1050 < refs["H"]["C"] < -1010
    assert refs["H"]["F"] == 0 and "no training molecule has F" in caplog.text
    test = result.metrics["test"]
    structures = qm9.structures(result.split["test"])
    h = qm9.targets(result.split["test"], ["H"])[:, 0]
    predicted = MLCalc.load(result.model_path, dtype=torch.float64).predict(structures)
    assert np.abs(predicted["H"] - h).mean() == pytest.approx(test["H_mae_eV"], rel=1e-4)
    without_f = np.array([9 not in a.numbers for a in structures])
    # a total energy of ~10^4 eV, off by the residual only
    assert h.mean() < -5000 and np.abs(predicted["H"] - h)[without_f].mean() < 3.0
    assert 0 < test["alpha_mae_bohr3"] < 40
