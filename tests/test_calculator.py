"""MLCalc as an ASE calculator: contract, caching, batches, and clear errors for bad input."""

import json

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, PropertyNotImplementedError

from mlcalc import MLCalc
from mlcalc.testing import tiny_potential


def test_is_an_ase_calculator_with_energy_properties(tiny_et_calc):
    assert isinstance(tiny_et_calc, Calculator)
    assert {"energy", "free_energy", "forces", "stress"} <= set(tiny_et_calc.implemented_properties)


def test_results_cached_until_atoms_change(tiny_et_calc, rattled_ethanol):
    calls = []
    model = tiny_et_calc.model
    handle = model.register_forward_hook(lambda *args: calls.append(1))
    rattled_ethanol.calc = tiny_et_calc
    e = rattled_ethanol.get_potential_energy()
    f = rattled_ethanol.get_forces()
    assert rattled_ethanol.get_potential_energy(force_consistent=True) == e
    assert len(calls) == 1, "energy, forces and free energy come from one evaluation"
    rattled_ethanol.positions[0, 0] += 0.1
    assert rattled_ethanol.get_potential_energy() != e
    assert len(calls) == 2
    handle.remove()
    assert f.shape == (9, 3)


def test_predict_matches_single_evaluations(tiny_et_calc, rattled_ethanol):
    from mlcalc.data.molecules import load_molecule

    structures = [rattled_ethanol, load_molecule("ethanol"), load_molecule("n-propanol")] * 3
    out = tiny_et_calc.predict(structures, batch_size=4)
    assert out["energy"].shape == (9,) and len(out["forces"]) == 9
    for atoms, e, f in zip(structures, out["energy"], out["forces"]):
        single = atoms.copy()
        single.calc = tiny_et_calc
        assert e == pytest.approx(single.get_potential_energy(), abs=1e-9)
        np.testing.assert_allclose(f, single.get_forces(), atol=1e-9)
    with pytest.raises(ValueError, match="batch_size"):
        tiny_et_calc.predict(structures, batch_size=0)
    one = tiny_et_calc.predict(structures[1])  # one Atoms alone: a batch of one
    assert one["energy"].shape == (1,) and one["energy"][0] == pytest.approx(out["energy"][1], abs=1e-9)


def test_predict_stress_for_periodic_batch(small_cell):
    calc = MLCalc(tiny_potential(elements=(6,), periodic=True), dtype=torch.float64)
    cells = [small_cell, small_cell.repeat((2, 1, 1))]
    out = calc.predict(cells, stress=True)
    small_cell.calc = calc
    np.testing.assert_allclose(out["stress"][0], small_cell.get_stress(), atol=1e-12)
    np.testing.assert_allclose(out["stress"][1], out["stress"][0], atol=1e-9)  # intensive
    with pytest.raises(ValueError, match="not periodic"):
        calc.predict([Atoms("C2", positions=[[0, 0, 0], [1.4, 0, 0]])], stress=True)


def test_unknown_element_is_named_with_known_ones(tiny_et_calc):
    atoms = Atoms("CCl", positions=[[0, 0, 0], [1.8, 0, 0]])
    atoms.calc = tiny_et_calc
    with pytest.raises(ValueError, match=r"element\(s\) Cl not known to this model; it was trained on: H, C, O"):
        atoms.get_potential_energy()


def test_nan_positions(tiny_et_calc, ethanol):
    ethanol.positions[2, 1] = np.nan
    ethanol.calc = tiny_et_calc
    with pytest.raises(ValueError, match=r"positions of atoms \[2\] are NaN or infinite"):
        ethanol.get_forces()


def test_empty_atoms(tiny_et_calc):
    atoms = Atoms()
    atoms.calc = tiny_et_calc
    with pytest.raises(ValueError, match="empty"):
        atoms.get_potential_energy()


