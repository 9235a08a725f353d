"""Autoencoder and variational autoencoder on per-structure descriptors (MLP encoder and decoder).

The input is a descriptor matrix [n, F] (e.g. SOAP from :func:`mlcalc.descriptors.featurise`),
standardised per feature with the training set's mean and width (stored as buffers). The
encoder maps it to a latent vector of size ``latent``; the VAE's encoder gives a mean μ and a
log-variance, samples z = μ + σ·ε while training, and adds β·KL(q(z|x) ‖ N(0, I)) to the loss.
:meth:`DescriptorAutoencoder.latents` (μ for the VAE) are the features that the kernel models
take (``encoder`` of :func:`mlcalc.potentials.training.kernel_fit.fit_kernel_model`); trained by
:func:`mlcalc.potentials.training.autoencoder_fit.fit_autoencoder`.
Saved with :mod:`mlcalc.potentials.network_file` (safetensors + JSON, no pickle).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from mlcalc.descriptors import standardised
from mlcalc.potentials.network_file import read_network, save_network

__all__ = ["DescriptorAutoencoder", "pca_encoder", "save_autoencoder", "load_autoencoder", "KIND"]

KIND = "descriptor-autoencoder"


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if k < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class DescriptorAutoencoder(nn.Module):
    """MLP autoencoder (``variational=False``) or VAE on standardised descriptors [n, n_features]."""

    def __init__(self, n_features: int, latent: int = 16, hidden: Sequence[int] = (256,), variational: bool = False):
        super().__init__()
        if n_features < 1 or latent < 1 or any(h < 1 for h in hidden):
            raise ValueError(f"autoencoder sizes must be positive: n_features={n_features}, latent={latent}, "
                             f"hidden={list(hidden)}")
        self.n_features, self.latent, self.hidden = int(n_features), int(latent), [int(h) for h in hidden]
        self.variational = bool(variational)
        self.encoder = _mlp([self.n_features, *self.hidden, self.latent * (2 if self.variational else 1)])
        self.decoder = _mlp([self.latent, *reversed(self.hidden), self.n_features])
        self.register_buffer("feature_mean", torch.zeros(self.n_features))
        self.register_buffer("feature_scale", torch.ones(self.n_features))

    def hyperparameters(self) -> dict:
        return {"n_features": self.n_features, "latent": self.latent, "hidden": self.hidden,
                "variational": self.variational}

    def standardise(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw descriptors [n, F] -> standardised ones (the training set's mean and width)."""
        if raw.ndim != 2 or raw.shape[1] != self.n_features:
            raise ValueError(f"descriptors must be [n, {self.n_features}], got {list(raw.shape)}")
        return (raw.to(self.feature_mean.dtype) - self.feature_mean) / self.feature_scale

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Standardised x [n, F] -> (μ [n, latent], log σ² [n, latent] or None for the plain autoencoder)."""
        out = self.encoder(x)
        if not self.variational:
            return out, None
        mu, logvar = out.chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 8.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent z [n, latent] -> standardised descriptors [n, F]."""
        return self.decoder(z)

    def losses(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction MSE per feature, KL per structure; 0 for the plain autoencoder) of a batch x."""
        mu, logvar = self.encode(x)
        if logvar is None:
            return (self.decode(mu) - x).square().mean(), torch.zeros((), dtype=x.dtype)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(dim=1).mean()
        return (self.decode(z) - x).square().mean(), kl

    @torch.no_grad()
    def latents(self, raw: np.ndarray | torch.Tensor) -> np.ndarray:
        """Latent features (μ) of raw descriptors [n, F], float64 [n, latent]."""
        x = self.standardise(torch.as_tensor(np.asarray(raw)))
        return self.encode(x)[0].double().numpy()

    @torch.no_grad()
    def reconstruction_error(self, raw: np.ndarray) -> float:
        """Mean squared error per feature of decode(μ) in standardised units (1.0 = predicting the mean)."""
        x = self.standardise(torch.as_tensor(np.asarray(raw)))
        return float((self.decode(self.encode(x)[0]) - x).square().mean())

    @torch.no_grad()
    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> np.ndarray:
        """``n`` raw descriptors decoded from the prior N(0, I), [n, F] (meaningful for the VAE)."""
        z = torch.randn(n, self.latent, generator=generator)
        return (self.decode(z) * self.feature_scale + self.feature_mean).double().numpy()


def pca_encoder(raw: np.ndarray, latent: int, seed: int = 0) -> DescriptorAutoencoder:
    """PCA of the standardised descriptors [n, F] as a linear autoencoder (no hidden layer): the encoder
    projects on the first ``latent`` principal components, the decoder maps back (scikit-learn's PCA)."""
    from sklearn.decomposition import PCA

    raw = np.asarray(raw, dtype=np.float64)
    model = DescriptorAutoencoder(raw.shape[1], latent, hidden=())
    scaled, mean, width = standardised(raw)
    pca = PCA(n_components=latent, random_state=seed).fit(scaled)
    components = torch.as_tensor(pca.components_, dtype=torch.float32)
    with torch.no_grad():
        model.feature_mean.copy_(torch.as_tensor(mean)), model.feature_scale.copy_(torch.as_tensor(width))
        model.encoder[0].weight.copy_(components)
        model.encoder[0].bias.copy_(-components @ torch.as_tensor(pca.mean_, dtype=torch.float32))
        model.decoder[0].weight.copy_(components.T)
        model.decoder[0].bias.copy_(torch.as_tensor(pca.mean_))
    return model.eval()


def save_autoencoder(path: str | Path, model: DescriptorAutoencoder, info: Optional[dict] = None,
                     optimizer: Optional[torch.optim.Optimizer] = None) -> Path:
    """Write ``model`` (and a training's optimiser and RNG state) to ``path`` (safetensors + JSON)."""
    return save_network(path, KIND, model, model.hyperparameters(), info, optimizer, rng=optimizer is not None)


def load_autoencoder(path: str | Path) -> tuple[DescriptorAutoencoder, dict]:
    """(model in eval mode, info) from :func:`save_autoencoder`'s file."""
    header, weights, _ = read_network(path, KIND)
    model = DescriptorAutoencoder(**header["hyperparameters"])
    model.load_state_dict(weights, strict=True)
    return model.eval(), header["info"]
