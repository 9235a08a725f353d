"""On-the-fly learning MD: a committee labels the steps it is unsure of and learns from them as the run goes.

The reference here is a "teacher" (a tiny seeded bpnn with small forces, so that random weights
make no violent dynamics) and the model a "student" made from it by perturbing its weights: the
loop's mechanics are real and cheap. One reference call per labelled step, one fine-tune per label,
a resume that repeats nothing, a budget that stops labelling, an energy log whose total less the
model updates' jumps is conserved.
"""

import json

import numpy as np
import pytest
import torch
from ase.build import molecule
from ase.calculators.calculator import Calculator, all_changes
from ase.io import read
from ase.io.trajectory import Trajectory
from click.testing import CliRunner

from mlcalc import MLCalc
from mlcalc.data.structure_files import file_sha256
from mlcalc.md import LearnSettings, MDSettings, read_energy_log
from mlcalc.modelfile import read_manifest, save_model
from mlcalc.testing import tiny_potential

from mlcalc.potentials.training.finetune import frames_sha256
from mlcalc.potentials.training.on_the_fly import run_learning_md
from mlcalc.potentials.training.on_the_fly.committee import Committee, perturbed
from mlcalc.potentials.training.on_the_fly.learner import Learner, _read_frames
from mlcalc.potentials.training.on_the_fly.threshold import Threshold

MD = dict(steps=36, interval=3, temperature=300, bond_stretch=None)
LEARN = dict(reference="emt", members=2, spread=0.05, init_steps=5, update_steps=5, lr=5e-3, calibration=2,
             calibration_interval=10, min_gap=4, target_error=6e-4, calibration_window=3, max_update_steps=None)


