"""Batched MD on TorchSim behind the run folders: same trajectories as ASE and as each system alone,
blow-ups stop one system, killed batches resume to the same frames, ``mlcalc md --replicas``."""

import numpy as np
import pytest
import torch
from ase.io.trajectory import Trajectory
from click.testing import CliRunner

from mlcalc import MLCalc
from mlcalc.data.molecules import load_molecule
from mlcalc.md import MDSettings, RunFolder, initialise_velocities, load_md_result, run_md, run_steps

pytest.importorskip("torch_sim")

from mlcalc.md import replica_folders, replica_settings, run_batched_md  # noqa: E402
from mlcalc.md.torchsim_model import TorchSimModel  # noqa: E402
from mlcalc.md.torchsim_stepper import TorchSimStepper  # noqa: E402


def _frames(path):
    with Trajectory(path) as traj:
        return [atoms for atoms in traj]


def test_batched_nve_follows_ase_for_one_system(trained_tiny_model, tmp_path):
    """400 NVE steps in float64: every saved frame within 1e-6 Å of ASE's velocity Verlet."""
    settings = MDSettings(steps=400, timestep=0.5, temperature=300, interval=20, seed=4)
    atoms = load_molecule("ethanol")
    atoms.calc = MLCalc.load(trained_tiny_model, dtype=torch.float64)
    single = run_md(atoms, settings, tmp_path / "ase")
    [batched] = run_batched_md([load_molecule("ethanol")], trained_tiny_model, [settings], [tmp_path / "batched"])
    assert single.status == batched.status == "completed"
    a, b = _frames(single.trajectory), _frames(batched.trajectory)
    assert len(a) == len(b) == 21
    assert max(np.abs(x.positions - y.positions).max() for x, y in zip(a, b)) < 1e-6
    assert abs(a[-1].get_potential_energy() - b[-1].get_potential_energy()) < 1e-6
    np.testing.assert_allclose(single.log["total_eV"], batched.log["total_eV"], atol=1e-6)


@pytest.mark.parametrize("ensemble", ["nve", "langevin", "nose-hoover"])
def test_each_molecule_of_a_batch_moves_as_it_does_alone(trained_tiny_model, tmp_path, ensemble):
    names = ["ethanol", "n-propanol", "methyl-ethyl-ether"]
    settings = [MDSettings(steps=60, interval=20, ensemble=ensemble, friction=0.05, seed=k) for k in range(3)]
    model = TorchSimModel(trained_tiny_model, dtype=torch.float64)
    together = run_batched_md([load_molecule(n) for n in names], model, settings,
                              [tmp_path / "batch" / n for n in names])
    for name, s, result in zip(names, settings, together):
        [alone] = run_batched_md([load_molecule(name)], model, [s], [tmp_path / "alone" / name])
        assert result.status == alone.status == "completed"
        for x, y in zip(_frames(result.trajectory), _frames(alone.trajectory)):
            np.testing.assert_allclose(x.positions, y.positions, rtol=0, atol=1e-9)
            np.testing.assert_allclose(x.get_momenta(), y.get_momenta(), rtol=0, atol=1e-9)
    first = [_frames(r.trajectory)[-1].positions for r in together]
    assert first[0].shape != first[1].shape  # really different molecules


def _ethanol_replicas(n: int, settings: MDSettings) -> list:
    """``n`` ethanol molecules with Maxwell-Boltzmann velocities of seeds 0..n-1."""
    systems = []
    for k in range(n):
        atoms = load_molecule("ethanol")
        initialise_velocities(atoms, settings.temperature, seed=k)
        systems.append(atoms)
    return systems


def _shoot_along_z(atoms, atom: int, speed: float, only_z: bool) -> None:
    """Give ``atom`` a velocity of ``speed`` Å/fs along z (``only_z``: keep its x and y velocity, else zero them)."""
    momenta = atoms.get_momenta()
    if not only_z:
        momenta[atom] = 0.0
    momenta[atom, 2] = speed / 0.09822694788464063 * atoms.get_masses()[atom]  # Å/fs in ASE units
    atoms.set_momenta(momenta)


