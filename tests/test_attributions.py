"""Atom attributions (saliency, Integrated Gradients, CAM, Grad-CAM) and learned representations."""

import numpy as np
import pytest
import torch

from mlcalc import MLCalc
from mlcalc.attributions import ATTRIBUTION_METHODS, atom_attributions
from mlcalc.data.molecules import load_molecule
from mlcalc.derivatives import model_inputs
from mlcalc.graph import atoms_to_batch
from mlcalc.testing import tiny_potential, tiny_property_model

PROPERTY_KINDS = ["schnet", "physnet", "mpnn", "mpnn-transformer", "gnn", "linear"]
SET2SET = {"mpnn", "mpnn-transformer"}


def _inputs(model, structures):
    return model_inputs(atoms_to_batch(structures, cutoff=model.cutoff, dtype=torch.float64, labels=False))


@pytest.fixture
def uracil():
    atoms = load_molecule("uracil")
    atoms.rattle(0.03, seed=2)
    return atoms


@pytest.mark.parametrize("kind", PROPERTY_KINDS)
def test_encode_gives_representations_and_the_forward_output(kind, uracil):
    model = tiny_property_model(kind).double()
    inputs = _inputs(model, [uracil, load_molecule("ethanol")])
    encoding = model.encode(inputs)
    assert encoding.nodes.shape[0] == len(uracil) + 9 and encoding.hidden.shape[0] == 2
    np.testing.assert_array_equal(model.standardised_outputs(inputs).detach(), encoding.output.detach())
    if kind not in SET2SET:  # per-atom terms average to the output
        mean = torch.stack([encoding.atom_outputs[:12].mean(0), encoding.atom_outputs[12:].mean(0)])
        np.testing.assert_allclose(mean.detach(), encoding.output.detach(), atol=1e-12)


def test_energy_model_encodes_per_atom_and_per_structure(uracil):
    model = tiny_potential("torchmdnet-et", elements=(1, 6, 7, 8)).double()
    inputs = _inputs(model, [uracil])
    encoding = model.encode(inputs)
    assert encoding.nodes.shape == (12, 16) and encoding.hidden.shape == (1, 16)
    energy = model(inputs)["energy"] - model.atomref[inputs["z"]].sum()
    np.testing.assert_allclose(encoding.output[:, 0].detach(), energy.detach(), rtol=1e-12)


@pytest.mark.parametrize("kind", PROPERTY_KINDS)
@pytest.mark.parametrize("method", ATTRIBUTION_METHODS)
def test_one_finite_value_per_atom_that_follows_a_permutation(kind, method, uracil):
    calc = MLCalc(tiny_property_model(kind), dtype=torch.float64, attribution=method)
    if method == "cam" and kind in SET2SET:
        with pytest.raises(ValueError, match="cam needs a readout that adds up per-atom terms.*use gradcam"):
            calc.get_property("attributions", uracil)
        return
    values = calc.get_property("attributions", uracil)
    assert values.shape == (len(uracil),) and np.isfinite(values).all()
    order = np.random.default_rng(0).permutation(len(uracil))
    np.testing.assert_allclose(calc.get_property("attributions", uracil[order]), values[order], atol=1e-9)
    # Grad-CAM's ReLU may zero every atom of a random model for one target: one of the two must vary
    spreads = [np.ptp(calc.get_attributions(uracil, target=t)) for t in ("homo", "zpve")]
    assert max(spreads) > 0


@pytest.mark.parametrize("method", ["gradcam", "cam"])
def test_energy_models_have_cam_and_gradcam_only(method, uracil):
    calc = MLCalc(tiny_potential("torchmdnet-et", elements=(1, 6, 7, 8)), dtype=torch.float64, attribution=method)
    values = calc.get_property("attributions", uracil)
    assert values.shape == (12,) and np.isfinite(values).all()
    if method == "cam":  # atoms' energies add up to E - Σ atomref
        atomref = calc.model.atomref[torch.as_tensor(uracil.numbers)].sum().item()
        assert values.sum() == pytest.approx(calc.get_potential_energy(uracil) - atomref, abs=1e-9)
    with pytest.raises(ValueError, match="saliency differentiates by one-hot element inputs"):
        calc.get_attributions(uracil, method="saliency")


def test_cam_and_integrated_gradients_add_up(uracil):
    """CAM terms sum to y - μ; Integrated Gradients to y(x) - y(0) (Riemann sum of 50 steps)."""
    model = tiny_property_model("schnet", targets=("homo",)).double()
    inputs = _inputs(model, [uracil])
    y = model(inputs)["homo"].item()
    assert atom_attributions(model, inputs, "cam").sum().item() == pytest.approx(y - model.target_mean.item(),
                                                                                abs=1e-10)
    zero = {**inputs, "element_weights": torch.zeros(12, 5, dtype=torch.float64)}
    y0 = model(zero)["homo"].item()
    ig = atom_attributions(model, inputs, "integrated_gradients").sum().item()
    assert abs(y - y0) > 1e-3 and ig == pytest.approx(y - y0, rel=1e-2)


def _oxygen_only_gnn():
    """A GNN whose output depends on its O atoms only: other elements embed to 0, which the head maps to 0."""
    model = tiny_property_model("gnn", targets=("homo",)).double()
    with torch.no_grad():
        keep = model.species(torch.tensor(8))
        for row in range(len(model.elements)):
            if row != keep:
                model.embedding.weight[row] = 0.0
        for update in model.updates:  # h <- h + 0: message passing leaves the features as embedded
            update[-1].weight.zero_()
            update[-1].bias.zero_()
        model.head[0].bias.zero_()
        model.head[-1].bias.zero_()
    return model


@pytest.mark.parametrize("method", ["gradcam", "saliency", "integrated_gradients", "cam"])
def test_a_model_of_one_element_highlights_that_element(method, uracil):
    model = _oxygen_only_gnn()
    inputs = _inputs(model, [uracil, load_molecule("ethanol")])
    oxygen = inputs["z"] == 8
    values = atom_attributions(model, inputs, method)
    if method == "gradcam" and not bool((values[oxygen] > 0).any()):
        with torch.no_grad():  # Grad-CAM keeps evidence that raises the output (ReLU): orient the head so O does
            model.head[-1].weight.neg_()
        values = atom_attributions(model, inputs, method)
    assert bool((values[oxygen].abs() > 1e-6).all())
    np.testing.assert_allclose(values[~oxygen], 0.0, atol=1e-12)


def test_unknown_method_is_named_with_the_valid_ones():
    with pytest.raises(ValueError, match="unknown attribution method 'shap'; choose from gradcam, cam"):
        MLCalc(tiny_property_model("gnn"), attribution="shap")
    calc = MLCalc(tiny_property_model("gnn"))
    with pytest.raises(ValueError, match="cannot explain 'lumo': this model predicts homo, zpve"):
        calc.get_attributions(load_molecule("ethanol"), target="lumo")