class Teacher(Calculator):
    """The reference: a tiny bpnn in float64; counts its calls; raises KeyboardInterrupt at call ``kill_at``."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, model, kill_at: int | None = None):
        super().__init__()
        self.inner = MLCalc(model, dtype=torch.float64)
        self.calls, self.kill_at = 0, kill_at

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if self.kill_at is not None and self.calls + 1 == self.kill_at:
            raise KeyboardInterrupt
        self.calls += 1
        copy = self.atoms.copy()
        copy.calc = self.inner
        self.results = {"energy": copy.get_potential_energy(), "forces": copy.get_forces()}


@pytest.fixture(scope="module")
def teacher():
    return tiny_potential("bpnn", elements=(1, 6, 8), seed=1, energy_scale=0.1)


@pytest.fixture(scope="module")
def student(teacher, tmp_path_factory):
    return save_model(tmp_path_factory.mktemp("student") / "student.mlc", perturbed(teacher, 0.3, seed=7, member=0))


def learn_md(student, teacher, out, md=None, learn=None, reference=None, atoms=None, **options):
    reference = reference or Teacher(teacher)
    result = run_learning_md(student, atoms or molecule("CH3OH"), MDSettings(**{**MD, **(md or {})}),
                             LearnSettings(**{**LEARN, **(learn or {})}), out, reference_calculator=reference,
                             **options)
    return result, reference


BATCHED = {"md": {"engine": "torchsim", "steps": 24}, "replicas": 2}


@pytest.fixture(scope="module")
def learned(student, teacher, tmp_path_factory):
    """A run with the auto threshold: (result, reference calls)."""
    result, reference = learn_md(student, teacher, tmp_path_factory.mktemp("learned") / "run")
    return result, reference.calls


@pytest.fixture(scope="module")
def conserving(student, teacher, tmp_path_factory):
    """The learned run again with update_energy conserve (the same labels: the dynamics differ only in momenta)."""
    result, reference = learn_md(student, teacher, tmp_path_factory.mktemp("conserve") / "run",
                                 learn={"update_energy": "conserve"})
    return result, reference.calls


@pytest.fixture(scope="module")
def batched(student, teacher, tmp_path_factory):
    """Two replicas in one TorchSim batch: (result, reference calls)."""
    pytest.importorskip("torch_sim")
    result, reference = learn_md(student, teacher, tmp_path_factory.mktemp("batched") / "run", **BATCHED)
    return result, reference.calls


def test_a_step_above_the_threshold_is_held_labelled_once_and_learned_once(student, teacher, tmp_path, monkeypatch):
    probe, _ = learn_md(student, teacher, tmp_path / "probe", md={"interval": 1}, learn={"threshold": 10.0})
    u = probe.runs[0].log["uncertainty_eV_per_A"]
    threshold = 0.5 * (u[1] + u.max())
    first = int(np.argmax(u > threshold))
    assert 1 < first < MD["steps"] and probe.summary["reference_calls"] == 1
    fits = []  # the reference calls made when each fit began
    reference = Teacher(teacher)
    original = Committee.fit
    monkeypatch.setattr(Committee, "fit", lambda self, *a, **k: fits.append(reference.calls) or original(self, *a, **k))
    run, _ = learn_md(student, teacher, tmp_path / "run", md={"interval": 1},
                      learn={"threshold": threshold, "min_gap": 1, "update_energy": "jump"}, reference=reference)
    calls = np.genfromtxt(tmp_path / "run" / "learning.csv", delimiter=",", names=True, dtype=None, encoding=None)
    assert calls["step"][1] == first and list(calls["step"]).count(first) == 1  # one reference call at that step
    assert fits[:2] == [1, 2] and fits.count(2) == 1  # the start frame's fit, then one fit after the second call
    assert fits == list(range(1, reference.calls + 1))  # one fit per reference call
    assert calls["uncertainty_eV_per_A"][1] == pytest.approx(u[first], rel=1e-6)
    log = run.runs[0].log
    assert log["labelled"][first] == 1 and log["labelled"][1:first].sum() == 0 and log["labelled"][0] == 1
    before = {k: v[:first] for k, v in log.items()}  # the model alone stepped until then: the probe's run
    for key in ("potential_eV", "kinetic_eV", "uncertainty_eV_per_A"):
        np.testing.assert_array_equal(before[key], probe.runs[0].log[key][:first])
    assert log["uncertainty_eV_per_A"][first] != u[first]  # recorded after the update, from the held state
    assert log["model_update_eV"][first - 1] == 0 and log["model_update_eV"][first] != 0


def test_learning_lowers_the_uncertainty_on_the_labelled_frames(learned, student):
    result, calls = learned
    s = result.summary
    assert s["reference_calls"] == calls >= 4 and s["threshold"]["mode"] == "auto" and s["threshold"]["pairs"] >= 3
    labelled = _read_frames(result.out_dir / "learning" / "reference.traj")[:calls]
    before = np.array([f.info["uncertainty"] for f in labelled[1:]])
    calc = MLCalc.load(result.model)
    after = []
    for frame in labelled[1:]:
        atoms = frame.copy()
        atoms.calc = calc
        atoms.get_forces()
        after.append(calc.results["uncertainty"])
    assert np.mean(after) < 0.5 * np.mean(before)
    assert s["labelled_uncertainty_after_eV_per_A"] < s["labelled_uncertainty_before_eV_per_A"]
    record = read_manifest(result.model)["on_the_fly"]
    assert record["parent"]["sha256"] == file_sha256(student) and record["frames"]["count"] == calls
    assert record["frames"]["sha256"] == frames_sha256(labelled) and record["updates"] == calls - 1
    assert len(read(result.labelled, ":")) == calls
    assert s["wall_time_s"]["reference"] > 0 and s["wall_time_s"]["finetune"] > 0 and s["wall_time_s"]["model"] > 0
    assert s["share_of_steps"] == pytest.approx(calls / MD["steps"])


def test_the_nve_energy_log_stays_meaningful_across_model_updates(conserving, student, teacher, tmp_path):
    """update_energy jump: the total jumps at each update by what the log records; conserve: the momenta take up
    each update's potential-energy change and the total itself stays."""
    jumped, _ = learn_md(student, teacher, tmp_path / "jump", learn={"update_energy": "jump"})
    log = jumped.runs[0].log
    jumps = np.diff(np.concatenate([[0.0], log["model_update_eV"]]))
    conserved = log["total_eV"] - log["model_update_eV"]
    assert np.count_nonzero(jumps) >= 3
    assert np.ptp(conserved) < 0.05 * np.abs(jumps).max()  # the jumps, not the dynamics, move the total
    assert np.ptp(log["total_eV"]) > 0.5 * np.abs(jumps).max()
    slope = np.polyfit(log["time_ps"], conserved, 1)[0] * 1000 / 6  # meV/atom/ps, methanol's six atoms
    assert jumped.runs[0].drift == pytest.approx(slope)
    result, calls = conserving
    kept = result.runs[0].log
    assert calls == jumped.summary["reference_calls"] and not kept["model_update_eV"].any()
    assert np.ptp(kept["total_eV"]) < 0.05 * np.abs(jumps).max()
    assert not np.allclose(kept["kinetic_eV"], log["kinetic_eV"])  # the momenta were scaled


