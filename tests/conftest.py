"""Shared fixtures: small molecules and cells, tiny seeded models, QM9 in a per-session cache.

The tests run on one OpenMP/torch thread (``OMP_NUM_THREADS``, 1 unless set): torch and tblite share one libgomp,
and on small systems a second spinning thread makes GFN2-xTB 4-5 times slower (more on a shared machine).
``one_thread`` puts the count back after a test that changed it (a library's OpenMP layer can; UMAP maps restore
it themselves since ``mlcalc.analysis.projection`` does).
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch and tblite load libgomp

import numpy as np
import pytest
import torch
from ase.build import bulk

from mlcalc import MLCalc
from mlcalc.data.molecules import load_molecule
from mlcalc.testing import tiny_potential

MODEL_KINDS = ["torchmdnet-et", "torchmdnet-tensornet", "sum"]
THREADS = int(os.environ["OMP_NUM_THREADS"])
torch.set_num_threads(THREADS)


@pytest.fixture(autouse=True)
def one_thread():
    """The thread count back to ``THREADS`` after each test (torch's count is libgomp's, which tblite uses)."""
    yield
    if torch.get_num_threads() != THREADS:
        torch.set_num_threads(THREADS)


def installed_kinds(family=None):
    """Registered kinds as pytest parameters; a kind whose optional packages (``extra_packages``, e.g. the
    foundation extra's sevenn) are missing is skipped with the reason."""
    from importlib.util import find_spec

    from mlcalc.model import known_kinds, model_class

    params = []
    for name in known_kinds(family):
        missing = [p for p in getattr(model_class(name), "extra_packages", ()) if find_spec(p) is None]
        params.append(pytest.param(name, marks=pytest.mark.skipif(
            bool(missing), reason=f"{name} needs {', '.join(missing)} (pip install 'mlcalc[foundation]')")))
    return params


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


@pytest.fixture(scope="session")
def xtb_frames(tmp_path_factory):
    """48 GFN2-xTB frames of ethanol at 500 K (energies and forces), as extxyz."""
    pytest.importorskip("tblite")
    from mlcalc.md import ReferenceSettings, generate_reference

    path = tmp_path_factory.mktemp("data") / "ethanol.extxyz"
    settings = ReferenceSettings(frames=48, temperature=500, seed=0, thermalise=100, interval=10)  # 50 fs, 5 fs
    generate_reference(load_molecule("ethanol"), settings, out=path, progress=False)
    return path


def write_tiny_config(folder, data_path, name: str, train: int, val: int, test: int, epochs: int, batch_size: int,
                      seed: int = 0):
    """A YAML training config for a tiny ET (8 channels, 1 layer) on ``data_path`` in ``folder``; its path."""
    import yaml

    raw = {"name": name, "seed": seed, "data": {"path": str(data_path), "train": train, "val": val, "test": test},
           "model": {"kind": "torchmdnet-et", "cutoff": 4.0,
                     "hyperparameters": {"hidden_channels": 8, "num_layers": 1, "num_rbf": 8, "num_heads": 2}},
           "optim": {"epochs": epochs, "batch_size": batch_size, "lr": 3e-3}, "out_dir": str(folder / "run"),
           "progress": False}
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    return config


@pytest.fixture(scope="session")
def trained_tiny_model(tmp_path_factory, xtb_frames):
    """A tiny ET trained for a few epochs on ``xtb_frames``: the path of its .mlc file."""
    from mlcalc.potentials.training.config import TrainConfig
    from mlcalc.potentials.training import train

    out = tmp_path_factory.mktemp("tiny-model")
    config = TrainConfig.model_validate({
        "name": "tiny-trained", "seed": 0, "data": {"path": xtb_frames, "train": 36, "val": 6, "test": 6},
        "model": {"kind": "torchmdnet-et", "cutoff": 4.0,
                  "hyperparameters": {"hidden_channels": 32, "num_layers": 1, "num_rbf": 16, "num_heads": 2}},
        "optim": {"epochs": 60, "batch_size": 4, "lr": 5e-3}, "out_dir": out, "progress": False})
    return train(config).model_path


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# -- QM9: one converted cache per test session, under pytest's temporary folder ----------------

@pytest.fixture(scope="session")
def qm9_cache(tmp_path_factory):
    """The cache folder holding converted QM9 (converted on first use, ~10 s); skips without qm9pack."""
    from mlcalc.data.qm9 import load_qm9, qm9pack_data_dir

    try:
        qm9pack_data_dir()
    except ImportError:
        pytest.skip("qm9pack is not installed (pip install 'mlcalc[qm9]')")
    path = tmp_path_factory.getbasetemp() / "qm9-cache"
    load_qm9(cache=path)
    return path


@pytest.fixture(scope="session")
def qm9(qm9_cache):
    from mlcalc.data.qm9 import load_qm9

    return load_qm9(cache=qm9_cache)


@pytest.fixture
def qm9_env(qm9_cache, monkeypatch):
    """MLCALC_CACHE pointed at the session's QM9 cache (for code that finds the cache itself)."""
    monkeypatch.setenv("MLCALC_CACHE", str(qm9_cache))
    return qm9_cache
