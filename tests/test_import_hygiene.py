"""Importing mlcalc and building models leaves global state alone."""

import os
import subprocess
import sys


def test_import_changes_no_global_state():
    code = (
        "import os, torch; env = dict(os.environ); dt = torch.get_default_dtype();"
        "import mlcalc, mlcalc.potentials, mlcalc.md, mlcalc.analysis;"
        "from mlcalc.testing import tiny_potential; tiny_potential('torchmdnet-et');"
        "assert torch.get_default_dtype() == dt, 'default dtype changed';"
        "changed = {k for k in set(env) | set(os.environ) if env.get(k) != os.environ.get(k)};"
        "assert not changed, changed; print('clean')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "clean" in out.stdout


def test_core_import_does_not_pull_torchmdnet():
    code = "import sys, mlcalc; from mlcalc import MLCalc; print('torchmdnet' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr[-2000:]
