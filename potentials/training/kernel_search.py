"""Kernel models chosen on validation: fit each (γ, α) of a grid, keep the best, report its test errors.

:func:`qm9_kernel_search` (``mlcalc kernel qm9``): ``krr``/``gp`` on a QM9 split (the GNNs' split: subset
20,000, fractions 0.8/0.1/0.1, split seed 0; the first ``n_train`` of its 16,000 training molecules), chosen
on the validation MAE. :func:`energy_kernel_search` (``mlcalc kernel energy``): ``krr-energy``/``gp-energy``
on a force-field config's data and split (data generated first if missing, as ``mlcalc train`` does), chosen
on the validation force MAE. A GP fits its kernel by marginal likelihood: only α comes from the grid.
Each prints one line per grid point and returns the selected model with its test errors.
"""

from __future__ import annotations

import time
from typing import Callable, Optional, Sequence

import numpy as np

from .kernel_fit import EnergyKernelFit, PropertyKernelFit, fit_kernel_energy_model, fit_kernel_model

__all__ = ["qm9_kernel_search", "energy_kernel_search"]


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def _grid(fit: PropertyKernelFit | EnergyKernelFit, gammas: Sequence[float], alphas: Sequence[float]) -> list:
    """(γ, α) pairs to try; γ is fitted (GP) or unused (linear kernel) where the grid's would mean nothing."""
    gammas = list(gammas) if fit.method == "krr" and fit.kernel != "linear" else [None]
    return [(g, a) for g in gammas for a in alphas]


def qm9_kernel_search(fit: PropertyKernelFit, n_train: int, gammas: Sequence[float], alphas: Sequence[float],
                      encoder_path: Optional[str] = None, echo: Callable[[str], None] = print) -> tuple:
    """(selected model, test MAE in the target's unit) for ``fit.targets[0]`` on QM9 (see the module docstring).

    ``encoder_path``: a descriptor autoencoder file (``mlcalc latent descriptors``); the model fits its latents.
    """
    import torch

    from mlcalc import MLCalc
    from mlcalc.data.qm9 import QM9_EXTENSIVE, QM9_UNITS, load_qm9, qm9_split
    from mlcalc.potentials.autoencoder import load_autoencoder

    start = time.perf_counter()
    target = fit.targets[0]
    unit = QM9_UNITS[target][0]
    fit = fit.model_copy(update={"units": [unit], "extensive": [target in QM9_EXTENSIVE]})
    qm9 = load_qm9()
    split = qm9_split(len(qm9), 20000, 0.8, 0.1, 0.1, 0)
    rows = {"train": split["train"][:n_train], "val": split["val"], "test": split["test"]}
    mols = {k: qm9.structures(r) for k, r in rows.items()}
    y = {k: qm9.targets(r, [target]) for k, r in rows.items()}
    encoder = load_autoencoder(encoder_path)[0] if encoder_path else None
    best = None
    for gamma, alpha in _grid(fit, gammas, alphas):
        model = fit_kernel_model(mols["train"], y["train"], fit.model_copy(update={"gamma": gamma, "alpha": alpha}),
                                 encoder=encoder)
        calc = MLCalc(model, dtype=torch.float64)
        val = float(np.abs(calc.predict(mols["val"])[target] - y["val"][:, 0]).mean())
        echo(f"gamma={gamma} alpha={alpha} val MAE {val:.4f} {unit}")
        if best is None or val < best[0]:
            best = (val, gamma, alpha, calc)
    val, gamma, alpha, calc = best
    out = calc.predict(mols["test"])
    error = np.abs(out[target] - y["test"][:, 0])
    test = float(error.mean())
    if f"{target}_std" in out:  # GP: is the predictive std calibrated on the test set?
        std = out[f"{target}_std"]
        echo(f"GP std on test: mean {std.mean():.4f}; |error| < 2 std for {np.mean(error < 2 * std):.1%}; "
             f"Spearman(|error|, std) {_spearman(error, std):.2f}")
    echo(f"{fit.method} {fit.kernel} {fit.descriptor['name']}{'' if fit.standardise_features else ' raw'}"
         f"{' latent ' + encoder_path if encoder_path else ''} n_train={len(calc.model.train_x)} gamma={gamma} "
         f"alpha={alpha}: val MAE {val:.4f}, test MAE {test:.4f} {unit} on {len(rows['test'])} test molecules; "
         f"wall {time.perf_counter() - start:.0f} s")
    return calc.model, test


