"""The MD redesign changes no numbers, and its two halves work apart.

``tests/data/*_before_redesign.npz`` were written by the driver before the stepper/run-folder
split (see tests/data/README.md); the current code must reproduce them to
1e-13 (MD with EMT) or 1e-10 (MD with a torch model): their last bits depend on the library builds installed; or to 1e-8
(GFN2-xTB reference data, whose SCF is not bitwise reproducible).
"""

from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io.trajectory import Trajectory
from numpy.testing import assert_allclose, assert_array_equal

from mlcalc import MLCalc
from mlcalc.data import load_molecule
from mlcalc.md import (ASEStepper, MDSettings, ReferenceSettings, RunFolder, generate_reference,
                       initialise_velocities, load_md_result, run_md, run_steps)
from mlcalc.testing import tiny_potential

DATA = Path(__file__).parent / "data"
BEFORE = dict(steps=60, timestep=0.5, temperature=300, seed=7, friction=0.02, interval=10, bond_stretch=None,
              max_force=None)


def _calculator(name: str) -> Calculator:
    if name == "emt":
        return EMT()
    # the stored frames predate ET's vector_cutoff option: the tiny ET then had none
    with pytest.warns(UserWarning, match="made without vector_cutoff"):
        model = tiny_potential("torchmdnet-et", elements=(1, 6, 8), vector_cutoff=False)
    return MLCalc(model, dtype=torch.float64)