def start_energy(model, frame) -> float:
    atoms = frame.copy()
    atoms.calc = MLCalc.load(model)
    return float(atoms.get_potential_energy())


def test_anchor_keeps_the_total_energy_of_the_start_state_on_the_current_model(learned, conserving):
    """update_energy anchor (default): after every update the total energy is the start state's (start geometry,
    start momenta) on the updated model, up to the integrator's drift; conserve keeps the untrained committee's."""
    result, calls = learned
    assert result.summary["update_energy"] == "anchor"
    log = result.runs[0].log
    jumps = np.diff(log["model_update_eV"])
    assert np.count_nonzero(jumps) >= 2 and np.abs(jumps).max() > 1e-4  # the start geometry's energy moved
    conserved = log["total_eV"] - log["model_update_eV"]
    assert np.ptp(conserved) < 0.05 * np.abs(log["model_update_eV"]).max()
    start = read(result.labelled, 0)
    anchored = start_energy(result.model, start) + log["kinetic_eV"][0]  # the start state on the final committee
    assert log["total_eV"][-1] == pytest.approx(anchored, abs=0.05 * np.abs(log["model_update_eV"]).max())
    kept = conserving[0].runs[0].log
    assert kept["total_eV"][-1] == pytest.approx(kept["total_eV"][0], abs=1e-4)
    assert abs(kept["total_eV"][-1] - anchored) > 0.5 * abs(log["model_update_eV"][-1])
    assert not np.allclose(kept["kinetic_eV"], log["kinetic_eV"])


def test_an_anchor_the_kinetic_energy_cannot_pay_is_kept_conserved_and_paid_at_a_later_step(student, teacher, tmp_path,
                                                                                             monkeypatch):
    """The first update's anchor is put 0.1 meV below the held state's potential energy on the new model, where no
    kinetic energy can pay for it: the update keeps the total (conserve), and the first later step whose
    potential energy lies below the anchor moves the total onto it."""
    original, targets = Learner._start_energies, []

    def lowered(self, systems):
        if self.committee.version != 1:
            return original(self, systems)
        targets.append(float(self.stepper.snapshot(0).get_potential_energy()) - 1e-4)
        return {0: targets[-1] - self.start_kinetic[0]}

    monkeypatch.setattr(Learner, "_start_energies", lowered)
    result, _ = learn_md(student, teacher, tmp_path / "run", md={"interval": 1, "steps": 48},
                         learn={"calibration_interval": 16})  # held at step 16, on the way down the surface
    log = result.runs[0].log
    update = int(np.flatnonzero(log["labelled"][1:])[0]) + 1  # the first update
    paid = int(np.flatnonzero(np.diff(log["model_update_eV"]))[0]) + 1  # the first move of the total
    assert len(targets) == 1 and log["model_update_eV"][update] == 0  # the update conserved the total
    assert update < paid < int(np.flatnonzero(log["labelled"][update + 1:])[0]) + update + 1  # before the next update
    assert log["labelled"][paid] == 0 and log["kinetic_eV"][paid] > 0
    assert log["total_eV"][paid] == pytest.approx(targets[0], abs=1e-5)
    conserved = log["total_eV"] - log["model_update_eV"]
    assert np.ptp(conserved[:paid + 1]) < 0.01 * abs(log["model_update_eV"][paid])