def test_periodic_model_needs_a_cell():
    calc = MLCalc(tiny_potential(elements=(6,), periodic=True))
    atoms = Atoms("C2", positions=[[0, 0, 0], [1.5, 0, 0]])
    atoms.calc = calc
    with pytest.raises(ValueError, match="periodic systems but the Atoms have no periodic cell"):
        atoms.get_potential_energy()
    atoms.pbc = True  # periodic flag without a cell
    with pytest.raises(ValueError, match="cell vector 0 is zero"):
        atoms.get_potential_energy()


def test_atoms_too_close(tiny_et_calc, ethanol):
    ethanol.positions[1] = ethanol.positions[0] + [0.2, 0, 0]
    ethanol.calc = tiny_et_calc
    with pytest.raises(ValueError, match=r"atoms 0 \(C\) and 1 \(C\) are 0.200 Å apart, closer than the sane minimum"):
        ethanol.get_potential_energy()


def test_too_close_across_periodic_boundary(small_cell):
    calc = MLCalc(tiny_potential(elements=(6,), periodic=True))
    atoms = bulk("C", "sc", a=0.4)
    atoms.calc = calc
    with pytest.raises(ValueError, match="closer than the sane minimum"):
        atoms.get_potential_energy()


def test_not_atoms_and_bad_dtype(tiny_et_calc):
    with pytest.raises(TypeError, match="ase.Atoms"):
        tiny_et_calc.predict(["not atoms"])
    with pytest.raises(TypeError, match="dtype"):
        MLCalc(tiny_potential(), dtype=torch.int64)


def test_stress_of_a_molecule_is_not_implemented(tiny_et_calc, ethanol):
    ethanol.calc = tiny_et_calc
    with pytest.raises(PropertyNotImplementedError, match="periodic"):
        ethanol.get_stress()


def test_predict_ignores_results_attached_to_the_inputs(tiny_et_calc, rattled_ethanol, ethanol):
    """Structures carrying old results (or none) batch together; the results are not reused."""
    from ase.calculators.singlepoint import SinglePointCalculator

    labelled = rattled_ethanol.copy()
    labelled.calc = SinglePointCalculator(labelled, energy=123.0, forces=np.ones((9, 3)))
    out = tiny_et_calc.predict([labelled, ethanol])
    fresh = tiny_et_calc.predict([rattled_ethanol])
    assert out["energy"][0] == pytest.approx(fresh["energy"][0], abs=1e-9) and out["energy"][0] != 123.0


def test_todict_describes_and_rebuilds_the_calculator(ethanol, tmp_path):
    from ase.io import read, write

    calc = MLCalc.load("ethanol-et", dtype="float64")
    params = calc.todict()
    assert params == {"model": "ethanol-et", "device": "cpu", "dtype": "float64", "min_distance": 0.5}
    again = MLCalc(**json.loads(json.dumps(params)))
    assert again.dtype is torch.float64 and next(again.model.parameters()).dtype is torch.float64
    assert again.get_potential_energy(ethanol) == calc.get_potential_energy(ethanol)
    ethanol.calc = calc
    ethanol.get_forces()
    write(tmp_path / "frame.traj", ethanol)
    assert dict(read(tmp_path / "frame.traj").calc.parameters) == params  # ASE files record how to rebuild it


def test_dtype_has_one_form_and_fixed_parameters_stay_fixed(ethanol):
    a, b = MLCalc.load("ethanol-et", dtype=torch.float64), MLCalc.load("ethanol-et", dtype="float64")
    assert a.dtype is b.dtype is torch.float64 and a.parameters["dtype"] == "float64"
    assert a.get_potential_energy(ethanol) == b.get_potential_energy(ethanol)
    with pytest.raises(TypeError, match="dtype must be torch.float32 or torch.float64"):
        MLCalc.load("ethanol-et", dtype="float16")
    with pytest.raises(ValueError, match="dtype cannot change on a built calculator"):
        a.set(dtype="float32")
    a.set(min_distance=0.3)
    assert a.min_distance == 0.3 and a.todict()["min_distance"] == 0.3
    with pytest.raises(TypeError, match="MLCalc needs a model: a .mlc file, a shipped model name"):
        MLCalc()
