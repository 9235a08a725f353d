"""The NVE criterion and the run-folder metrics on real short MD runs of ethanol with the shipped ethanol-bpnn."""

import numpy as np
import pytest
import torch

from mlcalc import MLCalc
from mlcalc.analysis.stability.spectra import run_spectrum
from mlcalc.analysis.stability.bonds import run_stability
from mlcalc.analysis.stability.structure import h_mae, run_distance_histogram
from mlcalc.data.molecules import load_molecule
from mlcalc.md import MDSettings, energy_conservation, run_md


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two 0.25 ps NVE replicas at 0.5 fs (seeds 0, 1) and one at 4 fs, which blows up within a few steps."""
    folder = tmp_path_factory.mktemp("stability_runs")
    out = {}
    for name, timestep, steps, seed in [("a", 0.5, 500, 0), ("b", 0.5, 500, 1), ("too_long", 4.0, 100, 0)]:
        ethanol = load_molecule("ethanol")
        ethanol.calc = MLCalc.load("ethanol-bpnn", dtype=torch.float64)
        settings = MDSettings(steps=steps, timestep=timestep, temperature=300, seed=seed, interval=1)
        out[name] = run_md(ethanol, settings, folder / name)
    return out


def test_a_real_nve_run_is_judged_conserved(runs):
    result = runs["a"]
    verdict = energy_conservation(result.log)
    assert verdict["conserved"] and verdict["ratio"] < 0.05 and verdict["span_ratio"] < 0.2
    simulated_ps = 500 * 0.5 / 1000  # MD time of the run: steps × timestep (fs -> ps), not wall time
    assert verdict["kinetic_std_eV"] > 0.01 and verdict["duration_ps"] == pytest.approx(simulated_ps)
    assert verdict["drift_eV_per_ps"] == pytest.approx(result.drift * result.n_atoms / 1000)  # meV/atom/ps
    assert energy_conservation(result.out_dir / "energies.csv") == verdict == result.energy_conservation()


def test_too_large_a_timestep_and_an_energy_ramp_are_judged_not_conserved(runs):
    assert runs["too_long"].status == "blew_up" and not energy_conservation(runs["too_long"].log)["conserved"]
    log = dict(runs["a"].log)
    kinetic_std = np.std(log["kinetic_eV"])
    log["total_eV"] = log["total_eV"] + 0.5 * kinetic_std * log["time_ps"] / log["time_ps"][-1]
    verdict = energy_conservation(log)
    assert not verdict["conserved"] and verdict["ratio"] == pytest.approx(0.5, abs=0.01)
    assert verdict["change_over_run_eV"] == pytest.approx(0.5 * kinetic_std, rel=0.02)


def test_run_folder_metrics(runs):
    a, b, bad = (runs[name].out_dir for name in ("a", "b", "too_long"))
    stable = run_stability(a, [a, b])
    assert not stable["broke"] and stable["stable_ps"] == pytest.approx(0.25) and stable["n_bonds"] == 8
    broken = run_stability(bad, [a, b])
    assert broken["broke"] and broken["stable_ps"] < 0.05 and len(broken["bond"]) == 2
    centres, h_a = run_distance_histogram(a)
    dr = centres[1] - centres[0]
    assert h_mae(h_a, run_distance_histogram([b])[1], dr) < h_mae(h_a, run_distance_histogram(bad)[1], dr)
    w, intensity = run_spectrum([a, b])
    stretches = intensity[w > 2600].sum() / intensity.sum()  # X-H stretches: 6 of ethanol's 21 modes
    beyond = intensity[w > 4500].sum() / intensity.sum()  # no molecular vibration is this fast
    assert 0.15 < stretches < 0.5 and abs(beyond) < 0.02, (stretches, beyond)
