"""The tutorials of the documentation site run: each script at its reduced size (``--small``), checked on what it
prints about, and each figure its page shows is one the script writes."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "docs" / "tutorials"
SCRIPTS = sorted((TUTORIALS / "scripts").glob("[0-9][0-9]_*.py"))


def _run(name: str, out: Path) -> dict:
    """Import ``docs/tutorials/scripts/<name>.py`` and run its ``main`` at the reduced size into ``out``."""
    path = TUTORIALS / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"tutorial_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(out, small=True)
    _check_figures(name, result["figures"])
    return result


def _page(name: str) -> str:
    return (TUTORIALS / f"{name}.md").read_text()


def _check_figures(name: str, written: list[Path]) -> None:
    """Every figure is a decodable PNG, and the page shows exactly the figures the script writes."""
    from matplotlib.image import imread

    for path in written:
        assert imread(path).shape[0] > 100, path
    shown = set(re.findall(r"\(figures/([\w.-]+\.png)\)", _page(name)))
    assert shown == {Path(p).name for p in written}, (name, shown)
    for figure in shown:  # the committed copy the site shows
        assert (TUTORIALS / "figures" / figure).is_file(), figure


def test_every_tutorial_has_a_page_that_includes_its_script():
    assert [p.stem for p in SCRIPTS] == ["01_shipped_model", "02_train_force_field", "03_transfer_study",
                                         "04_property_prediction", "05_finetune", "06_learn_on_the_fly"]
    for script in SCRIPTS:
        assert f'--8<-- "docs/tutorials/scripts/{script.name}"' in _page(script.stem), script.name


def test_shipped_model_in_an_ase_script(tmp_path):
    result = _run("01_shipped_model", tmp_path)
    assert result["fmax"] < 0.005
    frequencies = result["frequencies"]
    assert len(frequencies) == 21 and frequencies.min() > 150 and 3000 < frequencies.max() < 4000  # O-H stretch
    assert result["run"].status == "completed" and result["conservation"]["conserved"]
    assert 1.38 < result["c_o"].mean < 1.45


def test_train_a_force_field_on_an_extxyz_and_check_it(tmp_path):
    pytest.importorskip("tblite")
    result = _run("02_train_force_field", tmp_path)
    test = result["result"].metrics["test"]
    frames = __import__("mlcalc.data", fromlist=["read_structures"]).read_structures(tmp_path / "frames.extxyz")
    mean_force = 1000 * np.mean([np.abs(f.get_forces()).mean() for f in frames])
    assert test["forces_mae_meV_per_A"] < 0.6 * mean_force       # it learned something, however small
    assert result["run"].status == "completed" and result["conservation"]["conserved"]


def test_transfer_study_and_its_report(tmp_path):
    pytest.importorskip("tblite")
    result = _run("03_transfer_study", tmp_path)
    molecules = result["results"].molecules
    assert list(molecules) == ["ethanol", "n-propanol"]
    source = molecules["ethanol"].model_errors["forces_mae_meV_per_A"]
    target = molecules["n-propanol"].model_errors["forces_mae_meV_per_A"]
    assert source < 20 and target > 10 * source                 # it holds on ethanol, not on n-propanol
    assert (tmp_path / "study" / "report.html").is_file()


def test_property_prediction_on_qm9_and_a_cif_folder(tmp_path, qm9_env):
    result = _run("04_property_prediction", tmp_path)
    assert result["homo"]["mae"] < 0.15                         # shipped: 0.064 eV on 5,000 test molecules
    crystals = result["crystals"]
    metrics = crystals["result"].metrics
    assert metrics["test"]["volume_mae_Å3"] < 0.5 * metrics["baselines_test"]["mean_predictor"]["mae"]
    mae = np.mean(np.abs(crystals["predicted"] - crystals["reference"]))   # read back from the CIF files
    assert mae == pytest.approx(metrics["test"]["volume_mae_Å3"], rel=1e-3)


def test_finetune_for_a_new_molecule(tmp_path):
    pytest.importorskip("tblite")
    result = _run("05_finetune", tmp_path)
    shipped, tuned, scratch, ethanol = result["errors"].values()
    assert tuned < shipped and tuned < 0.5 * scratch and tuned < 0.5 * ethanol  # the general parent pays
    assert 0 < result["estimate"] < 2 * tuned                   # the held-out frames' estimate, from the manifest
    assert result["run"].status == "completed"


def test_learn_on_the_fly_on_a_new_molecule(tmp_path):
    pytest.importorskip("tblite")
    from mlcalc.data import read_structures
    from mlcalc.modelfile import read_manifest

    result = _run("06_learn_on_the_fly", tmp_path)
    summary = result["summary"]
    assert summary["reference_calls"] == 5 and summary["budget_spent"]      # the small budget, spent
    assert len(read_structures(tmp_path / "learn" / "labelled.extxyz")) == 5
    assert read_manifest(result["model"])["on_the_fly"]["parent"]["name"] == "organic-xtb"
    errors = list(result["errors"].values())                                # parent, learned
    assert errors[1] < 0.8 * errors[0]
    assert result["run"].status == "completed"
