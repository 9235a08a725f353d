"""The MD driver: energy conservation, Langevin temperature, blow-up stops, resume after a kill."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from ase.calculators.calculator import Calculator, all_changes
from ase.io import read
from ase.io.trajectory import Trajectory
from click.testing import CliRunner

from mlcalc import MLCalc
from mlcalc.cli import main
from mlcalc.md import MDSettings, initialise_velocities, load_md_result, run_md
from mlcalc.modelfile import save_model
from mlcalc.testing import tiny_potential


class _Wrapped(Calculator):
    """Delegates to ``inner``; after ``after`` calls it returns NaN forces or raises ``KeyboardInterrupt``."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, inner, after, action):
        super().__init__()
        self.inner, self.after, self.action, self.calls = inner, after, action, 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        if self.calls > self.after and self.action == "interrupt":
            raise KeyboardInterrupt
        self.results = {"energy": self.inner.get_potential_energy(atoms), "forces": self.inner.get_forces(atoms)}
        if self.calls > self.after and self.action == "nan":
            self.results["forces"] = self.results["forces"] * np.nan


def _frames(path):
    with Trajectory(path) as traj:
        return [atoms for atoms in traj]


def test_initial_velocities_are_seeded_still_and_at_temperature(ethanol):
    a, b = ethanol.copy(), ethanol.copy()
    initialise_velocities(a, 300, seed=4)
    initialise_velocities(b, 300, seed=4)
    np.testing.assert_array_equal(a.get_momenta(), b.get_momenta())
    assert a.get_temperature() == pytest.approx(300)
    np.testing.assert_allclose(a.get_momenta().sum(0), 0, atol=1e-12)
    np.testing.assert_allclose(a.get_angular_momentum(), 0, atol=1e-10)
    initialise_velocities(b, 300, seed=5)
    assert not np.allclose(a.get_momenta(), b.get_momenta())


def test_nve_with_a_trained_tiny_model_conserves_energy(trained_tiny_model, ethanol, tmp_path):
    """0.25 ps NVE (0.5 fs, float64): |drift| × 1 ps below 5 % of the kinetic-energy std (the 1-ps bound on the
    drift rate; this model uses about 11 % of it on 500 steps, 4 % on 2,000)."""
    ethanol.calc = MLCalc.load(trained_tiny_model, dtype=torch.float64)
    result = run_md(ethanol, MDSettings(steps=500, timestep=0.5, temperature=300, interval=10), tmp_path)
    assert result.status == "completed" and result.frames == 51
    assert result.kinetic_std > 1.0  # the molecule really moves
    assert abs(result.drift) * 1.0 < 0.05 * result.kinetic_std
    assert len(_frames(result.trajectory)) == 51
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["drift_meV_per_atom_per_ps"] == pytest.approx(result.drift)


