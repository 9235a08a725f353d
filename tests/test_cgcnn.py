"""CGCNN and periodic property models: both convolutions, list = matrix form, invariances, training, prediction."""

import csv
import json

import numpy as np
import pytest
import torch
import yaml
from ase.build import bulk
from click.testing import CliRunner

from mlcalc import MLCalc
from mlcalc.cli import main
from mlcalc.derivatives import model_inputs
from mlcalc.graph import atoms_to_batch
from mlcalc.model import create_model

from crystal_data import random_crystals, volume_per_atom, write_cgcnn_folder

ELEMENTS = [6, 8, 11, 12, 13, 14, 16, 17, 26, 29, 30, 74]
SMALL = {"atom_fea_len": 16, "h_fea_len": 24, "n_conv": 2}


def _cgcnn(seed=0, **kw):
    torch.manual_seed(seed)
    return create_model("cgcnn", elements=ELEMENTS, targets=["y"], units=["eV"], extensive=[False], cutoff=6.0,
                        **{**SMALL, **kw})


def _inputs(structures, cutoff=6.0):
    return model_inputs(atoms_to_batch(structures, cutoff=cutoff, labels=False))


@pytest.mark.parametrize("conv", ["gated", "shared"])
@pytest.mark.parametrize("pooling", ["mean", "max", "sum"])
def test_list_and_matrix_forms_give_the_same_outputs_and_gradients_for_the_same_weights(conv, pooling):
    structures = random_crystals(5, seed=1)
    listed = _cgcnn(conv=conv, pooling=pooling)
    matrix = _cgcnn(seed=7, conv=conv, pooling=pooling, form="matrix")
    matrix.load_state_dict(listed.state_dict())  # same weight layout: loads without renaming
    inputs = _inputs(structures)
    for mode in ("train", "eval"):  # batch norm over the real edges/atoms only, or with running statistics
        listed.train(mode == "train"), matrix.train(mode == "train")
        a, b = listed.standardised_outputs(inputs), matrix.standardised_outputs(inputs)
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    a.sum().backward(), b.sum().backward()
    for (name, p), q in zip(listed.named_parameters(), matrix.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-4, rtol=1e-4, msg=name)


def test_the_two_convolutions_are_different_networks():
    gated, shared = _cgcnn(conv="gated"), _cgcnn(conv="shared")
    assert {n.split(".")[2] for n, _ in gated.named_parameters() if n.startswith("convs.0")} == {"fc_full", "bn1", "bn2"}
    assert {n.split(".")[2] for n, _ in shared.named_parameters() if n.startswith("convs.0")} == {
        "fc_neighbor", "fc_self", "bn2"}


@pytest.mark.parametrize("kind, form", [("cgcnn", "list"), ("cgcnn", "matrix"), ("schnet", "list")])
def test_invariant_to_atom_order_and_to_the_choice_of_cell(kind, form):
    """A permuted cell, a 2x2x1 supercell and a translated copy give the same intensive prediction."""
    torch.manual_seed(0)
    model = _cgcnn(form=form) if kind == "cgcnn" else create_model(
        "schnet", elements=ELEMENTS, targets=["y"], units=["eV"], extensive=[False], cutoff=6.0, periodic=True,
        hidden_channels=16, num_filters=16, num_interactions=2, num_gaussians=16)
    model.train()
    model.standardised_outputs(_inputs(random_crystals(6, seed=2)))  # batch-norm running statistics move
    model.eval()
    base = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    base.rattle(0.03, seed=4)
    permuted = base[np.random.default_rng(0).permutation(len(base))]
    supercell = base * (2, 2, 1)
    moved = base.copy()
    moved.translate([0.3, -1.1, 0.7])
    moved.wrap()
    with torch.no_grad():
        y = model(_inputs([base, permuted, supercell, moved]))["y"]
    torch.testing.assert_close(y, y[:1].expand(4), atol=2e-5, rtol=2e-5)


def test_classification_mode_fits_labels_with_nll_and_returns_probabilities():
    structures = random_crystals(24, seed=5)
    labels = torch.tensor([[float(len(set(a.numbers)) > 1)] for a in structures])  # compound vs element
    model = _cgcnn(task="classification")
    inputs = _inputs(structures)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.nll_loss(model.log_probabilities(inputs), labels[:, 0].long())
        optimiser.zero_grad(), loss.backward(), optimiser.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        p = model(inputs)["y"]
    assert losses[-1] < 0.3 * losses[0], losses
    assert ((p >= 0) & (p <= 1)).all() and ((p > 0.5).float() == labels[:, 0]).float().mean() >= 0.9
    with pytest.raises(ValueError, match="one binary target"):
        create_model("cgcnn", elements=ELEMENTS, targets=["a", "b"], units=["", ""], extensive=[False, False],
                     task="classification")


def test_bad_hyperparameters_name_the_options():
    with pytest.raises(ValueError, match="unknown CGCNN conv 'dense'; choose one of gated, shared"):
        _cgcnn(conv="dense")
    with pytest.raises(ValueError, match="unknown CGCNN pooling 'median'; choose one of mean, max, sum"):
        _cgcnn(pooling="median")


