"""Energy models are smooth at their cutoff: no energy jump as a pair crosses it, exact stress in a box that wide.

Freshly initialised networks have zero biases, which can hide a jump (torchmd-net's ET
without ``vector_cutoff`` jumps by the bias of its value projection), so the models here
get random biases first.
"""

import numpy as np
import pytest
import torch
from ase import Atoms

from mlcalc import MLCalc
from mlcalc.data.molecules import load_molecule
from mlcalc.model import known_kinds, model_class
from mlcalc.testing import finite_difference_stress, tiny_potential, with_random_biases
from conftest import installed_kinds


def _pair_at(distance: float) -> Atoms:
    """Two ethanols, the second moved along x until their closest pair is ``distance`` Å apart."""
    first = load_molecule("ethanol")
    second = first.copy()

    def closest(shift):
        gaps = first.positions[:, None, :] - second.positions[None, :, :] - [shift, 0.0, 0.0]
        return np.linalg.norm(gaps, axis=2).min()

    low, high = 0.0, 50.0
    for _ in range(200):  # bisection: closest() grows with the shift here
        mid = 0.5 * (low + high)
        low, high = (mid, high) if closest(mid) < distance else (low, mid)
    second.positions += [high, 0.0, 0.0]
    return first + second


def _cutoffs(model):
    return sorted({model.cutoff, *(m.cutoff for m in getattr(model, "members", []))})


@pytest.mark.parametrize("kind", installed_kinds("energy"))
def test_energy_is_continuous_as_a_pair_crosses_each_cutoff(kind):
    model = with_random_biases(tiny_potential(kind))
    calc = MLCalc(model, dtype=torch.float64)
    for cutoff in _cutoffs(model):
        inside, outside = (calc.get_potential_energy(_pair_at(cutoff + delta)) for delta in (-1e-7, 1e-7))
        assert abs(inside - outside) < 1e-6, f"{kind}: energy jumps by {outside - inside:.3g} eV at {cutoff} Å"


@pytest.mark.parametrize("kind", installed_kinds("energy"))
def test_stress_is_exact_in_a_box_as_wide_as_the_cutoff(kind):
    if not getattr(model_class(kind), "supports_periodic", True):
        pytest.skip(f"{kind} models describe molecules only")
    atoms = _cutoff_wide_box(with_random_biases(tiny_potential(kind, elements=(6,), periodic=True)))
    stress = atoms.get_stress()
    assert np.abs(stress).max() > 1e-4
    np.testing.assert_allclose(stress, finite_difference_stress(atoms, h=1e-5), atol=1e-6)


def _cutoff_wide_box(model):
    """8 rattled carbon atoms in a cubic box whose side is the model's cutoff, with ``model`` attached."""
    side = model.cutoff
    atoms = Atoms("C8", scaled_positions=np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0], [.25, .25, .25],
                                                   [.25, .75, .75], [.75, .25, .75], [.75, .75, .25]]),
                  cell=np.eye(3) * side, pbc=True)
    atoms.rattle(0.05, seed=4)
    atoms.calc = MLCalc(model, dtype=torch.float64)
    return atoms


def test_the_checks_see_an_et_without_vector_cutoff():
    with pytest.warns(UserWarning, match="made without vector_cutoff"):
        molecule = tiny_potential("torchmdnet-et", vector_cutoff=False)
        crystal = tiny_potential("torchmdnet-et", elements=(6,), periodic=True, vector_cutoff=False)
    calc = MLCalc(with_random_biases(molecule), dtype=torch.float64)
    inside, outside = (calc.get_potential_energy(_pair_at(4.0 + delta)) for delta in (-1e-7, 1e-7))
    assert abs(inside - outside) > 1e-3
    atoms = _cutoff_wide_box(with_random_biases(crystal))
    assert np.abs(atoms.get_stress() - finite_difference_stress(atoms, h=1e-5)).max() > 0.1


def test_et_files_from_before_vector_cutoff_load_without_it(tmp_path):
    """A model file whose hyperparameters predate the option rebuilds as it was made, and says so."""
    from mlcalc.modelfile import load_model, save_model

    model = tiny_potential("torchmdnet-et")
    path = save_model(tmp_path / "new.mlc", model)
    assert load_model(path)[0].hyperparameters()["vector_cutoff"] is True
    with pytest.warns(UserWarning, match="made without vector_cutoff"):
        old, _ = load_model(_without_option(path, tmp_path))
    assert old.hyperparameters()["vector_cutoff"] is False


def _without_option(path, tmp_path):
    from mlcalc.modelfile import read_model_file, write_model_file

    manifest, weights = read_model_file(path)
    del manifest["hyperparameters"]["vector_cutoff"]
    return write_model_file(tmp_path / "old.mlc", manifest, weights)
