"""Imports: light where they must be, no higher layer imported from a lower one, no global state changed."""

import os
import subprocess
import sys

import pytest

HEAVY = ("torch_geometric", "torchmdnet", "mlcalc.potentials", "mlcalc.model")


def _loaded_after(code: str) -> set[str]:
    """Modules (of torch, HEAVY) in sys.modules after running ``code`` in a fresh interpreter."""
    probe = (f"{code}\nimport sys; print('LOADED:', *(m for m in sys.modules "
             f"if m == 'torch' or m.startswith({HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return set(out.stdout.rpartition("LOADED:")[2].split())


@pytest.mark.parametrize("code", [
    "import mlcalc",
    "import mlcalc.md",
    "from mlcalc.md import MDSettings, run_md",
    "from mlcalc.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
    "from mlcalc.cli import main\ntry:\n    main(['md', '--help'])\nexcept SystemExit:\n    pass",
])
def test_light_imports_load_no_torch_and_no_model(code):
    assert _loaded_after(code) == set()


@pytest.fixture(scope="module")
def model_loads():
    """One fresh interpreter (one start instead of three): the modules of torch and HEAVY loaded after
    ``from mlcalc import MLCalc``, then after ``MLCalc.load('ethanol-et')``, then an ethanol-tensornet energy;
    ``(after_import, after_load, completed process)``."""
    code = ("import sys\n"
            f"def loaded(): return ' '.join(m for m in sys.modules if m == 'torch' or m.startswith({HEAVY!r}))\n"
            "from mlcalc import MLCalc\nprint('IMPORT:', loaded())\n"
            "MLCalc.load('ethanol-et')\nprint('LOAD:', loaded())\n"
            "from mlcalc.data import load_molecule\na = load_molecule('ethanol')\n"
            "a.calc = MLCalc.load('ethanol-tensornet')\nprint('ENERGY:', a.get_potential_energy())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    lines = dict(line.split(":", 1) for line in out.stdout.splitlines() if line.startswith(("IMPORT:", "LOAD:")))
    return set(lines["IMPORT"].split()), set(lines["LOAD"].split()), out


def test_the_calculator_loads_models_only_through_the_registry(model_loads):
    loaded, after_load, _ = model_loads
    assert "torch" in loaded and "torchmdnet" not in loaded
    assert not any(m.startswith("mlcalc.potentials") for m in loaded)
    assert "mlcalc.potentials.torchmdnet" in after_load and "torchmdnet" in after_load


def test_import_changes_no_global_state():
    """mlcalc's own imports (and torchmd-net's, which mlcalc undoes) leave os.environ and torch defaults alone.

    Third-party packages that set variables on import (MDAnalysis, torch_geometric, lightning)
    are imported before the snapshot: what they do is not mlcalc's doing.
    """
    code = (
        "import os, torch, torch_geometric, MDAnalysis, lightning; env = dict(os.environ);"
        "dt = torch.get_default_dtype();"
        "import mlcalc, mlcalc.potentials, mlcalc.md, mlcalc.analysis, mlcalc.cli;"
        "from mlcalc.testing import tiny_potential; tiny_potential('torchmdnet-et');"
        "assert torch.get_default_dtype() == dt, 'default dtype changed';"
        "changed = {k for k in set(env) | set(os.environ) if env.get(k) != os.environ.get(k)};"
        "assert not changed, changed; print('clean')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "clean" in out.stdout


def test_loading_a_torchmdnet_model_prints_no_warp_cuda_warning(model_loads):
    """warp's C-level 'Could not find or load the NVIDIA CUDA driver' line is dropped where mlcalc imports
    torchmd-net (on a machine with a driver warp prints nothing of the kind anyway): `mlcalc info`, and loading ET
    and TensorNet models and computing an energy (``model_loads``)."""
    info = subprocess.run([sys.executable, "-m", "mlcalc.cli", "info", "ethanol-et"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    for out in (info, model_loads[2]):
        assert out.returncode == 0, out.stderr[-2000:]
        assert "Could not find or load the NVIDIA CUDA driver" not in out.stderr, out.stderr
    assert "ENERGY:" in model_loads[2].stdout


def test_stderr_without_drops_only_the_named_line():
    """Other lines written to file descriptor 2 from native code (here os.write) come through, in order."""
    code = ("import os\nfrom mlcalc.potentials.native_stderr import WARP_NO_CUDA_DRIVER, stderr_without\n"
            "with stderr_without([WARP_NO_CUDA_DRIVER]):\n"
            "    os.write(2, b'Warp CUDA error: a real problem\\n' + WARP_NO_CUDA_DRIVER.encode() + b'\\nlast line\\n')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stderr == "Warp CUDA error: a real problem\nlast line\n"