def _errors(calc, frames) -> tuple[float, float]:
    """Energy MAE (meV) and force-component MAE (meV/Å) of ``calc`` over labelled ``frames``."""
    out = calc.predict(frames)
    energy = np.abs(out["energy"] - np.array([a.get_potential_energy() for a in frames])).mean()
    forces = np.abs(np.concatenate(out["forces"]) - np.concatenate([a.get_forces() for a in frames])).mean()
    return 1000 * float(energy), 1000 * float(forces)


def energy_kernel_search(config_path: str, fit: EnergyKernelFit, n_train: Optional[int], gammas: Sequence[float],
                         alphas: Sequence[float], echo: Callable[[str], None] = print) -> tuple:
    """(selected model, test metrics) on the data and split of the force-field config at ``config_path``.

    ``fit.descriptor`` gets ``n_atoms_max`` from the data; ``n_train``: the first so many training frames
    (None: all). Metrics: energy MAE (meV), force MAE (meV/Å), test frames.
    """
    import torch

    from mlcalc import MLCalc
    from mlcalc.data.structure_files import read_structures

    from .config import load_config
    from .data import split_indices
    from .train import _ensure_data

    start = time.perf_counter()
    config = load_config(config_path)
    frames = read_structures(_ensure_data(config))
    d = config.data
    split = split_indices(len(frames), d.train, d.val, d.test, d.split_seed)
    sets = {k: [frames[i] for i in idx] for k, idx in split.items()}
    sets["train"] = sets["train"][:n_train]
    fit = fit.model_copy(update={"descriptor": {**fit.descriptor, "n_atoms_max": max(len(a) for a in frames)},
                                 "elements": sorted({int(z) for a in frames for z in a.numbers})})
    energies = np.array([a.get_potential_energy() for a in sets["train"]])
    best = None
    for gamma, alpha in _grid(fit, gammas, alphas):
        model = fit_kernel_energy_model(sets["train"], fit.model_copy(update={"gamma": gamma, "alpha": alpha}),
                                        energies=energies)
        calc = MLCalc(model, dtype=torch.float64)
        val_e, val_f = _errors(calc, sets["val"])
        echo(f"gamma={gamma} alpha={alpha}: val energy MAE {val_e:.1f} meV, forces MAE {val_f:.1f} meV/Å")
        if best is None or val_f < best[0]:
            best = (val_f, val_e, gamma, alpha, calc)
    val_f, val_e, gamma, alpha, calc = best
    test_e, test_f = _errors(calc, sets["test"])
    if "energy_std" in (out := calc.predict(sets["test"])):
        error = np.abs(out["energy"] - np.array([a.get_potential_energy() for a in sets["test"]]))
        echo(f"GP energy_std on test: mean {1000 * out['energy_std'].mean():.1f} meV; "
             f"|error| < 2 std for {np.mean(error < 2 * out['energy_std']):.1%}")
    echo(f"{calc.model.kind} {fit.kernel} force_weight={fit.force_weight} {fit.descriptor['name']} "
         f"n_train={calc.model.n_train} gamma={gamma} alpha={alpha}: val forces MAE {val_f:.1f} meV/Å; test energy "
         f"MAE {test_e:.1f} meV, forces MAE {test_f:.1f} meV/Å on {len(sets['test'])} frames; "
         f"wall {time.perf_counter() - start:.0f} s")
    return calc.model, {"energy_mae_meV": test_e, "forces_mae_meV_per_A": test_f, "frames": len(sets["test"])}
