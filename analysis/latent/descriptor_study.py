"""Autoencoder and VAE latents of QM9 descriptors as kernel-model features: reconstruction, KRR MAE, latent maps.

On the GNNs' QM9 split (subset 20,000, 0.8/0.1/0.1, seed 0): descriptors (DScribe, cached) of
the 16,000 training molecules train a plain autoencoder and a VAE (:mod:`mlcalc.potentials.autoencoder`);
then KRR (RBF) on the first ``n_train`` training molecules with raw descriptors, PCA scores (as
many components as the latent size: the linear autoencoder), AE latents and VAE latents (the
encoder travels inside the kernel model), γ and α chosen on validation, MAE on test.
Reconstruction MSE (standardised units) on test.
Files in ``out``: ``ae.safetensors``, ``vae.safetensors`` (also the checkpoints), ``results.json``,
``latent_<target>.png`` (PCA maps of raw, AE and VAE features of the test molecules, coloured
by the target). The folder is locked against a second writer
(:class:`mlcalc.locks.FolderLock`); a rerun resumes the trainings in it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

__all__ = ["parse_floats", "kernel_predict", "descriptor_latent_study", "latent_panels"]

ELEMENTS = [1, 6, 7, 8, 9]


def parse_floats(text: str, option: str) -> list[float]:
    """``"1e-3,0.1"`` -> [0.001, 0.1]; one-line ValueError naming ``option`` otherwise."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{option} needs comma-separated numbers, got {text!r}") from None
    if not values or any(not np.isfinite(v) or v <= 0 for v in values):
        raise ValueError(f"{option} needs positive numbers, got {text!r}")
    return values


def kernel_predict(model, raw: np.ndarray, n_atoms: np.ndarray) -> np.ndarray:
    """A fitted kernel model's predictions [n, n_targets] (target units) from raw descriptors [n, F].

    The same arithmetic as the model's forward pass (latents, standardisation, k(x, X)·dual),
    without rebuilding the descriptors from structures.
    """
    with torch.no_grad():
        x = torch.as_tensor(model.latent(raw), dtype=model.train_x.dtype)
        x = (x - model.feature_mean) / model.feature_scale
        z = (model.kernel_matrix(x, model.train_x) @ model.dual).to(model.target_mean.dtype)
        return model.destandardise(z, torch.as_tensor(n_atoms)).numpy()


