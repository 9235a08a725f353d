"""The shipped QM9 models (``qm9-homo``, ``qm9-zpve``): loadable by name, through ASE as the README shows, and as
accurate on their own held-out molecules as their manifests say."""

import numpy as np
import pytest

from mlcalc import MLCalc
from mlcalc.data.qm9 import qm9_split


@pytest.mark.parametrize("name,target", [("qm9-homo", "homo"), ("qm9-zpve", "zpve")])
def test_a_shipped_qm9_model_scores_its_test_molecules_as_its_manifest_says(name, target, qm9):
    calc = MLCalc.load(name)
    data = calc.manifest["data"]
    assert data["targets"] == [target] and data["size"] == len(qm9)
    fractions = {stage: data["splits"][stage] / data["subset"] for stage in ("train", "val", "test")}
    rows = qm9_split(len(qm9), data["subset"], fractions["train"], fractions["val"], fractions["test"],
                     data["split_seed"])["test"][:300]
    predicted = calc.predict(qm9.structures(rows))[target]
    error = np.abs(predicted - qm9.targets(rows, [target])[:, 0]).mean()
    reported = calc.manifest["metrics"]["test"][f"{target}_mae_eV"]
    assert 0.6 * reported < error < 1.4 * reported, (error, reported)


def test_the_readme_property_example_runs_without_training(qm9):
    atoms = qm9.structures([0])[0]
    atoms.calc = MLCalc.load("qm9-homo")
    homo = atoms.calc.get_property("homo", atoms)
    assert homo == pytest.approx(atoms.calc.predict([atoms])["homo"][0], abs=1e-6)
    assert -12 < homo < -3  # eV, the range of QM9's HOMO energies
