"""The kind registry and composite models: every kind round-trips through a model file, composites included."""

import json

import numpy as np
import pytest
import torch

from mlcalc import MLCalc
from mlcalc import keys as K
from mlcalc.data.molecules import load_molecule
from mlcalc.graph import edge_vectors
from mlcalc.model import CompositeModel, EnergyModel, create_model, family_of, known_kinds, model_class, register_kind
from mlcalc.modelfile import load_model, read_manifest, save_model
from mlcalc.testing import tiny_potential, tiny_property_model
from conftest import installed_kinds


def _tiny(kind):
    if family_of(kind) == "energy":
        return tiny_potential(kind, elements=(1, 6, 7, 8))
    return tiny_property_model(kind, elements=(1, 6, 7, 8, 9))


@pytest.mark.parametrize("kind", installed_kinds())
def test_every_kind_round_trips_through_a_model_file(kind, tmp_path):
    model = _tiny(kind).double()
    path = save_model(tmp_path / f"{kind}.mlc", model)
    loaded, manifest = load_model(path)
    assert type(loaded) is model_class(kind) and manifest["kind"] == kind
    assert json.dumps(loaded.hyperparameters(), sort_keys=True) == json.dumps(model.hyperparameters(), sort_keys=True)
    molecules = [load_molecule("ethanol"), load_molecule("pyrimidine")]
    before = MLCalc(model, dtype=torch.float64).predict(molecules)
    after = MLCalc(path, dtype=torch.float64).predict(molecules)
    for name, values in before.items():
        per_atom = isinstance(values, list)  # forces (and an ensemble's forces_var): one array per structure
        np.testing.assert_allclose(np.concatenate(after[name]) if per_atom else after[name],
                                   np.concatenate(values) if per_atom else values, rtol=0, atol=1e-12)


def test_a_composite_of_two_members_stores_each_member(tmp_path):
    model = tiny_potential("sum")
    path = save_model(tmp_path / "sum.mlc", model)
    manifest = read_manifest(path)
    members = manifest["hyperparameters"]["members"]
    assert [m["kind"] for m in members] == ["torchmdnet-tensornet", "torchmdnet-et"]
    assert [m["hyperparameters"]["cutoff"] for m in members] == [4.0, 3.0] and manifest["cutoff"] == 4.0
    loaded, _ = load_model(path)
    for a, b in zip(loaded.members, model.members):
        assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())


class _Springs(EnergyModel):
    """A toy potential that does not mask edges itself: Σ over edges of (cutoff - d)², eV."""

    def atomic_outputs(self, inputs):
        vectors = edge_vectors(inputs[K.POSITIONS], inputs[K.CELL], inputs[K.BATCH], inputs[K.EDGE_INDEX],
                               inputs[K.EDGE_SHIFTS])
        terms = (self.cutoff - torch.linalg.vector_norm(vectors, dim=1)) ** 2
        return terms.new_zeros(len(inputs[K.Z])).index_add(0, inputs[K.EDGE_INDEX][1], terms)


def test_a_sum_is_the_sum_of_its_members_each_within_its_own_cutoff():
    """Pyrimidine has pairs beyond the toy member's 2 Å: that member must not see them."""
    springs = _Springs(elements=[1, 6, 7], cutoff=2.0)
    model = create_model("sum", members=[tiny_potential(elements=(1, 6, 7), cutoff=4.0), springs])
    atoms = load_molecule("pyrimidine")
    atoms.rattle(0.03, seed=1)
    parts = [MLCalc(member, dtype=torch.float64) for member in model.members]
    whole = MLCalc(model, dtype=torch.float64)
    expected_energy = sum(calc.get_potential_energy(atoms) for calc in parts)
    expected_forces = sum(calc.get_forces(atoms) for calc in parts)
    assert parts[1].get_potential_energy(atoms) > 0
    assert whole.get_potential_energy(atoms) == pytest.approx(expected_energy, abs=1e-10)
    np.testing.assert_allclose(whole.get_forces(atoms), expected_forces, atol=1e-10)


def test_composites_refuse_bad_members():
    with pytest.raises(ValueError, match="at least one member"):
        create_model("sum", members=[])
    with pytest.raises(ValueError, match="energy models only"):
        create_model("sum", members=[tiny_potential(), tiny_property_model("schnet", elements=(1, 6, 8))])
    with pytest.raises(ValueError, match="exactly 'kind' and 'hyperparameters'"):
        create_model("sum", members=[{"kind": "torchmdnet-et"}])
    with pytest.raises(ValueError, match="unknown model kind 'nope'"):
        create_model("sum", members=[{"kind": "nope", "hyperparameters": {}}])
    with pytest.raises(ValueError, match="share no element"):
        create_model("sum", members=[tiny_potential(elements=(1,)), tiny_potential(elements=(6,))])


def test_register_kind_refuses_a_taken_name_and_a_missing_family():
    with pytest.raises(ValueError, match="'torchmdnet-et' is registered already"):
        register_kind("torchmdnet-et")(type("Other", (EnergyModel,), {}))
    with pytest.raises(TypeError, match="family"):
        register_kind("familyless")(type("Familyless", (CompositeModel,), {}))
    assert "familyless" not in known_kinds()
