"""Results do not depend on where a structure sits: float32 at 1e6 Å from the origin equals float32 at it."""

import numpy as np
import pytest
import torch
from ase.build import bulk

from mlcalc import MLCalc
from mlcalc.data import load_molecule
from mlcalc.graph import model_positions
from mlcalc.testing import tiny_potential

OFFSET = 1e6  # Å; before centring, float32 forces were off by 1.3 eV/Å here (docs/RESULTS.md)


def _results(calc, atoms, shift=0.0, stress=False):
    atoms = atoms.copy()
    atoms.positions = atoms.positions + shift
    atoms.calc = calc
    return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress() if stress else None


@pytest.fixture(scope="module")
def ethanol_et32():
    return MLCalc.load("ethanol-et", dtype="float32")


@pytest.mark.parametrize("periodic", [False, True], ids=["molecule", "periodic-box"])
def test_ethanol_et_in_float32_far_from_the_origin_equals_the_origin(ethanol_et32, periodic):
    atoms = load_molecule("ethanol")
    atoms.rattle(0.02, seed=1)
    if periodic:
        atoms.cell, atoms.pbc = np.eye(3) * 8.0, True
    e0, f0, _ = _results(ethanol_et32, atoms)
    e64, f64, _ = _results(MLCalc.load("ethanol-et", dtype="float64"), atoms)
    assert abs(e0 - e64) < 1e-3 and np.abs(f0 - f64).max() < 1e-3  # the float32 round-off scale
    e, f, _ = _results(ethanol_et32, atoms, shift=OFFSET)
    assert abs(e - e0) < 1e-4
    np.testing.assert_allclose(f, f0, rtol=0, atol=1e-4)


def test_a_crystal_with_atoms_in_far_images_gives_the_energy_forces_and_stress_at_the_origin(small_cell):
    """Whole crystal translated by 1e6 Å, and one atom moved by 10^5 lattice vectors on top: same results."""
    calc = MLCalc(tiny_potential("torchmdnet-et", elements=(6,), periodic=True), dtype="float32")
    e0, f0, s0 = _results(calc, small_cell, stress=True)
    far = small_cell.copy()
    far.positions = far.positions + OFFSET
    far.positions[1] += 100_000 * far.cell[0] - 30_000 * far.cell[2]
    e, f, s = _results(calc, far, stress=True)
    assert abs(e - e0) < 1e-4
    np.testing.assert_allclose(f, f0, rtol=0, atol=1e-4)
    np.testing.assert_allclose(s, s0, rtol=0, atol=1e-5)


def test_float64_positions_reach_the_model_unchanged(ethanol):
    """Only narrower dtypes are centred: float64 results stay bit-identical to stored trajectories."""
    ethanol.positions += 1234.5
    np.testing.assert_array_equal(model_positions(ethanol, torch.float64), ethanol.positions)
    centred = model_positions(ethanol, torch.float32)
    np.testing.assert_allclose(centred.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(centred - centred[0], ethanol.positions - ethanol.positions[0], atol=1e-9)
