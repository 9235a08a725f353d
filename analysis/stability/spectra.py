"""Vibrational spectra of MD runs: the mass-weighted velocity autocorrelation (VACF), its windowed cosine
transform in cm⁻¹, and one number comparing two spectra.

Neither ASE nor MDAnalysis (core) computes a VACF, so it is numpy's FFT (Wiener-Khinchin, zero-padded:
no wrap-around) and scipy's windows. The spectrum reaches 1/(2·dt) = 16678 cm⁻¹ / dt_fs: X-H
stretches (~3000 cm⁻¹) need frames saved every ≤ 5 fs. Two spectra are compared by the
1-Wasserstein distance (cm⁻¹) of their normalised intensities: how far, on average, spectral weight
must move to turn one into the other (0 for identical; a rigid shift by Δ gives Δ). The overlap
∫ min(p_a, p_b) dν̃ (1 identical, 0 disjoint) comes with it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft
from scipy.signal import get_window
from scipy.stats import wasserstein_distance

from .run_arrays import read_run

__all__ = ["CM1_FS", "velocity_autocorrelation", "vibrational_spectrum", "spectrum_distance", "run_spectrum"]

#: 1 / (c · 1 fs) in cm⁻¹: the wavenumber of a frequency of 1/fs
CM1_FS = 1e15 / 2.99792458e10


def velocity_autocorrelation(velocities: np.ndarray, masses: np.ndarray, max_lag: int | None = None) -> np.ndarray:
    """C(τ) [max_lag] = Σ_i m_i <v_i(t)·v_i(t+τ)>_t / Σ_i m_i <v_i·v_i>_t, so C(0) = 1.

    ``velocities`` [T, N, 3] (any unit), evenly spaced frames; ``masses`` [N]; lags 0 .. max_lag−1
    in frames (default T // 2). Each lag averages over the T − τ frame pairs it has.
    """
    v = np.asarray(velocities, dtype=np.float64)
    masses = np.asarray(masses, dtype=np.float64)
    if v.ndim != 3 or v.shape[2] != 3 or v.shape[1] != len(masses) or len(v) < 2:
        raise ValueError(f"velocities must have shape [T >= 2, N={len(masses)}, 3], not {list(v.shape)}")
    n_frames = len(v)
    max_lag = n_frames // 2 if max_lag is None else int(max_lag)
    if not 1 <= max_lag <= n_frames:
        raise ValueError(f"max_lag must be between 1 and the number of frames {n_frames}, got {max_lag}")
    n = next_fast_len(2 * n_frames)
    spectrum = np.abs(rfft(v, n=n, axis=0)) ** 2
    per_atom = irfft(spectrum, n=n, axis=0)[:max_lag]  # [lag, N, 3]
    acf = np.einsum("lnc,n->l", per_atom, masses) / (n_frames - np.arange(max_lag))
    if not acf[0] > 0:
        raise ValueError("the velocities are all zero (no motion to correlate)")
    return acf / acf[0]


def vibrational_spectrum(vacf: np.ndarray, dt_fs: float, n_pad: int | None = None,
                         window: str | None = "hann") -> tuple[np.ndarray, np.ndarray]:
    """The spectrum of a VACF [L] sampled every ``dt_fs`` fs: wavenumbers [n_pad // 2 + 1] cm⁻¹ and intensity.

    The VACF is tapered by the falling half of the scipy ``window`` (None: none), zero-padded to
    ``n_pad`` lags (default the fast length ≥ 4·L), and cosine-transformed as an even function.
    The intensity is normalised to unit area over wavenumber (1/cm⁻¹); it can dip slightly below 0.
    """
    c = np.asarray(vacf, dtype=np.float64).ravel()
    if len(c) < 2 or dt_fs <= 0:
        raise ValueError(f"need a VACF of at least 2 lags and dt_fs > 0, got {len(c)} lags and dt_fs={dt_fs}")
    n_pad = next_fast_len(4 * len(c)) if n_pad is None else int(n_pad)
    if n_pad < len(c):
        raise ValueError(f"n_pad ({n_pad}) must be at least the VACF's length {len(c)}")
    if window is not None:
        c = c * get_window(window, 2 * len(c) + 1, fftbins=False)[len(c):2 * len(c)]
    intensity = 2 * rfft(c, n=n_pad).real - c[0]
    wavenumber = np.arange(len(intensity)) * CM1_FS / (n_pad * dt_fs)
    return wavenumber, intensity / (intensity.sum() * wavenumber[1])


def spectrum_distance(wavenumber_cm1: np.ndarray, intensity_a: np.ndarray, intensity_b: np.ndarray) -> dict:
    """``w1_cm1`` (1-Wasserstein distance, cm⁻¹) and ``overlap`` (0..1) of two spectra on one wavenumber grid.

    Negative intensities (window ripple) are set to 0 and each spectrum renormalised first.
    """
    w = np.asarray(wavenumber_cm1, dtype=np.float64)
    a, b = (np.clip(np.asarray(x, dtype=np.float64), 0, None) for x in (intensity_a, intensity_b))
    if not a.shape == b.shape == w.shape:
        raise ValueError(f"spectra must share one wavenumber grid: shapes {w.shape}, {a.shape}, {b.shape} "
                         "(use the same dt_fs and n_pad)")
    if not (a.sum() > 0 and b.sum() > 0):
        raise ValueError("a spectrum has no positive intensity")
    pa, pb = a / a.sum(), b / b.sum()
    return {"w1_cm1": float(wasserstein_distance(w, w, pa, pb)), "overlap": float(np.minimum(pa, pb).sum())}


def run_spectrum(run_dirs: str | os.PathLike | Sequence[str | os.PathLike], max_lag: int | None = None,
                 n_pad: int | None = None, window: str | None = "hann") -> tuple[np.ndarray, np.ndarray]:
    """The vibrational spectrum of one run folder, or of several (replicas: their VACFs averaged, weighted by frames).

    Frames are the trajectory's evenly spaced ones; ``max_lag`` defaults to half the shortest run.
    """
    if isinstance(run_dirs, (str, os.PathLike)):
        run_dirs = [run_dirs]
    runs = [read_run(path).uniform() for path in run_dirs]
    steps = {round(float(run.times_ps[1] - run.times_ps[0]) * 1000, 9) for run in runs if len(run.times_ps) > 1}
    if len(steps) != 1:
        raise ValueError(f"runs need at least 2 frames and one frame spacing to share a spectrum, got {sorted(steps)} fs")
    lag = min(len(run.times_ps) for run in runs) // 2 if max_lag is None else max_lag
    weights = np.array([len(run.times_ps) for run in runs], dtype=np.float64)
    vacfs = np.stack([velocity_autocorrelation(run.velocities, run.masses, lag) for run in runs])
    return vibrational_spectrum(weights @ vacfs / weights.sum(), steps.pop(), n_pad, window)
