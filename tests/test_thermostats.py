"""Nose-Hoover NVT and MTK NPT in ``mlcalc md``: temperature held, conserved quantity bounded, the
volume relaxes under NPT, exact resume, both steppers, one-line errors for bad combinations."""

import numpy as np
import pytest
import torch
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io.trajectory import Trajectory
from click.testing import CliRunner

from mlcalc import MLCalc
from mlcalc.cli import main
from mlcalc.data.molecules import load_molecule
from mlcalc.md import ASEStepper, MDSettings, initialise_velocities, run_md
from mlcalc.modelfile import save_model
from mlcalc.testing import tiny_potential

pytest.importorskip("torch_sim")

from mlcalc.md import replica_folders, replica_settings, run_batched_md  # noqa: E402
from mlcalc.md.torchsim_model import TorchSimModel  # noqa: E402
from mlcalc.md.torchsim_stepper import TorchSimStepper  # noqa: E402


def _copper(a: float = 3.61) -> "Atoms":  # noqa: F821
    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(2)  # 32 atoms (108 held the same margins at 3x the cost)
    atoms.calc = EMT()
    return atoms


def _frames(path):
    with Trajectory(path) as traj:
        return [atoms for atoms in traj]


def test_ase_nose_hoover_holds_the_temperature_and_its_conserved_energy():
    atoms = _copper()
    initialise_velocities(atoms, 300, seed=0)  # on the lattice: equipartition halves it, the thermostat restores it
    stepper = ASEStepper(atoms, MDSettings(steps=1, ensemble="nose-hoover", timestep=2.0, thermostat_time=40))
    temperatures, conserved = [], []
    for _ in range(600):
        stepper.step()
        temperatures.append(atoms.get_temperature())
        conserved.append(stepper.integrator.get_conserved_energy())
    assert np.mean(temperatures[300:]) == pytest.approx(300, rel=0.1)
    assert np.ptp(conserved) / len(atoms) < 2e-4  # eV/atom, while the kinetic energy swings by ~0.05 eV/atom


def test_torchsim_nose_hoover_holds_each_replicas_temperature_and_its_conserved_energy():
    # the untrained model lets a hot replica's O-H bond reach 0.498 Å: the close-contact check (as MLCalc's) is off
    model = TorchSimModel(tiny_potential(), dtype=torch.float64, min_distance=0.0)
    settings = MDSettings(steps=1, ensemble="nose-hoover", timestep=0.5, temperature=300, thermostat_time=20)
    systems = []
    for k in range(4):
        atoms = load_molecule("ethanol")
        initialise_velocities(atoms, 600 if k % 2 else 100, seed=k)  # hot and cold replicas
        systems.append(atoms)
    stepper = TorchSimStepper(systems, model, settings)
    kT, tau, n = 300 * units.kB, 20 * units.fs, len(systems[0])
    temperatures, conserved, total = [], [], []
    for _ in range(500):
        stepper.step()
        temperatures.append([stepper.snapshot(k).get_temperature() for k in range(4)])
        row = []
        for k in range(4):
            atoms, chain = stepper.snapshot(k), stepper.integrator_state(k)["thermostat"]
            q = kT * tau ** 2 * np.array([3 * n, 1, 1])
            xi, p = np.array(chain["positions"]), np.array(chain["momenta"])
            row.append(atoms.get_total_energy() + (p ** 2 / (2 * q)).sum() + kT * (3 * n * xi[0] + xi[1:].sum()))
        conserved.append(row)
        total.append([stepper.snapshot(k).get_total_energy() for k in range(4)])
    mean = np.mean(temperatures[200:], axis=0)
    assert mean.mean() == pytest.approx(300, rel=0.1)
    assert np.all(np.abs(mean - 300) < 100)  # each replica, hot or cold, near the target
    swing = np.ptp(total, axis=0)  # the energy the thermostat put in or took out: ~0.3 eV
    assert np.all(np.ptp(conserved, axis=0) < 0.05 * swing)
    assert np.ptp(conserved, axis=0).max() < 0.01  # eV: velocity Verlet's fluctuation at 0.5 fs, no drift


def test_ase_npt_relaxes_a_compressed_crystal_toward_its_equilibrium_volume():
    atoms = _copper(a=3.45)  # EMT copper's equilibrium lattice constant is ~3.59 Å
    initialise_velocities(atoms, 300, seed=1)
    stepper = ASEStepper(atoms, MDSettings(steps=1, ensemble="npt", timestep=2.0, pressure=0.0,
                                           thermostat_time=40, barostat_time=200))
    v0 = atoms.get_volume()
    volumes = []
    for _ in range(400):
        stepper.step()
        volumes.append(atoms.get_volume())
    equilibrium = len(atoms) * 3.59 ** 3 / 4
    assert max(volumes) > v0 + 0.5 * (equilibrium - v0)  # the cell expands most of the way (and oscillates)
    assert abs(np.mean(volumes[200:]) - equilibrium) < abs(v0 - equilibrium)
    np.testing.assert_allclose(atoms.cell.angles(), 90)  # isotropic: the shape stays