def _folder_config(tmp_path, folder, **model):
    raw = {"name": "tiny-cgcnn", "seed": 0,
           "data": {"source": "cif_folder", "path": str(folder), "target": "volume", "unit": "Å^3"},
           "model": {"kind": "cgcnn", "cutoff": 6.0, "hyperparameters": {**SMALL, **model}},
           "optim": {"epochs": 12, "batch_size": 8, "optimizer": "adamw", "lr": 5e-3, "lr_schedule": "constant"},
           "out_dir": str(tmp_path / "run"), "progress": False}
    path = tmp_path / "cgcnn.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_cgcnn_folder_trains_end_to_end_with_mlcalc_train_and_predicts_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MLCALC_CACHE", str(tmp_path / "cache"))
    structures = random_crystals(50, seed=0)
    folder = write_cgcnn_folder(tmp_path / "cg", structures, volume_per_atom(structures), broken=("broken-1",))
    runner = CliRunner()
    result = runner.invoke(main, ["train", str(_folder_config(tmp_path, folder))])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    metrics = yaml.safe_load((run / "metrics.json").read_text())
    test = metrics["test"]
    assert test["structures"] == 5 and (run / "skipped.txt").read_text().startswith("broken-1\tunreadable")
    # CGCNN beats the train mean on a target set by neighbor distances
    assert test["volume_mae_Å3"] < 0.6 * metrics["baselines_test"]["mean_predictor"]["mae"], metrics
    rows = list(csv.reader(open(run / "test_predictions.csv")))
    assert rows[0] == ["id", "volume [Å^3]", "predicted volume [Å^3]"] and len(rows) == 6
    mae = np.mean([abs(float(a) - float(b)) for _, a, b in rows[1:]])
    assert mae == pytest.approx(test["volume_mae_Å3"], rel=1e-4)

    out = tmp_path / "folder_predictions.csv"
    result = runner.invoke(main, ["predict", str(run / "tiny-cgcnn.mlc"), str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = {r[0]: r for r in list(csv.reader(open(out)))[1:]}
    assert len(table) == 50 and "broken-1" not in table
    predicted = {r[0]: float(r[2]) for r in rows[1:]}
    for name, value in predicted.items():  # the exported model reproduces the training run's test predictions
        assert float(table[name][2]) == pytest.approx(value, rel=1e-5)
    calc = MLCalc.load(run / "tiny-cgcnn.mlc")
    from pymatgen.io.ase import AseAtomsAdaptor
    via_pymatgen = calc.predict([AseAtomsAdaptor.get_structure(structures[0])])["volume"][0]
    assert via_pymatgen == pytest.approx(float(table["mp-0000"][2]), rel=1e-5)


def test_matrix_form_and_shared_convolution_train_through_the_same_pipeline(tmp_path, monkeypatch):
    monkeypatch.setenv("MLCALC_CACHE", str(tmp_path / "cache"))
    from mlcalc.potentials.training.config import load_config
    from mlcalc.potentials.training import train

    structures = random_crystals(30, seed=4)
    folder = write_cgcnn_folder(tmp_path / "cg", structures, volume_per_atom(structures))
    table = {z: [float(z % 3 == 0), z / 100, 1.0] for z in range(1, 101)}  # CGCNN's own file format
    (folder / "atom_init.json").write_text(json.dumps({str(z): v for z, v in table.items()}))
    result = train(load_config(_folder_config(tmp_path, folder, form="matrix", conv="shared")))
    model = MLCalc.load(result.model_path).model
    assert model.settings["form"] == "matrix" and model.settings["n_atom_features"] == 3
    assert model.atom_features[29].tolist() == pytest.approx(table[29])
    assert result.metrics["test"]["volume_mae_Å3"] < result.metrics["baselines_test"]["mean_predictor"]["mae"]


def test_an_extensive_target_is_standardised_per_atom_and_grows_with_the_cell(tmp_path, monkeypatch):
    """data.extensive: a cell's total volume (volume per atom × atoms) is learnt per atom and predicted N-fold."""
    monkeypatch.setenv("MLCALC_CACHE", str(tmp_path / "cache"))
    from mlcalc.modelfile import read_manifest
    from mlcalc.potentials.training import train
    from mlcalc.potentials.training.config import load_config

    structures = random_crystals(40, seed=2)
    per_atom = volume_per_atom(structures)
    totals = per_atom * np.array([len(a) for a in structures])
    folder = write_cgcnn_folder(tmp_path / "cg", structures, totals)
    config = load_config(_folder_config(tmp_path, folder), {"data.extensive": True})
    result = train(config)
    manifest = read_manifest(result.model_path)
    assert manifest["properties"]["volume"]["extensive"] and manifest["normalisation"]["per_atom"] == {"volume": True}
    train_rows = result.split["train"]
    assert manifest["normalisation"]["target_mean"]["volume"] == pytest.approx(per_atom[train_rows].mean(), rel=1e-6)
    calc = MLCalc.load(result.model_path)
    cell = structures[0]
    values = calc.predict([cell, cell * (2, 2, 1)])["volume"]
    assert values[1] == pytest.approx(4 * values[0], rel=1e-4)  # four times the atoms, four times the volume
    baselines = result.metrics["baselines_test"]
    assert result.metrics["test"]["volume_mae_Å3"] < baselines["mean_predictor"]["mae"], result.metrics


def test_a_crystal_target_named_energy_is_refused_with_names_to_use(tmp_path):
    from pydantic import ValidationError

    from mlcalc.potentials.training.config import CifFolderDataConfig

    (tmp_path / "id_prop.csv").write_text("mp-0,1.0\n")
    with pytest.raises(ValidationError) as err:
        CifFolderDataConfig.model_validate({"source": "cif_folder", "path": str(tmp_path), "target": "energy"})
    assert [e["loc"] for e in err.value.errors()] == [("target",)]
    assert ("data.target cannot be named 'energy': reserved for energy models" in str(err.value)
            and "'total_energy' (a total per structure: extensive) or 'energy_per_atom'" in str(err.value))
    with pytest.raises(ValueError, match="'forces': reserved for energy models"):
        create_model("cgcnn", elements=ELEMENTS, targets=["forces"], units=["eV"], extensive=[False], cutoff=6.0,
                     **SMALL)
