"""`mlcalc demo` end to end (what `make demo` runs)."""

import json

import pytest
from click.testing import CliRunner

from mlcalc.cli import main


def test_demo_runs_and_reports(tmp_path):
    pytest.importorskip("tblite")
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "demo"), "--steps", "100"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["fresh_model_test"]["forces_mae_meV_per_A"] < 1000
    assert summary["shipped_model_test"]["forces_mae_meV_per_A"] < 43  # the shipped model transfers to fresh xTB frames
    for run in summary["nve"].values():
        assert abs(run["drift_meV_per_atom_per_ps"]) < run["kinetic_std_meV_per_atom"]
    for path in [summary["model"], summary["data"], *summary["trajectories"]]:
        assert path in result.output
