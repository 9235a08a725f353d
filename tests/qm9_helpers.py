"""Fixtures for the QM9 tests: one converted cache per test session, under pytest's temporary folder."""

import pytest


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
