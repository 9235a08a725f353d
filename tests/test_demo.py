"""`mlcalc demo` end to end (what `make demo` runs): a reduced transfer study with its report."""

import json

import pytest
from click.testing import CliRunner

from mlcalc.cli import main


def test_demo_runs_and_reports(tmp_path):
    pytest.importorskip("tblite")
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--out", str(out), "--steps", "100", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert str(out / "report.html") in result.output
    saved = json.loads((out / "results.json").read_text())
    assert list(saved["molecules"]) == ["ethanol", "n-propanol", "iso-propanol"]
    ethanol = saved["molecules"]["ethanol"]
    assert ethanol["model_errors"]["forces_mae_meV_per_A"] < 43  # the shipped model on its own molecule
    for entry in saved["molecules"].values():
        for run in (r for replicas in entry["md"].values() for r in replicas):
            assert run["status"] == "completed"
            simulated_ps = run["duration_ps"]  # MD time, not wall time
            assert abs(run["drift_meV_per_atom_per_ps"]) * simulated_ps < run["kinetic_std_meV_per_atom"]
    assert (out / "figures" / "C-C-O.png").exists() and (out / "report.md").exists()