def test_langevin_holds_the_temperature(tiny_et_calc, ethanol, tmp_path):
    ethanol.calc = tiny_et_calc
    settings = MDSettings(steps=400, timestep=1.0, temperature=600, ensemble="langevin", friction=0.1, interval=5,
                          bond_stretch=None)  # late mean 594 K (605 K on 800 steps)
    result = run_md(ethanol, settings, tmp_path)
    assert result.drift is None
    late = result.log["temperature_K"][len(result.log["temperature_K"]) // 3:]
    assert 400 < late.mean() < 800  # 9 atoms: large fluctuations around 600 K


def test_blow_up_stops_with_a_message_and_keeps_frames(ethanol, tmp_path):
    """An untrained model has no bonds: hot atoms fly apart and the bond monitor stops the run."""
    ethanol.calc = MLCalc(tiny_potential(seed=3), dtype=torch.float64)
    settings = MDSettings(steps=5000, timestep=1.0, temperature=3000, interval=5, extxyz=True)
    result = run_md(ethanol, settings, tmp_path)
    assert result.status == "blew_up"
    assert "stretched" in result.message and "bond" in result.message
    assert 0 < result.steps_done < 5000
    frames = _frames(tmp_path / "trajectory.traj")
    assert len(frames) == result.frames == result.steps_done // 5 + 1
    assert len(read(tmp_path / "trajectory.extxyz", index=":")) == len(frames)
    assert len(read(tmp_path / "blowup.extxyz")) == 9
    with pytest.raises(ValueError, match="blew up"):
        run_md(ethanol, settings, tmp_path, resume=True)


def test_nan_forces_stop_the_run(tiny_et_calc, ethanol, tmp_path):
    ethanol.calc = _Wrapped(tiny_et_calc, after=30, action="nan")
    result = run_md(ethanol, MDSettings(steps=100, interval=10, bond_stretch=None, max_force=None), tmp_path)
    assert result.status == "blew_up" and "not finite" in result.message
    assert result.frames == 3 and len(_frames(tmp_path / "trajectory.traj")) == 3


def test_blow_up_through_the_cli_fails_clearly(tmp_path):
    model = save_model(tmp_path / "random.mlc", tiny_potential(seed=3))
    out = tmp_path / "md"
    res = CliRunner().invoke(main, ["md", str(model), "ethanol", "--steps", "3000", "--timestep", "1",
                                    "--temperature", "3000", "--out", str(out), "--no-progress"])
    assert res.exit_code != 0
    assert "blew up" in res.output and "stretched" in res.output
    assert (out / "trajectory.traj").exists()


@pytest.mark.parametrize("ensemble", ["nve", "langevin"])
def test_interrupted_run_resumes_to_the_same_frames(trained_tiny_model, ethanol, tmp_path, ensemble):
    tiny_et_calc = MLCalc.load(trained_tiny_model, dtype=torch.float64)
    settings = MDSettings(steps=205, timestep=0.5, ensemble=ensemble, interval=10, seed=2)
    full = ethanol.copy()
    full.calc = tiny_et_calc
    run_md(full, settings, tmp_path / "full")

    cut = ethanol.copy()
    cut.calc = _Wrapped(tiny_et_calc, after=120, action="interrupt")
    with pytest.raises(KeyboardInterrupt):
        run_md(cut, settings, tmp_path / "cut")
    assert load_md_result(tmp_path / "cut").status == "running"
    again = ethanol.copy()
    again.calc = tiny_et_calc
    result = run_md(again, settings, tmp_path / "cut", resume=True)
    assert result.status == "completed" and result.steps_done == 205
    a, b = _frames(tmp_path / "full" / "trajectory.traj"), _frames(tmp_path / "cut" / "trajectory.traj")
    assert len(a) == len(b) == 22  # steps 0, 10, ..., 200 and the last step, 205
    np.testing.assert_allclose(b[-1].positions, a[-1].positions, atol=1e-10)
    np.testing.assert_allclose(b[-1].get_momenta(), a[-1].get_momenta(), atol=1e-10)
    assert len(load_md_result(tmp_path / "cut").log["step"]) == 22


def test_resume_refuses_changed_settings(trained_tiny_model, ethanol, tmp_path):
    atoms = ethanol.copy()
    atoms.calc = MLCalc.load(trained_tiny_model)
    run_md(atoms, MDSettings(steps=20, interval=10), tmp_path)
    with pytest.raises(ValueError, match="settings changed.*timestep"):
        run_md(atoms, MDSettings(steps=40, interval=10, timestep=0.2), tmp_path, resume=True)
    longer = run_md(atoms, MDSettings(steps=40, interval=10), tmp_path, resume=True)
    assert longer.steps_done == 40 and longer.frames == 5


def test_killed_cli_run_resumes_with_the_same_frame_count(trained_tiny_model, tmp_path):
    """`mlcalc md` killed (SIGKILL) mid-run, then `--resume`: as many frames as an uninterrupted run."""
    model = trained_tiny_model
    out = tmp_path / "md"
    cmd = [sys.executable, "-m", "mlcalc.cli", "md", str(model), "ethanol", "--steps", "800", "--interval", "10",
           "--out", str(out), "--no-progress", "--float64"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = out / "energies.csv"
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline and (not log.exists() or log.read_text().count("\n") < 20):
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert load_md_result(out).status == "running", "the run was not interrupted mid-way"
    done = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "completed: 800 steps" in done.stdout
    assert len(_frames(out / "trajectory.traj")) == 81
    assert list(load_md_result(out).log["step"]) == list(range(0, 801, 10))


def test_md_settings_are_validated():
    with pytest.raises(ValueError, match="ensemble must be one of nve, langevin, nose-hoover, npt, got 'nvt'"):
        MDSettings(steps=10, ensemble="nvt")
    with pytest.raises(ValueError, match="steps"):
        MDSettings(steps=0)
    with pytest.raises(ValueError, match="timestep must be a number > 0 and ≤ 5"):
        MDSettings(steps=10, timestep=20)