def latent_panels(path: str | Path, maps: dict[str, np.ndarray], values: np.ndarray, label: str, title: str) -> Path:
    """One PCA scatter per entry of ``maps`` (name -> coordinates [n, 2]), coloured by ``values``; PNG.

    Each view spans the 0.5-99.5 percentiles of its points (rare outliers, e.g. the few molecules with
    fluorine, would otherwise squeeze the rest into a corner); the title counts the points left out.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(maps), figsize=(4.4 * len(maps) + 1.0, 4.2), squeeze=False,
                             constrained_layout=True)
    lo, hi = np.percentile(values, [1, 99])
    for ax, (name, xy) in zip(axes[0], maps.items()):
        points = ax.scatter(xy[:, 0], xy[:, 1], c=values, s=3, cmap="viridis", vmin=lo, vmax=hi, linewidths=0)
        low, high = np.percentile(xy, [0.5, 99.5], axis=0)
        pad = 0.05 * (high - low)
        ax.set_xlim(low[0] - pad[0], high[0] + pad[0])
        ax.set_ylim(low[1] - pad[1], high[1] + pad[1])
        outside = int((((xy < low - pad) | (xy > high + pad)).any(axis=1)).sum())
        ax.set_title(f"{name}; {outside} points outside the view" if outside else name, fontsize=9)
        ax.set_xlabel("PCA 1")
        ax.set_ylabel("PCA 2")
    fig.colorbar(points, ax=axes[0].tolist(), label=label, shrink=0.9)
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return Path(path)


def descriptor_latent_study(out: str | Path, descriptor: str = "soap", latent: int = 16, hidden: int = 256,
                            epochs: int = 60, beta: float = 1.0, n_train: int = 4000, target: str = "homo",
                            gammas: Sequence[float] = (0.01, 0.03, 0.1, 0.3, 1.0),
                            alphas: Sequence[float] = (1e-3, 1e-1), seed: int = 0,
                            echo: Callable[[str], None] = print) -> dict:
    """Train AE and VAE in ``out`` (resumed from their files), compare KRR on raw and latent features.

    ``gammas`` are relative: the RBF width tried is γ/n_features of each representation.
    Returns the results (also written to ``results.json``).
    """
    from mlcalc.locks import FolderLock

    with FolderLock(out, "latent study"):
        return _descriptor_latent_study(out, descriptor, latent, hidden, epochs, beta, n_train, target, gammas, alphas,
                                        seed, echo)


def _descriptor_latent_study(out: str | Path, descriptor: str = "soap", latent: int = 16, hidden: int = 256,
                             epochs: int = 60, beta: float = 1.0, n_train: int = 4000, target: str = "homo",
                             gammas: Sequence[float] = (0.01, 0.03, 0.1, 0.3, 1.0),
                             alphas: Sequence[float] = (1e-3, 1e-1), seed: int = 0,
                             echo: Callable[[str], None] = print) -> dict:
    from mlcalc.analysis.projection import project
    from mlcalc.data.qm9 import QM9_EXTENSIVE, QM9_UNITS, check_targets, load_qm9, qm9_split
    from mlcalc.descriptors import featurise, standardised
    from mlcalc.potentials.autoencoder import pca_encoder
    from mlcalc.potentials.training.autoencoder_fit import AutoencoderFit, fit_autoencoder
    from mlcalc.potentials.training.kernel_fit import PropertyKernelFit, fit_kernel_model

    check_targets([target])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    qm9 = load_qm9()
    split = qm9_split(len(qm9), 20000, 0.8, 0.1, 0.1, 0)
    if n_train > len(split["train"]):
        raise ValueError(f"--train {n_train} exceeds the split's {len(split['train'])} training molecules")
    settings = {"name": descriptor, "n_atoms_max": 29}
    mols = {k: qm9.structures(rows) for k, rows in split.items()}
    raw = {k: featurise(m, settings, ELEMENTS, cache=True, progress=False) for k, m in mols.items()}
    y = {k: qm9.targets(rows, [target]) for k, rows in split.items()}
    n_atoms = {k: qm9.n_atoms[rows] for k, rows in split.items()}
    echo(f"{descriptor}: {raw['train'].shape[1]} features; {len(raw['train'])}/{len(raw['val'])}/{len(raw['test'])} "
         f"molecules ({time.perf_counter() - start:.0f} s)")
    results: dict = {"descriptor": settings, "n_features": raw["train"].shape[1], "latent": latent, "hidden": hidden,
                     "epochs": epochs, "beta": beta, "n_train_kernel": n_train, "target": target, "seed": seed,
                     "reconstruction_test_mse": {}, "krr": {}, "seconds": {}}
    _, mean, width = standardised(raw["train"])
    test_std = (raw["test"] - mean) / width
    pca = pca_encoder(raw["train"], latent, seed)
    results["reconstruction_test_mse"]["pca"] = pca.reconstruction_error(raw["test"])
    encoders = {"raw": None, "pca": pca}
    for name, variational in (("ae", False), ("vae", True)):
        t0 = time.perf_counter()
        echo(f"training the {name.upper()} ({epochs} epochs)")
        fit = AutoencoderFit(latent=latent, variational=variational, hidden=[hidden], epochs=epochs, beta=beta,
                             seed=seed)
        model, history = fit_autoencoder(raw["train"], fit, val=raw["val"], checkpoint=out / f"{name}.safetensors",
                                         echo=echo)
        results["seconds"][f"train_{name}"] = time.perf_counter() - t0
        results["reconstruction_test_mse"][name] = model.reconstruction_error(raw["test"])
        results[f"history_{name}"] = {k: v[-1] for k, v in history.items() if v}
        encoders[name] = model
    unit = QM9_UNITS[target][0]
    for name, encoder in encoders.items():
        t0 = time.perf_counter()
        width_f = latent if encoder is not None else raw["train"].shape[1]
        best = None
        for g in gammas:
            for a in alphas:
                fit = PropertyKernelFit(targets=[target], descriptor=settings, kernel="rbf", alpha=a, gamma=g / width_f,
                                        units=[unit], extensive=[target in QM9_EXTENSIVE], elements=ELEMENTS,
                                        progress=False)
                model = fit_kernel_model(mols["train"][:n_train], y["train"][:n_train], fit, encoder=encoder)
                val = float(np.abs(kernel_predict(model, raw["val"], n_atoms["val"]) - y["val"]).mean())
                echo(f"KRR on {name}: gamma {g}/{width_f}, alpha {a}: val MAE {val:.4f} {unit}")
                if best is None or val < best[0]:
                    best = (val, g, a, model)
        val, g, a, model = best
        test = float(np.abs(kernel_predict(model, raw["test"], n_atoms["test"]) - y["test"]).mean())
        results["krr"][name] = {"gamma_relative": g, "alpha": a, "val_mae": val, "test_mae": test, "unit": unit}
        results["seconds"][f"krr_{name}"] = time.perf_counter() - t0
        echo(f"KRR on {name}: test MAE {test:.4f} {unit} (gamma {g}/{width_f}, alpha {a})")
    maps = {f"{descriptor} ({raw['test'].shape[1]} features)": project(test_std, "pca", 2, seed)}
    for name in ("ae", "vae"):
        maps[f"{name.upper()} latent ({latent})"] = project(encoders[name].latents(raw["test"]), "pca", 2, seed)
    png = latent_panels(out / f"latent_{target}.png", maps, y["test"][:, 0], f"{target} ({unit})",
                        f"QM9 test molecules ({len(y['test'])}): PCA of descriptor and autoencoder latents")
    results["png"] = str(png)
    results["seconds"]["total"] = time.perf_counter() - start
    (out / "results.json").write_text(json.dumps(results, indent=2))
    recon = ", ".join(f"{k} {v:.3f}" for k, v in results["reconstruction_test_mse"].items())
    echo(f"reconstruction MSE on test (standardised): {recon}")
    echo("KRR test MAE: " + ", ".join(f"{k} {v['test_mae']:.4f}" for k, v in results["krr"].items()) + f" {unit}")
    return results