def test_the_auto_threshold_follows_the_recent_labels():
    """Early large errors leave the threshold once `window` newer labels came: the committee as it is now decides."""
    threshold = Threshold.from_settings("auto", target_error=0.04, calibration=3, window=5)
    for _ in range(5):
        threshold.add(0.02, 0.24)  # the untrained committee: errors 12 x its spread
    assert threshold.value == pytest.approx(0.04 / 12)
    for _ in range(4):
        threshold.add(0.02, 0.03)
    assert threshold.value == pytest.approx(0.04 / ((0.24 + 4 * 0.03) / 5 / 0.02))  # one early pair still counts
    threshold.add(0.02, 0.03)
    assert threshold.value == pytest.approx(0.04 / 1.5)  # 0.027 eV/Å; fitted on all 10 pairs: 0.0059
    assert "over the last 5 of 10 labels" in threshold.describe()
    assert Threshold.from_state(threshold.state()) == threshold


def test_the_logged_auto_threshold_is_fitted_on_the_last_window_labels(student, teacher, tmp_path):
    window, target = 1, LEARN["target_error"]
    result, _ = learn_md(student, teacher, tmp_path / "run", learn={"calibration_window": window})
    rows = np.genfromtxt(result.out_dir / "learning.csv", delimiter=",", names=True, dtype=None, encoding=None)
    u, e, logged = rows["uncertainty_eV_per_A"][1:], rows["force_mae_eV_per_A"][1:], rows["threshold_eV_per_A"][1:]
    assert len(u) >= window + 2 and np.isnan(logged[:LEARN["calibration"] - 1]).all()
    for k in range(LEARN["calibration"] - 1, len(u)):
        uu, ee = u[max(0, k + 1 - window):k + 1], e[max(0, k + 1 - window):k + 1]
        assert logged[k] == pytest.approx(target * np.dot(uu, uu) / np.dot(uu, ee), rel=1e-6)
    everything = target * np.dot(u, u) / np.dot(u, e)
    assert logged[-1] != pytest.approx(everything, rel=1e-3)  # not the fit on every pair
    assert result.summary["threshold"]["window"] == window


@pytest.mark.parametrize("uninterrupted", ["learned", "batched"])
def test_a_killed_run_resumes_to_the_same_labels_and_trajectory(uninterrupted, student, teacher, tmp_path, monkeypatch,
                                                                 request):
    done, calls = request.getfixturevalue(uninterrupted)
    options = BATCHED if uninterrupted == "batched" else {}
    steps = read_energy_log(done.runs[0].out_dir / "energies.csv")["step"]
    labels = [int(f.info["step"]) for f in _read_frames(done.out_dir / "learning" / "reference.traj")]
    kill_step = next(s for s in steps if s > labels[2])  # the commit after the third label: killed before it
    committed = sum(step <= max(s for s in steps if s < kill_step) for step in labels)  # in the last commit
    made = sum(step <= kill_step for step in labels)  # labelled before the kill
    commit = Learner.commit

    def killed(self):
        if self.step == kill_step:
            raise KeyboardInterrupt
        commit(self)

    monkeypatch.setattr(Learner, "commit", killed)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        learn_md(student, teacher, out, **options)
    state = json.loads((out / "learning" / "state.json").read_text())
    assert state["labelled"] == committed < made == len(_read_frames(out / "learning" / "reference.traj"))
    monkeypatch.setattr(Learner, "commit", commit)
    resumed, reference = learn_md(student, teacher, out, resume=True, **options)
    assert reference.calls == calls - made  # the labels made after the last commit were found again, not recomputed
    assert (out / "labelled.extxyz").read_bytes() == (done.out_dir / "labelled.extxyz").read_bytes()
    for run, twin in zip(resumed.runs, done.runs):
        assert (run.out_dir / "energies.csv").read_bytes() == (twin.out_dir / "energies.csv").read_bytes()
        with Trajectory(run.trajectory) as a, Trajectory(twin.trajectory) as b:
            assert len(a) == len(b)
            for x, y in zip(a, b):
                np.testing.assert_array_equal(x.positions, y.positions)
                np.testing.assert_array_equal(x.get_momenta(), y.get_momenta())
    assert resumed.summary["reference_calls"] == calls


