"""Property models through ASE: get_property, results, predict, and clear refusals."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError

from mlcalc import MLCalc
from mlcalc.data.molecules import load_molecule
from mlcalc.modelfile import save_model
from mlcalc.testing import tiny_property_model


@pytest.fixture
def homo_calc(tmp_path):
    path = save_model(tmp_path / "qm9-homo-schnet.mlc", tiny_property_model("schnet", targets=["homo", "zpve"]))
    return MLCalc.load(path, dtype=torch.float64)


def test_property_through_ase(homo_calc):
    atoms = load_molecule("uracil")
    atoms.calc = homo_calc
    assert homo_calc.implemented_properties == ["homo", "zpve"]
    assert homo_calc.units == {"homo": "eV", "zpve": "eV"}
    homo = homo_calc.get_property("homo", atoms)
    assert isinstance(homo, float) and np.isfinite(homo)
    assert homo_calc.results["homo"] == homo and "zpve" in homo_calc.results
    assert homo_calc.get_property("zpve", atoms) == homo_calc.results["zpve"]


def test_results_cached_until_atoms_change(homo_calc):
    atoms = load_molecule("ethanol")
    atoms.calc = homo_calc
    calls = []
    handle = homo_calc.model.register_forward_hook(lambda *args: calls.append(1))
    first = homo_calc.get_property("homo", atoms)
    homo_calc.get_property("zpve", atoms)
    assert len(calls) == 1, "all targets come from one evaluation"
    atoms.positions[0, 0] += 0.2
    assert homo_calc.get_property("homo", atoms) != first and len(calls) == 2
    handle.remove()


def test_predict_batches_match_single_evaluations(homo_calc):
    structures = [load_molecule(name) for name in ("uracil", "ethanol", "pyrimidine", "naphthalene")] * 2
    out = homo_calc.predict(structures, batch_size=3)
    assert set(out) == {"homo", "zpve"} and out["homo"].shape == (8,)
    for k, atoms in enumerate(structures):
        assert out["homo"][k] == pytest.approx(homo_calc.get_property("homo", atoms), abs=1e-10)
        assert out["zpve"][k] == pytest.approx(homo_calc.get_property("zpve", atoms), abs=1e-10)
    assert homo_calc.predict([])["homo"].shape == (0,)
    with pytest.raises(ValueError, match="stress asked for, but this is a property model for homo, zpve"):
        homo_calc.predict(structures, stress=True)


def test_no_energy_or_forces_from_a_property_model(homo_calc):
    atoms = load_molecule("ethanol")
    atoms.calc = homo_calc
    with pytest.raises(PropertyNotImplementedError,
                       match=r"'forces' is not predicted by this model: it is a property model for homo \(eV\), "
                             r"zpve \(eV\); property models have no energy, forces or stress"):
        atoms.get_forces()
    with pytest.raises(PropertyNotImplementedError, match="'energy' is not predicted"):
        atoms.get_potential_energy()
    with pytest.raises(PropertyNotImplementedError, match="'lumo' is not predicted"):
        homo_calc.get_property("lumo", atoms)


def test_element_outside_qm9_is_refused(homo_calc):
    silane = Atoms("SiH4", positions=[[0, 0, 0], [0.86, 0.86, 0.86], [-0.86, -0.86, 0.86], [-0.86, 0.86, -0.86],
                                      [0.86, -0.86, -0.86]])
    silane.calc = homo_calc
    with pytest.raises(ValueError, match=r"element\(s\) Si not known to this model; it was trained on: H, C, N, O, F"):
        homo_calc.get_property("homo", silane)
    with pytest.raises(ValueError, match="Si not known"):
        homo_calc.predict([load_molecule("ethanol"), silane])


def test_energy_model_error_names_its_properties(tiny_et_calc, ethanol):
    with pytest.raises(PropertyNotImplementedError, match="'homo' is not predicted by this energy model; it gives energy"):
        tiny_et_calc.get_property("homo", ethanol)
