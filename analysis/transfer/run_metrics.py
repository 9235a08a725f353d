"""The stability and structure metrics of a transfer study's runs, against the molecule's reference runs.

Per run: the Fu et al. (2023) stability time (first frame where a bond of the molecule as
given leaves the reference's mean length by more than 0.5 Å), the MAE of h(r) (all
interatomic distances, 500 bins over 0-10 Å) against the reference runs pooled, the W1
distance of the vibrational spectrum (from the velocity autocorrelation) from the
reference's, and the NVE verdict (:func:`.results.nve_verdict`: the criterion of
:func:`mlcalc.md.energy_conservation` on a run that completed; a run that blew up or stopped
early has not passed, whatever its energy log until then says). Each reference
run is scored against the other reference replicas (leave one out): that is the noise
floor a model run is compared with. :func:`summarise_runs` turns the per-run values of
one molecule's replicas into means with error bars (:func:`.replicas.replica_stats`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from ase import Atoms

from mlcalc.analysis.stability.bonds import bond_lengths, bond_pairs, stability_time
from mlcalc.analysis.stability.replicas import exceeds_noise, replica_stats
from mlcalc.analysis.stability.run_arrays import RunArrays, read_run
from mlcalc.analysis.stability.spectra import spectrum_distance, velocity_autocorrelation, vibrational_spectrum
from mlcalc.analysis.stability.structure import distance_histogram, h_mae
from mlcalc.md import energy_conservation, read_energy_log
from mlcalc.md.files import CHECKPOINT, LOG

from .results import nve_verdict

__all__ = ["RunFeatures", "run_features", "reference_statistics", "run_metrics", "summarise_runs", "METRICS",
           "H_BINS", "H_RMAX", "SPECTRUM_LAG", "SPECTRUM_PAD"]

H_BINS, H_RMAX = 500, 10.0  # h(r): bins over 0..H_RMAX Å
SPECTRUM_LAG = 1000  # frames of velocity autocorrelation (1 ps at a frame per fs)
SPECTRUM_PAD = 8192  # FFT length: every run's spectrum on one wavenumber grid
#: the per-run metrics summarised over replicas
METRICS = ("stable_ps", "h_mae", "spectrum_w1_cm1")
#: the direction in which each metric is worse: a model beyond the reference's noise only that way
WORSE = {"stable_ps": "lower", "h_mae": "higher", "spectrum_w1_cm1": "higher"}


@dataclass
class RunFeatures:
    """What one run contributes: frames, mean bond lengths [n_bonds] Å, h(r) [H_BINS] 1/Å, VACF, frame spacing,
    and how the run (or the part read) ended: "completed", "blew_up" or "running" (stopped early)."""

    path: Path
    arrays: RunArrays
    bond_means: np.ndarray
    h: np.ndarray
    vacf: np.ndarray | None
    dt_fs: float | None
    n_frames: int
    status: str = "completed"


def run_features(path: str | Path, pairs: np.ndarray, max_frames: int | None = None) -> RunFeatures:
    """Read the run folder ``path`` (its first ``max_frames`` frames) and compute its features."""
    arrays = read_run(path)
    if max_frames is not None:
        arrays = RunArrays(arrays.times_ps[:max_frames], arrays.positions[:max_frames],
                           arrays.velocities[:max_frames], arrays.masses, arrays.first)
    _, h = distance_histogram(arrays.positions, H_BINS, H_RMAX)
    even = arrays.uniform()
    vacf, dt = None, None
    if len(even.times_ps) >= 8:
        dt = float(even.times_ps[1] - even.times_ps[0]) * 1000
        vacf = velocity_autocorrelation(even.velocities, even.masses, min(SPECTRUM_LAG, len(even.times_ps) // 2))
    n_frames = len(arrays.times_ps)
    status = "completed" if max_frames is not None and n_frames == max_frames else _saved_status(Path(path))
    return RunFeatures(Path(path), arrays, bond_lengths(arrays.positions, pairs).mean(axis=0), h, vacf, dt,
                       n_frames, status)


def _saved_status(path: Path) -> str:
    """How the run in ``path`` ended, from its checkpoint ("running" without one: it stopped early)."""
    try:
        return json.loads((path / CHECKPOINT).read_text())["status"]
    except (OSError, ValueError, KeyError):
        return "running"


def reference_statistics(topology: Atoms, references: Sequence[RunFeatures]) -> dict[str, Any]:
    """The pooled reference (frame-weighted): bonds of ``topology``, their mean lengths, h(r) and spectrum."""
    if not references:
        raise ValueError("no reference runs to compare with")
    weights = np.array([r.n_frames for r in references], dtype=np.float64)
    pooled = {"topology": topology, "pairs": bond_pairs(topology), "n_runs": len(references),
              "bond_means": weights @ np.stack([r.bond_means for r in references]) / weights.sum(),
              "h": weights @ np.stack([r.h for r in references]) / weights.sum(), "spectrum": None}
    spectra = [r for r in references if r.vacf is not None]
    if spectra:
        lag = min(len(r.vacf) for r in spectra)
        w = np.array([r.n_frames for r in spectra], dtype=np.float64)
        vacf = w @ np.stack([r.vacf[:lag] for r in spectra]) / w.sum()
        pooled["spectrum"] = vibrational_spectrum(vacf, spectra[0].dt_fs, SPECTRUM_PAD)
    return pooled


def run_metrics(run: RunFeatures, reference: dict[str, Any]) -> dict[str, Any]:
    """One run against the pooled ``reference``: stability, h(r) MAE, spectrum distance and energy conservation."""
    arrays = run.arrays
    stability = stability_time(arrays.times_ps, bond_lengths(arrays.positions, reference["pairs"]),
                               reference["bond_means"], pairs=reference["pairs"])
    out: dict[str, Any] = {"run": run.path.name, "frames": run.n_frames,
                           "duration_ps": float(arrays.times_ps[-1] - arrays.times_ps[0]),
                           "stable_ps": stability["stable_ps"], "broke": stability["broke"],
                           "broken_bond": stability["bond"],
                           "h_mae": h_mae(run.h, reference["h"], H_RMAX / H_BINS),
                           "spectrum_w1_cm1": None, "spectrum_overlap": None}
    if run.vacf is not None and reference["spectrum"] is not None:
        wavenumber, ref_intensity = reference["spectrum"]
        _, intensity = vibrational_spectrum(run.vacf, run.dt_fs, SPECTRUM_PAD)
        distance = spectrum_distance(wavenumber, np.clip(intensity, 0, None), np.clip(ref_intensity, 0, None))
        out["spectrum_w1_cm1"], out["spectrum_overlap"] = distance["w1_cm1"], distance["overlap"]
    log = read_energy_log(run.path / LOG)
    n = min(run.n_frames, len(log["time_ps"]))
    if n >= 2:
        conservation = energy_conservation({k: np.asarray(v)[:n] for k, v in log.items()})
        out["energy"] = {k: conservation[k] for k in ("change_over_run_eV", "kinetic_std_eV", "ratio", "conserved")}
    else:
        out["energy"] = {"change_over_run_eV": None, "kinetic_std_eV": None, "ratio": None, "conserved": False}
    out["energy"]["nve"] = nve_verdict(out["energy"]["conserved"], run.status)
    out["energy"]["conserved"] = out["energy"]["nve"] == "passed"
    return out


def leave_one_out(references: Sequence[RunFeatures], topology: Atoms) -> list[dict[str, Any]]:
    """Each reference run scored against the other reference runs (the replica noise floor); [] for one run."""
    if len(references) < 2:
        return []
    return [run_metrics(run, reference_statistics(topology, [r for r in references if r is not run]))
            for run in references]


def summarise_runs(per_run: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Replica statistics of :data:`METRICS` over one molecule's runs, the runs that did not pass the NVE
    criterion (``not_conserved``) and, of those, the runs that blew up or stopped early (``not_finished``)."""
    out: dict[str, Any] = {name: replica_stats([np.nan if r[name] is None else r[name] for r in per_run])
                           for name in METRICS}
    out["broke"] = sum(bool(r["broke"]) for r in per_run)
    out["not_conserved"] = [r["run"] for r in per_run if not r["energy"]["conserved"]]
    out["not_finished"] = [r["run"] for r in per_run if r["energy"]["nve"] in ("blew up", "stopped early")]
    out["runs"] = len(per_run)
    return out


def beyond_noise(model_runs: Sequence[dict[str, Any]], noise_runs: Sequence[dict[str, Any]],
                 metric: str) -> dict[str, Any]:
    """Whether the model's ``metric`` is worse (:data:`WORSE`) than the reference's own leave-one-out values by more
    than noise: less stable, or an h(r) or spectrum further from the reference than its replicas are from each
    other. A model closer to the pooled reference than the replicas are to each other is within the noise."""
    model = [np.nan if r[metric] is None else r[metric] for r in model_runs]
    noise = [np.nan if r[metric] is None else r[metric] for r in noise_runs]
    return exceeds_noise(model, noise, worse=WORSE[metric])
