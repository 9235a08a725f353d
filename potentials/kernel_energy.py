"""Kernel energy models, KRR (``krr-energy``) and GP (``gp-energy``): forces through the DScribe descriptor's derivatives.

E(R) = Σ_i atomref[z_i] + s · Σ_k α_k K(x(R), x_k) in eV, with x(R) = (d(R) - m) / w the
standardised DScribe descriptor of the whole structure (:mod:`mlcalc.descriptors`), x_k the
training descriptors, α the dual coefficients of scikit-learn's ``KernelRidge`` and s
(``energy_scale``) the standard deviation of the training energies after the atomrefs.
Forces -dE/dR = -s Σ_k α_k ∂K(x, x_k)/∂x · ∂x/∂R: ∂d/∂R comes from DScribe's
``derivatives()`` inside a torch autograd function, ∂K/∂x from torch, so MLCalc's autograd
path gives the forces. Fitted on energies (:meth:`KernelRidgeEnergyModel.fit`; from settings:
:func:`mlcalc.potentials.training.kernel_fit.fit_kernel_energy_model`) or, for KRR with
``force_weight`` > 0, on energies and forces (the same α-expansion, its coefficients by least
squares on both). The GP fits energies only and adds ``energy_std`` (eV), its predictive
standard deviation.
Molecules only: periodic models are refused. Saved as arrays (buffers), no pickle.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional, Sequence

import numpy as np
import torch
from ase import Atoms

from mlcalc import keys as K
from mlcalc.descriptors import (descriptor_and_derivatives, descriptor_settings, drop_duplicates, dscribe_descriptor,
                                featurise, standardised)
from mlcalc.model import EnergyModel, register_kind

from .kernel import KERNELS, GaussianProcessFit, KernelRidgeFit, gp_prior_variance

__all__ = ["KernelRidgeEnergyModel", "GaussianProcessEnergyModel"]


class _DescriptorOf(torch.autograd.Function):
    """x = d(R) [n_features] of one structure (DScribe); backward: ∂L/∂R = Σ_f ∂L/∂x_f · ∂d_f/∂R."""

    @staticmethod
    def forward(ctx, positions, numbers, settings, species, descriptor):
        atoms = Atoms(numbers=numbers, positions=positions.detach().cpu().double().numpy())
        if ctx.needs_input_grad[0]:
            x, dx = descriptor_and_derivatives(atoms, settings, species, descriptor)
            ctx.save_for_backward(torch.as_tensor(dx, dtype=positions.dtype, device=positions.device))
        else:
            x = featurise([atoms], settings, species, cache=False, progress=False)[0]
        return torch.as_tensor(x, dtype=positions.dtype, device=positions.device)

    @staticmethod
    def backward(ctx, grad_x):
        (dx,) = ctx.saved_tensors
        return dx @ grad_x, None, None, None, None


@register_kind("krr-energy")
class KernelRidgeEnergyModel(KernelRidgeFit, EnergyModel):
    """KRR on a whole-structure DScribe descriptor; ``cutoff`` is only the (unused) neighbour graph's radius.

    ``kernel``: rbf exp(-γ‖x-y‖²), laplacian exp(-γ‖x-y‖₁) or linear x·y; ``kernel_params``:
    ``gamma``, ``alpha`` (ridge, standardised units) and ``force_weight`` (0: fitted on energies only).
    """

    #: fitted by :meth:`fit` (a linear solve), not by gradient steps; molecules only
    closed_form: ClassVar[bool] = True
    supports_periodic: ClassVar[bool] = False

    def __init__(self, elements: Sequence[int], cutoff: float = 5.0, periodic: bool = False,
                 energy_scale: float = 1.0, descriptor: Optional[dict] = None, kernel: str = "rbf",
                 kernel_params: Optional[dict] = None, n_train: int = 1, n_features: int = 1):
        if periodic:
            raise ValueError(f"{type(self).kind} models describe molecules only (DScribe gives no cell derivatives); "
                             "use bpnn or a torchmdnet kind for periodic systems")
        super().__init__(elements, cutoff, periodic, energy_scale)
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; choose from {', '.join(KERNELS)}")
        self.descriptor = descriptor_settings(descriptor or {"name": "soap"}).model_dump(mode="json")
        self.kernel = kernel
        self.kernel_params = {k: float(v) for k, v in (kernel_params or {}).items()}
        self.n_train, self.n_features = int(n_train), int(n_features)
        self.register_buffer("train_x", torch.zeros(self.n_train, self.n_features, dtype=torch.float64))
        self.register_buffer("dual", torch.zeros(self.n_train, dtype=torch.float64))
        self.register_buffer("feature_mean", torch.zeros(self.n_features, dtype=torch.float64))
        self.register_buffer("feature_scale", torch.ones(self.n_features, dtype=torch.float64))
        self._dscribe = None

    def hyperparameters(self) -> dict[str, Any]:
        return {**super().hyperparameters(), "descriptor": self.descriptor, "kernel": self.kernel,
                "kernel_params": self.kernel_params, "n_train": self.n_train, "n_features": self.n_features}

    def evaluation_values(self) -> tuple[float, float]:
        """No edges (DScribe finds its own neighbours); per atom 16 values per feature (the descriptor's float64
        derivatives [n_atoms, 3, n_features] and their gradient)."""
        return 0.0, 16.0 * self.n_features

    def _descriptor_object(self):
        if self._dscribe is None:
            self._dscribe = dscribe_descriptor(descriptor_settings(self.descriptor), self.elements)
        return self._dscribe

    def standardised_descriptors(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """x(R) of every structure, [n_graphs, n_features], differentiable in positions (via DScribe)."""
        z, pos, batch = inputs[K.Z], inputs[K.POSITIONS], inputs[K.BATCH]
        rows = []
        for g in range(inputs[K.CELL].shape[0]):
            mask = batch == g
            rows.append(_DescriptorOf.apply(pos[mask], z[mask].cpu().numpy(), self.descriptor, self.elements,
                                            self._descriptor_object()))
        raw = torch.stack(rows).to(self.train_x.dtype)
        return (raw - self.feature_mean) / self.feature_scale

    def _energy(self, inputs: dict[str, torch.Tensor], k_star: torch.Tensor) -> torch.Tensor:
        fitted = k_star @ self.dual
        z, batch = inputs[K.Z], inputs[K.BATCH]
        refs = torch.zeros(len(fitted), dtype=fitted.dtype, device=fitted.device).index_add(
            0, batch, self.atomref[z].to(fitted.dtype))
        return (refs + self.energy_scale * fitted).to(inputs[K.POSITIONS].dtype)

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = self.standardised_descriptors(inputs)
        return {K.ENERGY: self._energy(inputs, self.kernel_matrix(x, self.train_x))}

    @torch.no_grad()
    def kernel_gradient(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """∂K(x, y_k)/∂x for one descriptor x [F] against the rows of y [n, F], [n, F] (analytic)."""
        diff = x.unsqueeze(0) - y
        gamma = self.kernel_params.get("gamma", 1.0)
        if self.kernel == "rbf":
            return -2 * gamma * diff * torch.exp(-gamma * diff.square().sum(dim=1, keepdim=True))
        if self.kernel == "laplacian":
            return -gamma * torch.sign(diff) * torch.exp(-gamma * diff.abs().sum(dim=1, keepdim=True))
        return y.clone()

    def _fit_with_forces(self, x: np.ndarray, z: np.ndarray, structures: Sequence[Atoms], forces: Sequence[np.ndarray],
                         width: np.ndarray, alpha: float, weight: float) -> np.ndarray:
        """Dual coefficients minimising ‖Kα - z‖² + w‖Gα - f‖² + α_r αᵀKα (f: forces / energy_scale).

        G [n_components, n_train] maps α to forces in the same units: G = -(∂x/∂R)(∂K/∂x)ᵀ,
        accumulated per structure as GᵀG and Gᵀf (G itself is never stored).
        """
        train = torch.as_tensor(x, dtype=torch.float64)
        kernel = self.kernel_matrix(train, train).numpy()
        normal, rhs = kernel.T @ kernel + alpha * kernel, kernel.T @ z
        descriptor = self._descriptor_object()
        for k, (atoms, f) in enumerate(zip(structures, forces)):
            _, dx = descriptor_and_derivatives(atoms, self.descriptor, self.elements, descriptor)
            dx = dx.reshape(-1, dx.shape[-1]) / width  # [3N, F], d x_standardised / dR
            g = -dx @ self.kernel_gradient(train[k], train).numpy().T  # [3N, n_train]
            normal += weight * g.T @ g
            rhs += weight * g.T @ np.asarray(f, dtype=np.float64).reshape(-1)
        return np.linalg.lstsq(normal, rhs, rcond=None)[0]

    def fit(self, structures: Sequence[Atoms], energies: np.ndarray, alpha: Optional[float] = None,
            gamma: Optional[float] = None, standardise_features: bool = True, progress: bool = False,
            forces: Optional[Sequence[np.ndarray]] = None, force_weight: Optional[float] = None,
            atomref_start: Optional[dict[int, float]] = None) -> None:
        """Fit to total ``energies`` [n] (eV) of ``structures``; the arrays are resized to the data.

        Duplicates (same hash) are dropped; atomrefs by least squares on element counts (the
        least-squares solution nearest to ``atomref_start``, {z: eV}, e.g. isolated-atom energies);
        the rest divided by its standard deviation (``energy_scale``). ``gamma``: KRR kernel width
        (default: ``kernel_params["gamma"]``, else 1/n_features); ``alpha``: ridge / GP jitter in
        those standardised units (default: ``kernel_params["alpha"]``, else 1e-8).
        ``forces`` [n_atoms, 3] per structure (eV/Å) with ``force_weight`` w > 0 (default:
        ``kernel_params["force_weight"]``, else 0: energies only): the same model form, its
        coefficients fitted to energies and forces together (each force component weighted w
        against one energy, both divided by ``energy_scale``).
        """
        alpha = float(alpha if alpha is not None else self.kernel_params.get("alpha", 1e-8))
        gamma = gamma if gamma is not None else self.kernel_params.get("gamma")
        weight = float(force_weight if force_weight is not None else self.kernel_params.get("force_weight", 0.0))
        if weight < 0 or (weight > 0 and forces is None):
            raise ValueError(f"force_weight {weight} needs to be ≥ 0, and > 0 only with forces given")
        energies = np.asarray(energies, dtype=np.float64).reshape(-1)
        if len(energies) != len(structures) or not np.isfinite(energies).all():
            raise ValueError(f"need one finite energy per structure ({len(structures)}), got {len(energies)} values")
        structures, kept = drop_duplicates(list(structures))
        energies = energies[kept]
        if len(structures) < 2:
            raise ValueError(f"need at least 2 distinct structures to fit, got {len(structures)}")
        counts = np.array([[np.count_nonzero(a.numbers == z) for z in self.elements] for a in structures], float)
        origin = np.array([(atomref_start or {}).get(z, 0.0) for z in self.elements])
        refs = origin + np.linalg.lstsq(counts, energies - counts @ origin, rcond=None)[0]
        rest = energies - counts @ refs
        scale = float(rest.std()) or 1.0
        raw = featurise(structures, self.descriptor, self.elements, cache=False, progress=progress)
        x, mean, width = standardised(raw, standardise_features)
        self.kernel_params = {"alpha": float(alpha)}
        dual = self._fit_dual(x, rest / scale, alpha, gamma)
        if weight > 0:
            self.kernel_params["force_weight"] = weight
            dual = self._fit_with_forces(x, rest / scale, structures, [np.asarray(forces[k]) / scale for k in kept],
                                         width, alpha, weight)
        self.n_train, self.n_features = x.shape
        self.energy_scale = scale
        self.set_atomref({z: float(r) for z, r in zip(self.elements, refs)})
        dtype = self.train_x.dtype
        self.train_x = torch.as_tensor(x, dtype=dtype)
        self.dual = torch.as_tensor(np.asarray(dual).reshape(-1), dtype=dtype)
        self.feature_mean = torch.as_tensor(mean, dtype=dtype)
        self.feature_scale = torch.as_tensor(width, dtype=dtype)


@register_kind("gp-energy")
class GaussianProcessEnergyModel(GaussianProcessFit, KernelRidgeEnergyModel):
    """Gaussian process energies (the KRR model's form, kernel hyperparameters by marginal likelihood).

    Adds ``energy_std`` (eV), the predictive standard deviation of the energy (noise-free; the
    ``alpha`` jitter is on the training diagonal only). ``kernel_params``: ``amplitude``,
    ``length_scale`` (rbf, laplacian: Matérn ν=1/2), ``sigma_0`` (linear), ``alpha``.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.register_buffer("cholesky", torch.eye(self.n_train, dtype=torch.float64))
        #: per-structure outputs the energy evaluator reports next to the energy
        self.extra_outputs = ["energy_std"]
        self.properties = {**self.properties, "energy_std": {"unit": "eV", "per": "structure"}}

    def _fit_with_forces(self, *args: Any) -> np.ndarray:
        raise ValueError("gp-energy models fit energies only (force_weight must be 0); use krr-energy to fit forces")

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = self.standardised_descriptors(inputs)
        k_star = self.kernel_matrix(x, self.train_x)
        with torch.no_grad():
            v = torch.linalg.solve_triangular(self.cholesky, k_star.detach().T, upper=False)
            variance = gp_prior_variance(self.kernel, x.detach(), self.kernel_params) - v.square().sum(dim=0)
            std = self.energy_scale * variance.clamp(min=0).sqrt()
        return {K.ENERGY: self._energy(inputs, k_star), "energy_std": std.to(inputs[K.POSITIONS].dtype)}