def test_a_blow_up_stops_only_its_own_system(trained_tiny_model, tmp_path):
    """System 1 gets an H atom shot off at 2 Å/fs: its folder stops, it leaves the batch, the others finish."""
    settings = MDSettings(steps=40, interval=10, seed=1)
    systems = _ethanol_replicas(3, settings)
    _shoot_along_z(systems[1], atom=8, speed=2.0, only_z=False)
    model = _Counting(trained_tiny_model)
    stepper = TorchSimStepper(systems, model, settings)
    folders = [RunFolder(tmp_path / str(k), settings) for k in range(3)]
    assert [folder.open(stepper.snapshot(k)) for k, folder in enumerate(folders)] == [0, 0, 0]
    run_steps(stepper, folders, 0)
    results = [folder.close() for folder in folders]
    assert [r.status for r in results] == ["completed", "blew_up", "completed"]
    assert "stretched" in results[1].message and results[1].steps_done < 10
    assert (tmp_path / "1" / "blowup.extxyz").exists() and not (tmp_path / "0" / "blowup.extxyz").exists()
    blown = int(results[1].message.split("step ")[1].split(":")[0])
    assert model.sizes == [3] * (blown + 1) + [2] * (40 - blown)  # it left the batch right away
    # its time ends at its blow-up, not when the batch ends (ms/step is the batch's step time, not inflated)
    assert results[1].wall_time_s < min(results[0].wall_time_s, results[2].wall_time_s)
    # the survivors moved exactly as they would have without the bad one
    [alone] = run_batched_md([load_molecule("ethanol")], model, [settings.model_copy(update={"seed": 2})],
                             [tmp_path / "alone"])
    np.testing.assert_allclose(_frames(results[2].trajectory)[-1].positions,
                               _frames(alone.trajectory)[-1].positions, atol=1e-9)


class _Refusing(TorchSimModel):
    """Refuses (ValueError, as MLCalc does for a bad structure) any state with an atom beyond z = 4 Å."""

    def __init__(self, model):
        super().__init__(model, dtype=torch.float64)

    def forward(self, state, **kw):
        if bool((state.positions[:, 2] > 4.0).any()):
            raise ValueError("an atom is beyond z = 4 Å")
        return super().forward(state, **kw)


def test_a_structure_the_model_refuses_stops_only_its_own_system(trained_tiny_model, tmp_path):
    settings = MDSettings(steps=30, interval=10, bond_stretch=None, max_force=None)
    systems = _ethanol_replicas(3, settings)
    _shoot_along_z(systems[2], atom=8, speed=0.3, only_z=True)  # H8 leaves along z at 0.3 Å/fs
    stepper = TorchSimStepper(systems, _Refusing(trained_tiny_model), settings)
    folders = [RunFolder(tmp_path / str(k), settings) for k in range(3)]
    for k, folder in enumerate(folders):
        folder.open(stepper.snapshot(k))
    run_steps(stepper, folders, 0)
    results = [folder.close() for folder in folders]
    assert [r.status for r in results] == ["completed", "completed", "blew_up"]
    assert "the model refused the structure: an atom is beyond z = 4 Å" in results[2].message
    plain = TorchSimStepper(systems[:2], TorchSimModel(trained_tiny_model, dtype=torch.float64), settings)
    for _ in range(30):
        plain.step()
    np.testing.assert_allclose(_frames(results[1].trajectory)[-1].positions, plain.snapshot(1).positions, atol=1e-9)


class _Counting(TorchSimModel):
    """Records the number of systems of every call."""

    def __init__(self, model):
        super().__init__(model, dtype=torch.float64)
        self.sizes = []

    def forward(self, state, **kw):
        self.sizes.append(state.n_systems)
        return super().forward(state, **kw)


class _Interrupting(TorchSimModel):
    """Stops the process (KeyboardInterrupt) at its ``after``-th call, like a kill between two steps."""

    def __init__(self, model, after):
        super().__init__(model, dtype=torch.float64)
        self.after, self.calls = after, 0

    def forward(self, state, **kw):
        self.calls += 1
        if self.calls > self.after:
            raise KeyboardInterrupt
        return super().forward(state, **kw)


