"""Stability metrics of MD runs (Fu et al. 2023): pure functions on arrays, with run-folder conveniences.

``run_arrays`` (a run folder's frames as arrays), ``bonds`` (bonded pairs and the time until a bond leaves its
reference mean), ``structure`` (h(r) and its MAE), ``spectra`` (VACF spectrum, W1 of two spectra), ``replicas``
(replica error bars, pooling, noise).
"""
