"""Representations of datasets, ROGI roughness, UMAP/PCA maps and attribution pictures."""

import numpy as np
import pytest
import torch

from mlcalc.analysis.explain.atom_pictures import draw_attributions
from mlcalc.analysis.projection import project, scatter_plot, write_coordinates
from mlcalc.analysis.explain.representations import representations
from mlcalc.analysis.explain.roughness import rogi
from mlcalc.data.molecules import load_molecule
from mlcalc.testing import tiny_potential, tiny_property_model


@pytest.fixture
def molecules():
    mols = []
    for k, name in enumerate(["uracil", "ethanol", "pyrimidine"] * 3):
        atoms = load_molecule(name)
        atoms.rattle(0.05, seed=k)
        mols.append(atoms)
    return mols


def test_dataset_representations_in_batches_match_one_batch(molecules):
    model = tiny_property_model("physnet").double()
    whole = representations(model, molecules, batch_size=100)
    assert whole.shape == (9, 2 * 16)  # two modules' output layers, concatenated
    np.testing.assert_allclose(representations(model, molecules, batch_size=2), whole, atol=1e-12)
    per_atom = representations(model, molecules, batch_size=4, per_atom=True)
    assert [a.shape for a in per_atom] == [(len(m), 16) for m in molecules]
    energy = representations(tiny_potential("torchmdnet-tensornet", elements=(1, 6, 7, 8)).double(), molecules[:2])
    assert energy.shape == (2, 16) and np.isfinite(energy).all()


def test_rogi_of_a_smooth_landscape_is_lower_than_of_a_shuffled_one():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(300, 2))
    smooth = np.sin(3 * x[:, 0]) + x[:, 1] ** 2
    for metric in ("euclidean", "cosine", "cityblock"):
        calm, rough = rogi(x + 0.5, smooth, metric), rogi(x + 0.5, rng.permutation(smooth), metric)
        assert 0 <= calm < rough, metric
    with pytest.raises(ValueError, match="unknown ROGI metric 'tanimoto'; choose from euclidean, cosine"):
        rogi(x, smooth, "tanimoto")


@pytest.mark.parametrize("method", ["umap", "pca"])
def test_projection_shape_and_seeded_reproducibility(method, tmp_path):
    import torch

    features = np.random.default_rng(1).normal(size=(40, 8))
    threads = torch.get_num_threads()
    a = project(features, method, dimensions=2, seed=3)
    assert torch.get_num_threads() == threads  # before: UMAP (numba) left libgomp at the core count, and xTB after it
    assert a.shape == (40, 2) and np.isfinite(a).all()
    np.testing.assert_array_equal(project(features, method, dimensions=2, seed=3), a)
    if method == "pca":  # UMAP in 3D compiles again (numba): slow, and the same code path
        assert project(features, method, dimensions=3, seed=3).shape == (40, 3)
    csv = write_coordinates(tmp_path / "c.csv", a, {"id": list(range(40))})
    assert csv.read_text().splitlines()[0] == "id,x,y" and len(csv.read_text().splitlines()) == 41
    assert scatter_plot(tmp_path / "c.png", a, features[:, 0], "f0", "test", method).stat().st_size > 1000


def test_attribution_picture(tmp_path, molecules):
    values = [np.linspace(-1, 1, len(m)) for m in molecules[:3]]
    out = draw_attributions(tmp_path / "a.png", molecules[:3], values, ["u", "e", "p"], "Grad-CAM")
    assert out.stat().st_size > 1000
    with pytest.raises(ValueError, match="need one value per atom"):
        draw_attributions(tmp_path / "b.png", molecules[:1], [np.zeros(3)], ["u"], "x")
