"""Every model kind: invariance, equivariance, forces = -dE/dr, stress = (1/V) dE/dε."""

import numpy as np
import pytest
import torch

from mlcalc import MLCalc
from mlcalc.testing import finite_difference_forces, finite_difference_stress, symmetry_errors, tiny_potential


def test_energy_invariant_and_forces_equivariant(tiny_calc, rattled_ethanol):
    rattled_ethanol.calc = tiny_calc
    errors = symmetry_errors(rattled_ethanol, seed=4)
    scale = np.abs(rattled_ethanol.get_forces()).max()
    assert scale > 1e-3, "forces too small to make the equivariance check meaningful"
    for name, err in errors.items():
        assert err < 1e-9, f"{name} changed by {err}"


def test_symmetry_check_detects_a_broken_model(rattled_ethanol, ethanol):
    """The helper is not vacuous: a position-dependent external field breaks invariance."""
    from ase.calculators.calculator import Calculator, all_changes

    class Field(Calculator):
        implemented_properties = ["energy", "forces"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            self.results = {"energy": float(self.atoms.positions[:, 0].sum()),
                            "forces": -np.tile([1.0, 0, 0], (len(self.atoms), 1))}

    rattled_ethanol.calc = Field()
    errors = symmetry_errors(rattled_ethanol, seed=4)
    assert errors["rotation_energy"] > 1e-3 and errors["translation_energy"] > 1e-3


def test_forces_are_minus_energy_gradient(tiny_calc, rattled_ethanol):
    rattled_ethanol.calc = tiny_calc
    analytic = rattled_ethanol.get_forces()
    numeric = finite_difference_forces(rattled_ethanol, h=1e-4)
    np.testing.assert_allclose(analytic, numeric, atol=1e-6)


def test_stress_matches_finite_strain_on_small_periodic_cell(kind, small_cell):
    calc = MLCalc(tiny_potential(kind, elements=(6,), periodic=True), dtype=torch.float64)
    small_cell.calc = calc
    stress = small_cell.get_stress()
    numeric = finite_difference_stress(small_cell, h=1e-5)
    assert np.abs(stress).max() > 1e-4
    np.testing.assert_allclose(stress, numeric, atol=1e-7)


def _graphene_slab():
    from ase.build import graphene

    atoms = graphene(a=2.46, vacuum=5.0)  # periodic in x and y only, cell vectors 2.46 Å
    atoms.rattle(0.03, seed=2)
    return atoms


@pytest.mark.parametrize("system, repeat", [("diamond", (2, 2, 2)), ("graphene slab", (2, 2, 1))])
def test_cells_smaller_than_cutoff_match_their_supercell(kind, small_cell, system, repeat):
    """A cell whose atoms see their own images gives the same energy per atom and forces as a
    supercell without self-images, and its forces are still exact gradients."""
    atoms = small_cell if system == "diamond" else _graphene_slab()
    calc = MLCalc(tiny_potential(kind, elements=(6,), periodic=True), dtype=torch.float64)
    atoms.calc = calc
    np.testing.assert_allclose(atoms.get_forces(), finite_difference_forces(atoms), atol=1e-6)
    big = atoms.repeat(repeat)
    big.calc = calc
    assert big.get_potential_energy() / len(big) == pytest.approx(atoms.get_potential_energy() / len(atoms), abs=1e-9)
    np.testing.assert_allclose(big.get_forces()[: len(atoms)], atoms.get_forces(), atol=1e-9)


def test_float32_and_float64_agree(kind, rattled_ethanol):
    energies = {}
    for dtype in (torch.float32, torch.float64):
        atoms = rattled_ethanol.copy()
        atoms.calc = MLCalc(tiny_potential(kind), dtype=dtype)
        energies[dtype] = atoms.get_potential_energy()
        assert all(p.dtype == dtype for p in atoms.calc.model.parameters())
        assert atoms.get_forces().dtype == np.float64  # ASE always gets float64 arrays
    assert energies[torch.float32] == pytest.approx(energies[torch.float64], abs=1e-3)
    assert energies[torch.float32] != energies[torch.float64]  # float32 really ran in float32
