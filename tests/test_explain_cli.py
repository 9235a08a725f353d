"""`mlcalc explain umap|atoms|rogi` on tiny models and a small QM9 sample."""

import csv

import numpy as np
import pytest
from click.testing import CliRunner

from mlcalc.cli import main
from mlcalc.modelfile import save_model
from mlcalc.testing import tiny_property_model


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def homo_models(tmp_path):
    return [save_model(tmp_path / f"{kind}.mlc", tiny_property_model(kind, targets=["homo"]),
                       metrics={"test": {"homo_mae_eV": mae}})
            for kind, mae in (("schnet", 0.2), ("gnn", 0.3))]


def test_explain_umap_writes_map_and_coordinates(tmp_path, homo_models, qm9_env):
    out = tmp_path / "map"
    result = CliRunner().invoke(main, ["explain", "umap", str(homo_models[0]), "--subset", "30", "--method", "pca",
                                       "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    rows = _rows(out / "pca.csv")
    assert len(rows) == 30 and list(rows[0]) == ["qm9_id", "homo_eV", "predicted_homo_eV", "x", "y"]
    assert (out / "pca.png").stat().st_size > 1000


def test_explain_rogi_tabulates_every_model(tmp_path, homo_models, qm9_env):
    out = tmp_path / "rogi"
    result = CliRunner().invoke(main, ["explain", "rogi", *map(str, homo_models), "--subset", "40", "--out", str(out),
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    rows = _rows(out / "rogi.csv")
    assert [r["model"] for r in rows] == ["schnet", "gnn"] and [float(r["test_mae"]) for r in rows] == [0.2, 0.3]
    assert all(0 < float(r["rogi"]) < 1 for r in rows) and (out / "rogi.png").is_file()


def test_explain_atoms_draws_each_structure(tmp_path, homo_models, qm9_env):
    out = tmp_path / "atoms"
    result = CliRunner().invoke(main, ["explain", "atoms", str(homo_models[1]), "uracil", "qm9:30", "--method",
                                       "saliency", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "uracil_saliency.png").is_file() and (out / "qm9-30_saliency.png").is_file()
    rows = _rows(out / "attributions_saliency.csv")
    assert len(rows) == 12 + sum(1 for r in rows if r["structure"] == "qm9-30") and rows[0]["element"] in "CHNO"
    assert np.isfinite([float(r["saliency"]) for r in rows]).all()


def test_explain_reports_bad_input_in_one_line(tmp_path, homo_models, qm9_env):
    runner = CliRunner()
    result = runner.invoke(main, ["explain", "atoms", str(homo_models[0]), "qm9:0"])
    assert result.exit_code != 0 and "no QM9 molecule 'qm9:0'" in result.output
    result = runner.invoke(main, ["explain", "umap", str(homo_models[0]), "--target", "zpve", "--subset", "10"])
    assert result.exit_code != 0 and "the model predicts homo, not 'zpve'" in result.output
    result = runner.invoke(main, ["explain", "atoms", str(homo_models[0]), "uracil", "--method", "shap"])
    assert result.exit_code != 0 and "'shap' is not one of 'gradcam', 'cam'" in result.output


def test_cli_offers_every_attribution_method():
    from mlcalc.attributions import ATTRIBUTION_METHODS
    from mlcalc.cli.explain import _METHODS  # kept literal so that `mlcalc --help` does not import torch

    assert _METHODS == ATTRIBUTION_METHODS
