"""A periodic force field trained on ASE's EMT copper: the exported model's stress is the strain derivative."""

import numpy as np
import pytest
import torch
import yaml
from ase.build import bulk

from mlcalc import MLCalc
from mlcalc.potentials.training.config import load_config
from mlcalc.data.emt_copper import emt_lattice_constant, write_copper_reference
from mlcalc.potentials.training import train
from mlcalc.testing import finite_difference_stress


def test_emt_lattice_constant_is_emts_minimum():
    assert emt_lattice_constant() == pytest.approx(3.59, abs=0.005)


def test_trained_copper_force_field_stress_matches_finite_strain(tmp_path):
    data = write_copper_reference(tmp_path / "cu.extxyz", n_bulk=14, n_slab=4, seed=1)
    with open(tmp_path / "cu.yaml", "w") as fh:
        yaml.safe_dump({"name": "cu-tiny", "data": {"path": str(data), "train": 12, "val": 3, "test": 3},
                        "model": {"kind": "torchmdnet-et", "cutoff": 4.0,
                                  "hyperparameters": {"hidden_channels": 16, "num_layers": 1, "num_rbf": 8,
                                                      "num_heads": 2}},
                        "optim": {"epochs": 3, "batch_size": 4}, "out_dir": str(tmp_path / "run"),
                        "progress": False}, fh)
    result = train(load_config(tmp_path / "cu.yaml"))
    calc = MLCalc.load(result.model_path, dtype=torch.float64)
    assert calc.model.periodic
    atoms = bulk("Cu", "fcc", a=3.5, cubic=True)  # compressed: a clear stress
    atoms.set_cell(atoms.cell.array @ np.array([[1, 0.03, 0], [0.03, 1, 0], [0, 0, 0.98]]), scale_atoms=True)
    atoms.rattle(0.05, seed=2)
    atoms.calc = calc
    stress = atoms.get_stress()
    assert np.abs(stress).max() > 1e-4
    np.testing.assert_allclose(stress, finite_difference_stress(atoms, h=1e-5), atol=1e-7)
