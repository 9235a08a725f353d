"""Training of a descriptor autoencoder or VAE (:mod:`mlcalc.potentials.autoencoder`) from validated settings.

Checkpointed after every epoch and resumable (same settings); the checkpoint is the autoencoder's own
file format (safetensors + JSON, with the optimiser and RNG state).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from mlcalc.descriptors import standardised
from mlcalc.potentials.autoencoder import KIND, DescriptorAutoencoder, save_autoencoder
from mlcalc.potentials.network_file import read_network, restore_optimizer

__all__ = ["AutoencoderFit", "fit_autoencoder"]


class AutoencoderFit(BaseModel):
    """The network (``latent`` size, ``hidden`` widths, ``variational``: a VAE) and its training: ``epochs``,
    ``batch_size``, Adam's ``lr``, the VAE's KL weight ``beta`` reached after ``warmup`` epochs, ``seed``;
    a progress line every ``every`` epochs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latent: int = Field(16, ge=1)
    variational: bool = False
    hidden: list[int] = Field(default_factory=lambda: [256])
    epochs: int = Field(100, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(1e-3, gt=0)
    beta: float = Field(1.0, ge=0)
    warmup: int = Field(10, ge=0)
    seed: int = 0
    every: int = Field(10, ge=1)


def fit_autoencoder(raw: np.ndarray, settings: AutoencoderFit, val: Optional[np.ndarray] = None,
                    checkpoint: Optional[str | Path] = None,
                    echo: Callable[[str], None] = lambda s: None) -> tuple[DescriptorAutoencoder, dict]:
    """Train an autoencoder (or VAE) on raw descriptors [n, F]; returns the model (eval mode) and its history.

    Adam, seeded shuffles; the VAE's KL weight grows linearly from 0 to ``beta`` over ``warmup``
    epochs. ``checkpoint``: a file written after every epoch and resumed from when it exists
    (same settings). History: per epoch the training reconstruction MSE and KL, and the
    validation reconstruction MSE when ``val`` is given.
    """
    latent, variational, hidden, epochs = settings.latent, settings.variational, settings.hidden, settings.epochs
    batch_size, lr, beta, warmup, seed = settings.batch_size, settings.lr, settings.beta, settings.warmup, settings.seed
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 2 or len(raw) < 2 or not np.isfinite(raw).all():
        raise ValueError(f"descriptors must be a finite [n >= 2, F] array, got shape {raw.shape}")
    torch.manual_seed(seed)
    model = DescriptorAutoencoder(raw.shape[1], latent, hidden, variational)
    _, mean, width = standardised(raw)
    model.feature_mean.copy_(torch.as_tensor(mean)), model.feature_scale.copy_(torch.as_tensor(width))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history: dict[str, list[float]] = {"recon": [], "kl": [], "val_recon": []}
    first = 0
    record = {"latent": latent, "variational": variational, "hidden": list(hidden), "lr": lr, "beta": beta,
                "seed": seed, "batch_size": batch_size, "warmup": warmup, "n": len(raw)}
    if checkpoint is not None and Path(checkpoint).is_file():
        header, weights, other = read_network(checkpoint, KIND)
        if header["info"].get("settings") != record:
            raise ValueError(f"checkpoint {checkpoint} was written with other settings "
                             f"{header['info'].get('settings')}; "
                             "delete it or use the same settings")
        model.load_state_dict(weights, strict=True)
        restore_optimizer(optimizer, header, other)
        history, first = header["info"]["history"], header["info"]["epoch"]
        echo(f"resumed {checkpoint} at epoch {first}")
    x = model.standardise(torch.as_tensor(raw))
    order = torch.Generator().manual_seed(seed)
    for _ in range(first):  # the shuffles of the epochs already done
        torch.randperm(len(x), generator=order)
    start = time.perf_counter()
    for epoch in range(first, epochs):
        model.train()
        weight = beta * min(1.0, (epoch + 1) / max(warmup, 1))
        totals = np.zeros(2)
        for rows in torch.randperm(len(x), generator=order).split(batch_size):
            recon, kl = model.losses(x[rows])
            loss = recon * model.n_features + weight * kl if variational else recon
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            totals += np.array([float(recon.detach()), float(kl.detach())]) * len(rows)
        model.eval()
        history["recon"].append(totals[0] / len(x))
        history["kl"].append(totals[1] / len(x))
        if val is not None:
            history["val_recon"].append(model.reconstruction_error(val))
        if checkpoint is not None:
            save_autoencoder(checkpoint, model, {"settings": record, "history": history, "epoch": epoch + 1},
                             optimizer)
        if (epoch + 1) % settings.every == 0 or epoch + 1 == epochs:
            echo(f"epoch {epoch + 1}: recon {history['recon'][-1]:.4f}"
                 + (f", KL {history['kl'][-1]:.2f}" if variational else "")
                 + (f", val recon {history['val_recon'][-1]:.4f}" if val is not None else "")
                 + f" ({time.perf_counter() - start:.0f} s)")
    return model.eval(), history