@pytest.mark.parametrize("target_error, steps", [(1e-9, [0, 8, 16, 24, 32]), (10.0, [0, 8, 24])])
def test_a_confident_committee_is_audited_and_checked_less_often_while_right(target_error, steps, student, teacher,
                                                                             tmp_path):
    """A threshold no step reaches: only audits label, every 8 steps while they find the error above target_error,
    at doubling intervals (8, then 16) while they find it below."""
    result, reference = learn_md(student, teacher, tmp_path / "run",
                                 learn={"threshold": 10.0, "audit": 8, "target_error": target_error})
    s = result.summary
    assert s["call_steps"] == steps and reference.calls == len(steps)
    assert s["audits"] == len(steps) - 1 and s["audit_steps"] == steps[1:]
    labelled = read(tmp_path / "run" / "labelled.extxyz", ":")
    assert [f.info["reason"] for f in labelled] == ["start"] + ["audit"] * (len(steps) - 1)
    assert s["audit_force_mae_eV_per_A"] == pytest.approx(np.mean([f.info["force_mae"] for f in labelled[1:]]))


@pytest.mark.parametrize("gap_growth, steps", [(2.0, [0, 4, 12, 28]), (1.0, [0, 4, 8, 12, 16, 20, 24, 28, 32, 36])])
def test_false_alarms_space_out_the_next_threshold_labels(gap_growth, steps, student, teacher, tmp_path):
    """Every step above the threshold, every label at or below target_error: the gap after a label doubles (4, 8,
    16 steps); with gap_growth 1 it stays min_gap."""
    result, reference = learn_md(student, teacher, tmp_path / "run",
                                 learn={"threshold": 1e-9, "target_error": 10.0, "gap_growth": gap_growth, "audit": 0})
    assert result.summary["call_steps"] == steps and reference.calls == len(steps)


def test_a_label_above_target_error_brings_the_gap_back(student, teacher, tmp_path):
    """target_error between the errors: each label above it resets the gap to min_gap, each below doubles it."""
    probe, _ = learn_md(student, teacher, tmp_path / "probe", learn={"threshold": 1e-9, "gap_growth": 1.0, "audit": 0})
    errors = [f.info["force_mae"] for f in read(tmp_path / "probe" / "labelled.extxyz", ":")][1:]
    assert max(errors) > 2 * min(errors)
    target = float(np.median(errors))
    result, _ = learn_md(student, teacher, tmp_path / "run",
                         learn={"threshold": 1e-9, "target_error": target, "audit": 0})
    labelled = read(tmp_path / "run" / "labelled.extxyz", ":")
    gaps = np.diff([f.info["step"] for f in labelled][1:])
    expected, gap = [], LEARN["min_gap"]
    for frame in labelled[1:-1]:
        gap = 2 * gap if frame.info["force_mae"] <= target else LEARN["min_gap"]
        expected.append(gap)
    assert list(gaps) == expected and LEARN["min_gap"] in expected and max(expected) > LEARN["min_gap"]


def test_a_changed_learning_setting_is_refused_on_resume_and_an_older_run_resumes_as_it_ran(student, teacher,
                                                                                            tmp_path, monkeypatch):
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):  # killed at its second reference call (step 10)
        learn_md(student, teacher, out, learn={"gap_growth": 1.0}, reference=Teacher(teacher, kill_at=2))
    with pytest.raises(ValueError, match=r"settings changed \(members: 2 in the run, 3 now\)"):
        learn_md(student, teacher, out, resume=True, learn={"gap_growth": 1.0, "members": 3})
    state_file = out / "learning" / "state.json"
    state = json.loads(state_file.read_text())
    # a run written before gap_growth and max_update_steps existed: a fixed gap, update_steps (5) a fit
    del state["learn"]["gap_growth"], state["learn"]["max_update_steps"]
    state_file.write_text(json.dumps(state))
    with pytest.raises(ValueError, match=r"max_update_steps: 5 in the run, None now, gap_growth: 1.0 in the run, "
                                         r"2.0 now"):
        learn_md(student, teacher, out, resume=True)
    resumed, _ = learn_md(student, teacher, out, resume=True, learn={"gap_growth": 1.0, "max_update_steps": 5})
    assert resumed.runs[0].status == "completed" and resumed.runs[0].steps_done == MD["steps"]


