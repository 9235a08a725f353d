"""Shared fixtures: small molecules and cells, tiny seeded models."""

import numpy as np
import pytest
import torch
from ase.build import bulk

from mlcalc import MLCalc
from mlcalc.data.molecules import load_molecule
from mlcalc.testing import tiny_potential

MODEL_KINDS = ["torchmdnet-et", "torchmdnet-tensornet"]


@pytest.fixture
def ethanol():
    return load_molecule("ethanol")


@pytest.fixture
def rattled_ethanol():
    atoms = load_molecule("ethanol")
    atoms.rattle(0.05, seed=3)
    return atoms


@pytest.fixture
def small_cell():
    """A periodic 2-atom cell much smaller than the cutoff (many images per pair), rattled."""
    atoms = bulk("C", "diamond", a=3.57)
    atoms.rattle(0.05, seed=1)
    return atoms


@pytest.fixture(params=MODEL_KINDS)
def kind(request):
    return request.param


@pytest.fixture
def tiny_calc(kind):
    return MLCalc(tiny_potential(kind, elements=(1, 6, 8)), dtype=torch.float64)


@pytest.fixture
def tiny_et_calc():
    return MLCalc(tiny_potential("torchmdnet-et", elements=(1, 6, 8)), dtype=torch.float64)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
