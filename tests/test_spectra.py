"""Vibrational spectra from the VACF: synthetic harmonic oscillations peak where they should."""

import numpy as np
import pytest

from mlcalc.analysis.stability.spectra import CM1_FS, spectrum_distance, velocity_autocorrelation, vibrational_spectrum


def diatomic_velocities(wavenumbers, n_frames=4000, dt_fs=1.0, seed=0):
    """Velocities [T, 2, 3] of a diatomic (masses 1, 16) vibrating along x at ``wavenumbers`` cm⁻¹, momentum zero."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) * dt_fs
    x = sum(np.cos(2 * np.pi * w / CM1_FS * t + rng.uniform(0, 2 * np.pi)) for w in wavenumbers)
    velocities = np.zeros((n_frames, 2, 3))
    velocities[:, 0, 0], velocities[:, 1, 0] = 16 * x, -x
    return velocities, np.array([1.0, 16.0])


def test_vacf_starts_at_one_and_oscillates_at_the_period():
    velocities, masses = diatomic_velocities([1000.0])
    vacf = velocity_autocorrelation(velocities, masses, max_lag=100)
    period_fs = CM1_FS / 1000.0  # 33.4 fs
    assert vacf[0] == pytest.approx(1.0) and len(vacf) == 100
    assert vacf[round(period_fs / 2)] < -0.95 and vacf[round(period_fs)] > 0.95


@pytest.mark.parametrize("wavenumber", [850.0, 1650.0, 3050.0])
def test_spectrum_of_a_harmonic_oscillation_peaks_at_its_wavenumber(wavenumber):
    velocities, masses = diatomic_velocities([wavenumber])
    w, intensity = vibrational_spectrum(velocity_autocorrelation(velocities, masses, max_lag=1000), dt_fs=1.0)
    bin_width = w[1]
    assert abs(w[np.argmax(intensity)] - wavenumber) <= bin_width
    assert np.sum(intensity) * bin_width == pytest.approx(1.0)


def test_two_modes_give_two_peaks():
    velocities, masses = diatomic_velocities([1000.0, 2900.0])
    w, intensity = vibrational_spectrum(velocity_autocorrelation(velocities, masses, max_lag=1000), dt_fs=1.0)
    low, high = w < 2000, w >= 2000
    assert abs(w[low][np.argmax(intensity[low])] - 1000) <= w[1]
    assert abs(w[high][np.argmax(intensity[high])] - 2900) <= w[1]


def test_spectrum_distance_measures_the_shift():
    spectra = {}
    for wavenumber in (1000.0, 1100.0):
        velocities, masses = diatomic_velocities([wavenumber])
        w, spectra[wavenumber] = vibrational_spectrum(velocity_autocorrelation(velocities, masses, 1000), dt_fs=1.0)
    same = spectrum_distance(w, spectra[1000.0], spectra[1000.0])
    shifted = spectrum_distance(w, spectra[1000.0], spectra[1100.0])
    assert same == {"w1_cm1": pytest.approx(0.0, abs=1e-9), "overlap": pytest.approx(1.0)}
    assert shifted["w1_cm1"] == pytest.approx(100.0, rel=0.1) and shifted["overlap"] < 0.2
    with pytest.raises(ValueError, match="grid"):
        spectrum_distance(w, spectra[1000.0], spectra[1000.0][:-1])


def test_motionless_velocities_are_refused():
    with pytest.raises(ValueError, match="zero"):
        velocity_autocorrelation(np.zeros((10, 2, 3)), np.ones(2))