def test_audits_end_with_the_budget(student, teacher, tmp_path):
    result, reference = learn_md(student, teacher, tmp_path / "run",
                                 learn={"threshold": 10.0, "audit": 4, "target_error": 1e-9, "max_calls": 3})
    s = result.summary
    assert s["call_steps"] == [0, 4, 8] and s["budget_spent_at_step"] is None and result.runs[0].status == "completed"


@pytest.mark.parametrize("on_budget", ["continue", "stop"])
def test_the_budget_stops_labelling_and_the_summary_says_so(on_budget, student, teacher, tmp_path):
    result, reference = learn_md(student, teacher, tmp_path / "run", md={"steps": 24},
                                 learn={"threshold": 1e-6, "max_calls": 3, "min_gap": 2, "gap_growth": 1.0,
                                        "on_budget": on_budget})
    s = json.loads((tmp_path / "run" / "learning.json").read_text())
    assert reference.calls == s["reference_calls"] == 3 and s["budget_spent"]
    assert s["budget_spent_at_step"] == 6 and s["on_budget"] == on_budget  # labels at 0, 2, 4; step 6 is refused
    run = result.runs[0]
    if on_budget == "continue":
        assert run.status == "completed" and run.steps_done == 24 and s["unlabelled_steps_above_threshold"] == 20
    else:
        assert run.status == "stopped" and "budget of 3 reference calls is spent and step 6" in run.message
        assert run.steps_done == 6 and s["runs"][0]["status"] == "stopped"
    assert result.model.exists() and read_manifest(result.model)["on_the_fly"]["frames"]["count"] == 3


def test_replicas_share_the_labels_and_the_committee_on_torchsim(batched):
    result, calls = batched
    s = result.summary
    assert [r.status for r in result.runs] == ["completed", "completed"]
    assert {0, 1} <= set(s["call_systems"]) and calls == s["reference_calls"]
    for k, run in enumerate(result.runs):
        assert run.out_dir == result.out_dir / f"replica-{k:03d}"
        assert run.log["labelled"].sum() == s["call_systems"].count(k)
        conserved = run.log["total_eV"] - run.log["model_update_eV"]
        assert np.ptp(conserved) < 0.05 * np.ptp(run.log["potential_eV"])  # every replica's energy kept
    first, second = (run.log["model_update_eV"] for run in result.runs)
    assert np.count_nonzero(np.diff(first)) >= 2
    np.testing.assert_allclose(first, second, atol=0.05 * np.abs(first).max())  # anchored to the one start geometry
    start = start_energy(result.model, read(result.labelled, 0))
    kinetic = [run.log["kinetic_eV"][0] for run in result.runs]
    for run, k0 in zip(result.runs, kinetic):  # each replica on its own start state's energy
        assert run.log["total_eV"][-1] == pytest.approx(start + k0, abs=0.05 * np.abs(first).max())


def test_replicas_from_their_own_starts_keep_their_own_start_states_energy(student, teacher, tmp_path):
    """One start per replica: replica k begins at its own geometry and, after every update, its total energy is
    its own start state's on the current model (not the first replica's)."""
    pytest.importorskip("torch_sim")
    first, second = molecule("CH3OH"), molecule("CH3OH")
    second.rattle(0.15, seed=3)
    result, _ = learn_md(student, teacher, tmp_path / "run", atoms=[first, second], **BATCHED)
    assert result.summary["reference_calls"] >= 2  # the start frame and at least one update
    energies = [start_energy(result.model, start) for start in (first, second)]
    apart = abs(energies[1] - energies[0])
    assert apart > 1e-3  # the two anchors differ: the test tells them apart
    for run, start, energy in zip(result.runs, (first, second), energies):
        np.testing.assert_allclose(read(run.trajectory, 0).positions, start.positions, atol=1e-6)
        assert run.log["total_eV"][-1] == pytest.approx(energy + run.log["kinetic_eV"][0], abs=0.1 * apart)
    with pytest.raises(ValueError, match="one start structure or one per replica: got 2 for 3"):
        learn_md(student, teacher, tmp_path / "bad", atoms=[first, second], md=BATCHED["md"], replicas=3)


