"""The SMILES VAE study on QM9: train (resumable), then reconstruction, prior samples checked by RDKit, latent map.

Split: all QM9 SMILES, 90/5/5 % (seed 0; test: the rest); the VAE trains on the 90 %, the held-out molecules
are the first ``n_eval`` of the 5 % test part. Metrics: exact-string and per-character
reconstruction (greedy decoding of μ), validity of strings decoded from z ~ N(0, I)
(RDKit ``MolFromSmiles``), uniqueness (distinct canonical SMILES among the valid ones) and
novelty (valid canonical SMILES not in the training set). Files in ``out``: the model
(``smiles_vae.safetensors``, also the checkpoint), ``results.json``, ``samples.csv``,
``latent_homo.png`` (PCA of μ coloured by HOMO) and ``latent.csv``; how much HOMO μ holds:
:func:`property_probe` (KRR on half of the held-out molecules' μ, MAE on the other half). The folder is locked against a second writer
(:class:`mlcalc.locks.FolderLock`); a rerun resumes the trainings in it.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch

__all__ = ["reconstruction_accuracy", "sample_quality", "canonical", "property_probe", "smiles_vae_study"]


def reconstruction_accuracy(targets: Sequence[str], decoded: Sequence[str]) -> dict[str, float]:
    """Exact-string fraction and per-character accuracy (target characters matched at the same position)."""
    if len(targets) != len(decoded) or not len(targets):
        raise ValueError(f"need as many decoded strings as targets (> 0), got {len(decoded)} and {len(targets)}")
    exact = np.mean([t == d for t, d in zip(targets, decoded)])
    matched = sum(sum(a == b for a, b in zip(t, d)) for t, d in zip(targets, decoded))
    return {"exact": float(exact), "per_character": matched / sum(len(t) for t in targets)}


def canonical(smiles: str) -> Optional[str]:
    """RDKit's canonical SMILES, or None when RDKit cannot parse the string."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles) if smiles else None
    return Chem.MolToSmiles(mol) if mol is not None else None


def sample_quality(samples: Sequence[str], training: Optional[set[str]] = None) -> dict[str, float]:
    """Validity, uniqueness (of the valid ones) and novelty (valid ones not in ``training``, canonical SMILES)."""
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    valid = [c for c in (canonical(s) for s in samples) if c is not None]
    out = {"n": len(samples), "validity": len(valid) / max(len(samples), 1),
           "uniqueness": len(set(valid)) / max(len(valid), 1)}
    if training is not None:
        out["novelty"] = sum(c not in training for c in set(valid)) / max(len(set(valid)), 1)
    return out


def property_probe(mu: np.ndarray, values: np.ndarray, seed: int = 0) -> dict[str, float]:
    """How much of a property the latents hold: KRR (RBF, γ = 1/latent, α 0.1) on half of the rows, MAE on the
    other half, next to the MAE of predicting the training half's mean."""
    from sklearn.kernel_ridge import KernelRidge

    order = np.random.default_rng(seed).permutation(len(mu))
    fit, held = order[:len(mu) // 2], order[len(mu) // 2:]
    model = KernelRidge(alpha=0.1, kernel="rbf", gamma=1.0 / mu.shape[1]).fit(mu[fit], values[fit] - values[fit].mean())
    pred = model.predict(mu[held]) + values[fit].mean()
    return {"n_fit": len(fit), "n_test": len(held), "krr_mae": float(np.abs(pred - values[held]).mean()),
            "mean_mae": float(np.abs(values[fit].mean() - values[held]).mean())}


def smiles_vae_study(out: str | Path, steps: int = 4000, minutes: Optional[float] = None, n_eval: int = 2000,
                     n_samples: int = 1000, seed: int = 0, latent: int = 32, hidden: int = 256, beta: float = 0.5,
                     target: str = "homo", echo: Callable[[str], None] = print) -> dict:
    """Train (or resume) the SMILES VAE in ``out`` and evaluate it; returns the results (also ``results.json``)."""
    from mlcalc.locks import FolderLock

    with FolderLock(out, "SMILES VAE study"):
        return _smiles_vae_study(out, steps, minutes, n_eval, n_samples, seed, latent, hidden, beta,
                                 target, echo)


def _smiles_vae_study(out: str | Path, steps: int = 4000, minutes: Optional[float] = None, n_eval: int = 2000,
                      n_samples: int = 1000, seed: int = 0, latent: int = 32, hidden: int = 256, beta: float = 0.5,
                      target: str = "homo", echo: Callable[[str], None] = print) -> dict:
    from mlcalc.analysis.projection import project, scatter_plot
    from mlcalc.data.qm9 import QM9_UNITS, check_targets, load_qm9, qm9_split
    from mlcalc.data.qm9_smiles import load_qm9_smiles
    from mlcalc.potentials.training.smiles_vae_fit import SmilesVAEFit, train_smiles_vae

    check_targets([target])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    smiles = load_qm9_smiles()
    split = qm9_split(len(smiles), None, 0.9, 0.05, None, 0)
    train = [str(s) for s in smiles[split["train"]]]
    test_rows = split["test"][:n_eval]
    test = [str(s) for s in smiles[test_rows]]
    start = time.perf_counter()
    fit = SmilesVAEFit(steps=steps, minutes=minutes, latent=latent, hidden=hidden, beta=beta, seed=seed)
    model, info = train_smiles_vae(train, out / "smiles_vae.safetensors", fit, echo=echo)
    train_s = time.perf_counter() - start
    torch.manual_seed(seed)
    start = time.perf_counter()
    recon = reconstruction_accuracy(test, model.reconstruct(test))
    samples = model.sample(n_samples, generator=torch.Generator().manual_seed(seed))
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    training = {c for c in (canonical(s) for s in train) if c is not None}
    quality = sample_quality(samples, training)
    mu = model.latents(test).double().numpy()
    values = load_qm9().labels[target][test_rows]
    probe = property_probe(mu, values, seed)
    xy = project(mu, "pca", 2, seed)
    unit = QM9_UNITS[target][0]
    png = scatter_plot(out / f"latent_{target}.png", xy, values, f"{target} ({unit})",
                       f"SMILES VAE latent μ ({latent}-d), PCA of {len(test)} held-out QM9 molecules", "pca")
    with open(out / "latent.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["smiles", target, *(f"mu_{k}" for k in range(mu.shape[1]))])
        writer.writerows([s, f"{v:.6g}", *(f"{m:.5g}" for m in row)] for s, v, row in zip(test, values, mu))
    with open(out / "samples.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sample", "canonical"])
        writer.writerows([s, canonical(s) or ""] for s in samples)
    results = {"step": info["step"], "steps": steps, "train_seconds_total": info["seconds"],
               "train_seconds_this_call": train_s, "eval_seconds": time.perf_counter() - start,
               "n_train": len(train), "n_eval": len(test), "reconstruction": recon, "prior_samples": quality,
               f"{target}_from_latent": probe,
               "final_history": {k: v[-1] for k, v in info["history"].items() if v}, "png": str(png)}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    echo(f"step {info['step']}/{steps}: reconstruction exact {recon['exact']:.3f}, per character "
         f"{recon['per_character']:.3f}; prior samples valid {quality['validity']:.3f}, unique "
         f"{quality['uniqueness']:.3f}, novel {quality['novelty']:.3f}; {target} from μ by KRR: MAE "
         f"{probe['krr_mae']:.3f} {unit} (mean predictor {probe['mean_mae']:.3f})")
    return results