@pytest.mark.parametrize("ensemble", ["nose-hoover", "npt"])
def test_ase_thermostat_runs_resume_exactly(ensemble, tmp_path):
    settings = MDSettings(steps=40, interval=10, ensemble=ensemble, timestep=2.0, pressure=1.0,
                          thermostat_time=20, barostat_time=100)
    full = run_md(_copper(3.55), settings, tmp_path / "full")
    run_md(_copper(3.55), settings.model_copy(update={"steps": 20}), tmp_path / "cut")
    again = run_md(_copper(3.55), settings, tmp_path / "cut", resume=True)
    assert full.status == again.status == "completed"
    a, b = _frames(full.trajectory), _frames(again.trajectory)
    assert len(a) == len(b) == 5
    for x, y in zip(a, b):
        np.testing.assert_allclose(y.positions, x.positions, rtol=0, atol=1e-10)
        np.testing.assert_allclose(y.get_momenta(), x.get_momenta(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(y.cell[:], x.cell[:], rtol=0, atol=1e-12)
    if ensemble == "npt":
        assert abs(a[-1].get_volume() - a[0].get_volume()) > 1e-3


def test_torchsim_npt_changes_the_cell_and_resumes_exactly(tmp_path):
    model = TorchSimModel(tiny_potential(elements=(6,), periodic=True), dtype=torch.float64)
    crystal = bulk("C", "diamond", a=3.57).repeat(2)
    settings = replica_settings(MDSettings(steps=30, interval=10, ensemble="npt", timestep=0.5, pressure=5.0,
                                           barostat_time=50), 2)
    full = run_batched_md([crystal] * 2, model, settings, replica_folders(tmp_path / "full", 2))
    short = [s.model_copy(update={"steps": 20}) for s in settings]
    run_batched_md([crystal] * 2, model, short, replica_folders(tmp_path / "cut", 2))
    again = run_batched_md([crystal] * 2, model, settings, replica_folders(tmp_path / "cut", 2), resume=True)
    for a, b in zip(full, again):
        assert a.status == b.status == "completed"
        fa, fb = _frames(a.trajectory), _frames(b.trajectory)
        assert abs(fa[-1].get_volume() - fa[0].get_volume()) > 1e-4
        for x, y in zip(fa, fb):
            np.testing.assert_allclose(y.positions, x.positions, rtol=0, atol=1e-10)
            np.testing.assert_allclose(y.cell[:], x.cell[:], rtol=0, atol=1e-10)


def test_npt_is_refused_for_a_molecule_or_a_model_without_stress(tmp_path):
    settings = MDSettings(steps=5, ensemble="npt")
    atoms = load_molecule("ethanol")
    atoms.calc = MLCalc(tiny_potential(), dtype=torch.float64)
    with pytest.raises(ValueError, match="npt needs a system periodic in 3D") as err:
        run_md(atoms, settings, tmp_path / "a")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "a").exists()
    with pytest.raises(ValueError, match="npt needs a system periodic in 3D"):
        run_batched_md([load_molecule("ethanol")], tiny_potential(), [settings], [tmp_path / "b"])

    crystal = _copper()
    crystal.calc = _NoStress()
    with pytest.raises(ValueError, match="npt needs a model that gives stress; _NoStress does not"):
        run_md(crystal, settings, tmp_path / "c")


def test_cli_offers_the_new_settings_and_refuses_bad_ones(tmp_path):
    model = tmp_path / "tiny.mlc"
    save_model(model, tiny_potential())
    help_text = CliRunner().invoke(main, ["md", "--help"]).output
    for option in ("nose-hoover", "--thermostat-time", "--pressure", "--barostat-time"):
        assert option in help_text
    bad = CliRunner().invoke(main, ["md", str(model), "ethanol", "--steps", "3", "--ensemble", "npt",
                                    "--out", str(tmp_path / "md")])
    assert bad.exit_code != 0 and "npt needs a system periodic in 3D" in bad.output
    bad = CliRunner().invoke(main, ["md", str(model), "ethanol", "--steps", "3", "--thermostat-time", "-1",
                                    "--out", str(tmp_path / "md")])
    assert bad.exit_code == 2 and "thermostat_time must be a number > 0 (fs), got -1" in bad.output
    ok = CliRunner().invoke(main, ["md", str(model), "ethanol", "--steps", "4", "--interval", "2",
                                   "--ensemble", "nose-hoover", "--out", str(tmp_path / "nh"), "--no-progress"])
    assert ok.exit_code == 0, ok.output


class _NoStress(EMT):
    implemented_properties = ["energy", "forces"]