@pytest.mark.parametrize("ensemble", ["nve", "langevin", "nose-hoover"])
def test_a_killed_batch_resumes_to_the_same_frames(trained_tiny_model, tmp_path, ensemble):
    settings = replica_settings(MDSettings(steps=65, interval=10, ensemble=ensemble, seed=7), 3)
    structures = [load_molecule("ethanol")] * 3
    full = run_batched_md(structures, trained_tiny_model, settings, replica_folders(tmp_path / "full", 3))
    with pytest.raises(KeyboardInterrupt):
        run_batched_md(structures, _Interrupting(trained_tiny_model, after=38), settings,
                       replica_folders(tmp_path / "cut", 3))
    assert {load_md_result(f).status for f in replica_folders(tmp_path / "cut", 3)} == {"running"}
    again = run_batched_md(structures, trained_tiny_model, settings, replica_folders(tmp_path / "cut", 3), resume=True)
    for a, b in zip(full, again):
        assert b.status == "completed" and b.steps_done == 65
        fa, fb = _frames(a.trajectory), _frames(b.trajectory)
        assert len(fa) == len(fb) == 8  # steps 0, 10, ..., 60 and the last, 65
        for x, y in zip(fa, fb):
            np.testing.assert_allclose(y.positions, x.positions, atol=1e-10)
            np.testing.assert_allclose(y.get_momenta(), x.get_momenta(), atol=1e-10)
        assert len(b.log["step"]) == 8
    assert np.abs(_frames(full[0].trajectory)[-1].positions - _frames(full[1].trajectory)[-1].positions).max() > 1e-3


def test_cli_replicas_write_one_run_folder_each_and_resume(trained_tiny_model, tmp_path):
    from mlcalc.cli import main

    args = ["md", str(trained_tiny_model), "ethanol", "--replicas", "3", "--steps", "20", "--interval", "10",
            "--seed", "5", "--float64", "--out", str(tmp_path), "--no-progress"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "replica-002 (seed 7): completed, 20 steps, 3 frames" in res.output
    for k in range(3):
        folder = tmp_path / f"replica-{k:03d}"
        assert {"trajectory.traj", "energies.csv", "checkpoint.json", "summary.json"} <= {p.name for p in folder.iterdir()}
        assert load_md_result(folder).settings.seed == 5 + k
    again = CliRunner().invoke(main, args + ["--resume"])
    assert again.exit_code == 0 and again.output.count("completed, 20 steps") == 3
    refused = CliRunner().invoke(main, ["md", "gfn2-xtb", "ethanol", "--replicas", "2", "--steps", "5",
                                        "--out", str(tmp_path / "x"), "--no-progress"])
    assert refused.exit_code != 0 and "--replicas runs an mlcalc model" in refused.output


def test_engine_torchsim_is_a_setting_of_run_md(trained_tiny_model, tmp_path):
    """run_md with engine torchsim is run_batched_md of one system: the same frames, recorded as torchsim."""
    settings = MDSettings(steps=20, interval=5, ensemble="langevin", seed=3, engine="torchsim")
    atoms = load_molecule("ethanol")
    atoms.calc = MLCalc.load(trained_tiny_model, dtype=torch.float64)
    via_run_md = run_md(atoms, settings, tmp_path / "run_md")
    [batched] = run_batched_md([load_molecule("ethanol")], trained_tiny_model,
                               [settings.model_copy(update={"engine": "ase"})], [tmp_path / "batched"])
    a, b = _frames(via_run_md.trajectory), _frames(batched.trajectory)
    assert len(a) == len(b) == 5
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.positions, y.positions)
    np.testing.assert_array_equal(atoms.positions, a[-1].positions)  # atoms moved along, as on ASE
    assert via_run_md.settings.engine == batched.settings.engine == "torchsim"


def test_a_folder_from_before_the_engine_setting_resumes(trained_tiny_model, tmp_path):
    """Checkpoints written before: the integrator state under "rng", settings without an engine."""
    import json

    settings = MDSettings(steps=30, interval=10, ensemble="langevin", seed=5)
    [full] = run_batched_md([load_molecule("ethanol")], trained_tiny_model, [settings], [tmp_path / "full"])
    run_batched_md([load_molecule("ethanol")], trained_tiny_model, [settings.model_copy(update={"steps": 20})],
                   [tmp_path / "old"])
    path = tmp_path / "old" / "checkpoint.json"
    saved = json.loads(path.read_text())
    saved["rng"] = saved.pop("integrator_state")
    del saved["settings"]["engine"]
    path.write_text(json.dumps(saved))
    [again] = run_batched_md([load_molecule("ethanol")], trained_tiny_model, [settings], [tmp_path / "old"],
                             resume=True)
    assert again.status == "completed" and again.steps_done == 30
    for x, y in zip(_frames(full.trajectory), _frames(again.trajectory)):
        np.testing.assert_array_equal(x.positions, y.positions)