def test_a_member_above_target_error_on_its_labels_fits_in_more_rounds_up_to_max_update_steps(learned, teacher):
    """max_update_steps: a member still above the error aimed at on the labelled frames takes update_steps more,
    up to the maximum, and fits them better; one already below takes update_steps; the first round is the
    plain fit's, draw for draw."""
    frames = read(learned[0].labelled, ":")
    optim = {"energy_weight": 0.1, "force_weight": 0.9, "weight_decay": 0.0, "gradient_clip": None}

    def fitted(**options):
        committee = Committee([perturbed(teacher, 0.3, seed=7, member=j) for j in range(2)], optim)
        committee.fit(frames, 5, 5e-3, 16, 0, **options)
        return committee, [committee.force_mae(m, frames) for m in committee.members]

    plain, plain_mae = fitted()
    longer, longer_mae = fitted(max_steps=22, fit_error=1e-9)  # never reached: 4 rounds of 5 (a fifth passes 22)
    enough, _ = fitted(max_steps=22, fit_error=10.0)
    assert plain.last_steps == enough.last_steps == [5, 5] and longer.last_steps == [20, 20]
    assert all(b < a for a, b in zip(plain_mae, longer_mae))
    for a, b in zip(plain.members, enough.members):
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_cli_md_learn(student, tmp_path):
    from mlcalc.cli import main

    out = tmp_path / "run"
    args = ["md", str(student), "ethanol", "--steps", "6", "--interval", "3", "--bond-stretch", "none", "--out", str(out),
            "--no-progress", "--learn", "emt", "--max-calls", "1", "--members", "2", "--spread", "0.01"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "1 emt calls" in result.output and "learned.mlc" in result.output
    assert json.loads((out / "learning.json").read_text())["budget_spent"]
    stored = json.loads((out / "learning" / "state.json").read_text())["learn"]
    assert stored["spread"] == 0.01
    tuned = CliRunner().invoke(main, args + ["--target-error", "0.05", "--min-gap", "40", "--overwrite"])
    assert tuned.exit_code == 0, tuned.output
    stored = json.loads((out / "learning" / "state.json").read_text())["learn"]
    assert (stored["target_error"], stored["min_gap"]) == (0.05, 40)
    bad = CliRunner().invoke(main, args + ["--min-gap", "0", "--overwrite"])
    assert bad.exit_code == 2 and "min_gap must be" in bad.output, bad.output
    bad = CliRunner().invoke(main, args[:-8] + ["--threshold", "x"])
    assert bad.exit_code == 2 and "--threshold needs --learn" in bad.output
    bad = CliRunner().invoke(main, args + ["--threshold", "-1", "--overwrite"])
    assert bad.exit_code == 2 and "threshold must be auto or a number > 0 (eV/Å), got '-1'" in bad.output
    bad = CliRunner().invoke(main, args[:-2] + ["--spread", "2", "--overwrite"])
    assert bad.exit_code == 2 and "spread must be a number > 0 and ≤ 1, got 2" in bad.output, bad.output
    bad = CliRunner().invoke(main, args + ["--update-energy", "heat", "--overwrite"])
    assert bad.exit_code == 2 and "update_energy must be one of anchor, conserve, jump, got 'heat'" in bad.output
    bad = CliRunner().invoke(main, ["md", "gfn2-xtb"] + args[2:] + ["--overwrite"])
    assert bad.exit_code == 2 and "gfn2-xtb is a reference method" in bad.output


def test_an_ensemble_file_brings_its_own_members(teacher, tmp_path):
    from mlcalc.model import create_model

    members = [perturbed(teacher, 0.3, seed=7, member=j) for j in range(3)]
    path = save_model(tmp_path / "ensemble.mlc", create_model("ensemble", members=members))
    result, reference = learn_md(path, teacher, tmp_path / "run", md={"steps": 6}, learn={"threshold": 1.0})
    s = result.summary
    assert s["members"] == 3 and reference.calls == 1  # the start frame only
    assert s["threshold"]["pairs"] == 1  # an ensemble's own spread at the start frame counts as a calibration pair
    start = read(result.labelled, 0)
    assert start.info["uncertainty"] > 0 and start.info["reason"] == "start"
    assert read_manifest(result.model)["on_the_fly"]["parent"]["kind"] == "ensemble"