class _Interrupting(Calculator):
    """Delegates to ``inner``; its call number ``after + 1`` raises KeyboardInterrupt (a killed run)."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, inner: Calculator, after: int):
        super().__init__()
        self.inner, self.after, self.calls = inner, after, 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        if self.calls > self.after:
            raise KeyboardInterrupt
        self.results = {"energy": self.inner.get_potential_energy(atoms), "forces": self.inner.get_forces(atoms)}


def _assert_stored(run: Path, key: str) -> None:
    """EMT's frames to 1e-13, a torch model's to 1e-10: their last bits follow the numpy (and torch) builds the
    registries serve (EMT's differ by up to 6e-16 between numpy 2.3 and 2.4), not the MD code."""
    stored = np.load(DATA / "md_before_redesign.npz")
    with Trajectory(run / "trajectory.traj") as traj:
        frames = list(traj)
    same = partial(assert_allclose, rtol=0, atol=1e-13 if key.startswith("emt") else 1e-10)
    same(np.array([f.positions for f in frames]), stored[f"{key}_positions"])
    same(np.array([f.get_momenta() for f in frames]), stored[f"{key}_momenta"])
    same(np.array([f.get_potential_energy() for f in frames]), stored[f"{key}_energy"])
    same(np.array([f.get_forces() for f in frames]), stored[f"{key}_forces"])


@pytest.mark.parametrize("calc", ["emt", "tiny-et"])
@pytest.mark.parametrize("ensemble", ["nve", "langevin"])
def test_run_md_reproduces_the_frames_from_before_the_redesign(calc, ensemble, tmp_path):
    atoms = load_molecule("ethanol")
    atoms.calc = _calculator(calc)
    result = run_md(atoms, MDSettings(ensemble=ensemble, **BEFORE), tmp_path)
    assert result.status == "completed" and result.frames == 7
    _assert_stored(tmp_path, f"{calc}_{ensemble}")


@pytest.mark.parametrize("calc", ["emt", "tiny-et"])
@pytest.mark.parametrize("ensemble", ["nve", "langevin"])
def test_a_killed_and_resumed_run_ends_on_the_stored_frames(calc, ensemble, tmp_path):
    settings = MDSettings(ensemble=ensemble, **BEFORE)
    cut = load_molecule("ethanol")
    cut.calc = _Interrupting(_calculator(calc), after=35)
    with pytest.raises(KeyboardInterrupt):
        run_md(cut, settings, tmp_path)
    assert load_md_result(tmp_path).status == "running" and load_md_result(tmp_path).steps_done == 30
    again = load_molecule("ethanol")
    again.calc = _calculator(calc)
    assert run_md(again, settings, tmp_path, resume=True).steps_done == 60
    _assert_stored(tmp_path, f"{calc}_{ensemble}")


def test_reference_data_equals_the_frames_from_before_the_redesign():
    pytest.importorskip("tblite")
    settings = ReferenceSettings(frames=6, temperature=500, seed=3, timestep=0.5, thermalise=20, interval=10)
    frames = generate_reference(load_molecule("ethanol"), settings, progress=False)
    stored = np.load(DATA / "reference_before_redesign.npz")
    assert_allclose(np.array([f.positions for f in frames]), stored["positions"], rtol=0, atol=1e-8)
    assert_allclose(np.array([f.get_potential_energy() for f in frames]), stored["energy"], rtol=0, atol=1e-8)
    assert_allclose(np.array([f.get_forces() for f in frames]), stored["forces"], rtol=0, atol=1e-8)


def test_the_ase_stepper_runs_without_a_folder():
    """60 Langevin steps by hand reach run_md's last stored frame; a copied random state replays the noise."""
    settings = MDSettings(ensemble="langevin", **BEFORE)
    atoms = load_molecule("ethanol")
    atoms.calc = EMT()
    initialise_velocities(atoms, settings.temperature, settings.seed)
    stepper = ASEStepper(atoms, settings)
    for _ in range(30):
        stepper.step()
    twin = atoms.copy()
    twin.calc = EMT()
    replay = ASEStepper(twin, settings)
    replay.set_integrator_state(stepper.integrator_state())
    for _ in range(30):
        stepper.step()
        replay.step()
    assert stepper.n_systems == 1 and stepper.snapshot(0) is atoms
    stored = np.load(DATA / "md_before_redesign.npz")
    assert_allclose(atoms.positions, stored["emt_langevin_positions"][-1], rtol=0, atol=1e-13)
    assert_array_equal(twin.get_momenta(), atoms.get_momenta())  # the replay is exact on any build
    assert_allclose(twin.get_momenta(), stored["emt_langevin_momenta"][-1], rtol=0, atol=1e-13)


class _HandMade:
    """A stand-in batched stepper: ``n_systems`` copies of ethanol drifting along x with made-up energies and
    forces; system ``bad`` gets a huge force at step ``bad_step``."""

    def __init__(self, n_systems: int, bad: int, bad_step: int):
        self.n_systems, self.bad, self.bad_step, self.t = n_systems, bad, bad_step, 0
        self.start = load_molecule("ethanol")

    def step(self) -> None:
        self.t += 1

    def snapshot(self, k: int) -> Atoms:
        atoms = Atoms(self.start.numbers, self.start.positions + [0.01 * self.t, 0, 0],
                      momenta=np.full((len(self.start), 3), 0.01 * (k + 1)))
        forces = np.full((len(atoms), 3), 100.0 if (k, self.t) == (self.bad, self.bad_step) else 0.1)
        atoms.calc = SinglePointCalculator(atoms, energy=-10.0 * (k + 1) - 0.001 * self.t, forces=forces)
        return atoms

    def integrator_state(self, k: int = 0):
        return {"t": self.t}

    def set_integrator_state(self, state, k: int = 0) -> None:
        self.t = state["t"]

    def release(self, k: int) -> None:
        pass


def test_run_folders_record_any_stepper_and_stop_one_system_alone(tmp_path):
    """Two systems, one folder each: system 1 blows up at step 3 and only its folder stops."""
    settings = MDSettings(steps=6, interval=2, max_force=10.0)
    stepper = _HandMade(n_systems=2, bad=1, bad_step=3)
    folders = [RunFolder(tmp_path / str(k), settings) for k in range(2)]
    assert [folder.open(stepper.snapshot(k)) for k, folder in enumerate(folders)] == [0, 0]
    run_steps(stepper, folders, 0)
    good, bad = (folder.close() for folder in folders)
    assert good.status == "completed" and list(good.log["step"]) == [0, 2, 4, 6]
    assert_allclose(good.log["potential_eV"], [-10.0, -10.002, -10.004, -10.006])
    with Trajectory(good.trajectory) as traj:
        assert_allclose(traj[-1].positions, stepper.start.positions + [0.06, 0, 0])
    assert bad.status == "blew_up" and "step 3" in bad.message and list(bad.log["step"]) == [0, 2]
    assert (tmp_path / "1" / "blowup.extxyz").exists() and not (tmp_path / "0" / "blowup.extxyz").exists()
    assert load_md_result(tmp_path / "0").status == "completed"
