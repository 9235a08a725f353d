"""One MD settings schema: the same bad value is refused with the same one-line message wherever it enters."""

import importlib.util
import re
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner

from mlcalc.analysis.transfer.config import TransferMD, load_transfer_config
from mlcalc.cli import main
from mlcalc.potentials.training.config import load_config
from mlcalc.md import MDSettings, ReferenceSettings

BAD = [
    ("timestep", 20, "timestep must be a number > 0 and ≤ 5 (fs), got 20"),
    ("temperature", -5, "temperature must be a number ≥ 0 (K), got -5"),
    ("ensemble", "nph", "ensemble must be one of nve, langevin, nose-hoover, npt, got 'nph'"),
    ("thermostat_time", 0, "thermostat_time must be a number > 0 (fs), got 0"),
    ("barostat_time", -5, "barostat_time must be a number > 0 (fs), got -5"),
    ("interval", 0, "interval must be an integer ≥ 1 (steps), got 0"),
    ("friction", 0, "friction must be a number > 0 (1/fs), got 0"),
    ("max_force", -1, "max_force must be a number > 0 (eV/Å) or none, got -1"),
    ("bond_stretch", 0.5, "bond_stretch must be a number > 1 or none, got 0.5"),
]


def _write(path, mapping):
    path.write_text(yaml.safe_dump(mapping))
    return path


def _transfer_yaml(tmp_path, md):
    return _write(tmp_path / "transfer.yaml", {"name": "t", "source": {"molecule": "ethanol", "model": "ethanol-et"},
                                                "targets": ["n-propanol"], "compare": ["C-C"], "out_dir": "out",
                                                "md": md})


def _train_yaml(tmp_path, generate):
    return _write(tmp_path / "train.yaml", {"name": "t", "out_dir": "out", "data": {
        "path": str(tmp_path / "missing.extxyz"), "train": 10, "val": 2,
        "generate": {"molecule": "ethanol", "frames": 20, **generate}}})


@pytest.mark.parametrize("field, value, message", BAD)
def test_a_bad_setting_is_refused_alike_everywhere(field, value, message, tmp_path):
    with pytest.raises(ValueError) as err:
        MDSettings(steps=10, **{field: value})
    assert str(err.value) == message

    res = CliRunner().invoke(main, ["md", "no-such-model", "ethanol", "--steps", "10", "--out", str(tmp_path / "md"),
                                    f"--{field.replace('_', '-')}", str(value)])
    assert res.exit_code == 2 and res.output == f"Error: {message}\n"
    assert not (tmp_path / "md").exists()

    with pytest.raises(ValueError, match="md." + field) as err:
        load_transfer_config(_transfer_yaml(tmp_path, {field: value}))
    assert message in str(err.value) and "\n" not in str(err.value)

    with pytest.raises(ValueError, match="data.generate." + field) as err:
        load_config(_train_yaml(tmp_path, {field: value}))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_reference_data_refuses_a_negative_thermalisation(tmp_path):
    message = "thermalise must be an integer ≥ 0 (steps), got -100"
    res = CliRunner().invoke(main, ["data", "reference", "--molecule", "ethanol", "--thermalise", "-100",
                                    "--out", str(tmp_path / "ref.extxyz")])
    assert res.exit_code == 2 and res.output == f"Error: {message}\n"
    with pytest.raises(ValueError, match=re.escape(message)):
        load_config(_train_yaml(tmp_path, {"thermalise": -100}))
    with pytest.raises(ValueError, match="interval must be an integer"):  # a time in fs from an old config
        load_config(_train_yaml(tmp_path, {"interval": 20.0}))


def test_settings_keep_their_behaviour():
    s = MDSettings(steps=2000, timestep=0.5)
    simulated_ps = s.duration_ps  # MD time: 2000 steps of 0.5 fs, not a wall time
    assert simulated_ps == 1.0 and s.to_dict()["ensemble"] == "nve"
    assert MDSettings(**s.to_dict()) == s
    assert s.differences(MDSettings(steps=10, timestep=0.2, seed=1)) == ["timestep", "seed"]
    with pytest.raises(ValueError, match="frozen"):
        s.steps = 3
    with pytest.raises(ValueError, match="unknown setting 'stepz'; known: steps, timestep"):
        MDSettings(steps=1, stepz=3)
    with pytest.raises(ValueError, match="^steps is required$"):
        MDSettings()


def test_uses_change_only_defaults():
    paper, reference = TransferMD(), ReferenceSettings(frames=1300, thermalise=2000, interval=40)
    assert (paper.steps, paper.timestep, paper.ensemble) == (100_000, 0.1, "nve")
    assert (reference.ensemble, reference.temperature, reference.timestep, reference.friction) == (
        "langevin", 500.0, 0.5, 0.01)
    assert reference.steps == 2000 + 1300 * 40
    for schema in (TransferMD, ReferenceSettings):
        for name, field in MDSettings.model_fields.items():
            assert schema.model_fields[name].metadata == field.metadata, name
    with pytest.raises(ValueError, match="timestep must be a number > 0 and ≤ 5"):
        TransferMD(timestep=20)
    with pytest.raises(ValueError, match="steps must be thermalise \\+ frames × interval"):
        ReferenceSettings(frames=2, thermalise=0, interval=10, steps=5)


def test_the_transfer_config_takes_dtype_at_the_top(tmp_path):
    with pytest.raises(ValueError, match="write dtype at the top level"):
        load_transfer_config(_transfer_yaml(tmp_path, {"dtype": "float64"}))
    path = _transfer_yaml(tmp_path, {"steps": 20})
    assert load_transfer_config(path, {"dtype": "float64"}).dtype == "float64"


def test_md_none_disables_a_check_from_the_cli(tmp_path):
    from mlcalc.cli.options import settings_from

    assert settings_from(MDSettings, {"steps": 5, "max_force": None}).max_force is None
    res = CliRunner().invoke(main, ["md", "no-such-model", "ethanol", "--steps", "5", "--max-force", "none",
                                    "--bond-stretch", "none", "--out", str(tmp_path / "md"), "--no-progress"])
    assert res.exit_code == 2 and "no-such-model" in res.output  # got past the settings to the model


def test_the_schema_and_the_cli_options_import_no_torch():
    """Building `mlcalc md`'s options needs pydantic and click only (mlcalc/__init__ is bypassed here)."""
    package = importlib.util.find_spec("mlcalc").submodule_search_locations[0]
    code = ("import sys, types; pkg = types.ModuleType('mlcalc'); pkg.__path__ = [sys.argv[1]];"
            "sys.modules['mlcalc'] = pkg; import mlcalc.md.settings, mlcalc.cli.options;"
            "print(sorted(m for m in ('torch', 'torch_geometric', 'ase', 'mlcalc.md.stepper') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, package], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr[-2000:]
    code = "import sys, mlcalc.cli; print(sorted(m for m in sys.modules if m.startswith('mlcalc.md')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "['mlcalc.md', 'mlcalc.md.settings']", out.stderr[-2000:]  # the package is lazy
