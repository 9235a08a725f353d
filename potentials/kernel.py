"""Kernel ridge regression (``krr``) and Gaussian process (``gp``) property models on DScribe descriptors.

Fitted with scikit-learn (:meth:`_KernelModel.fit`; from settings:
:func:`mlcalc.potentials.training.kernel_fit.fit_kernel_model`), then held as arrays: the training
descriptors (standardised per feature), the dual coefficients and, for the GP, the Cholesky
factor of the training kernel matrix. At prediction time the model rebuilds ASE ``Atoms``
from the batch, computes their descriptors (:func:`mlcalc.descriptors.featurise`, no cache)
and evaluates the kernel in torch (float64): ẑ = k(x, X) · dual. The GP adds
``<target>_std``, its predictive standard deviation in the target's unit (noise-free:
the ``alpha`` jitter is on the training diagonal only, as in scikit-learn's
GaussianProcessRegressor). Everything is saved in the ``.mlc`` file: arrays as buffers,
descriptor and kernel settings as hyperparameters (no pickle).

Kernels (d: distance between standardised descriptors x, y):

- KRR (sklearn KernelRidge): ``rbf`` exp(-γ‖x-y‖²), ``laplacian`` exp(-γ‖x-y‖₁), ``linear`` x·y.
- GP (sklearn kernels, hyperparameters fitted by marginal likelihood): ``rbf`` a·exp(-‖x-y‖²/2ℓ²),
  ``laplacian`` a·exp(-‖x-y‖₂/ℓ) (Matérn ν=1/2), ``linear`` a·(σ₀² + x·y).
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional, Sequence

import numpy as np
import torch
from ase import Atoms

from mlcalc import keys as K
from mlcalc.descriptors import descriptor_settings, drop_duplicates, featurise, standardised
from mlcalc.model import Encoding, PropertyModel, register_kind
from mlcalc.potentials.autoencoder import DescriptorAutoencoder

__all__ = ["KernelRidgeModel", "GaussianProcessModel", "KernelRidgeFit", "GaussianProcessFit", "krr_kernel", "gp_kernel",
           "fit_gp", "gp_prior_variance", "KERNELS"]

KERNELS = ("rbf", "laplacian", "linear")


def _check_kernel(kernel: str) -> str:
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; choose from {', '.join(KERNELS)}")
    return kernel


def _distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Euclidean distances [n_x, n_y], computed directly (exact zero for equal rows)."""
    return torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist")


def _squared_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """‖x-y‖² [n_x, n_y]; by broadcasting when x needs gradients (cdist's gradient is NaN at zero distance)."""
    if x.requires_grad:
        return (x.unsqueeze(1) - y.unsqueeze(0)).square().sum(dim=2)
    return _distance(x, y).square()


def krr_kernel(kernel: str, x: torch.Tensor, y: torch.Tensor, gamma: float) -> torch.Tensor:
    """scikit-learn KernelRidge's ``kernel`` between rows of x [n, F] and y [m, F], [n, m]; differentiable in x."""
    if kernel == "rbf":
        return torch.exp(-gamma * _squared_distance(x, y))
    if kernel == "laplacian":
        return torch.exp(-gamma * torch.cdist(x, y, p=1))
    return x @ y.T


def gp_kernel(kernel: str, x: torch.Tensor, y: torch.Tensor, params: dict) -> torch.Tensor:
    """The GP's fitted kernel (amplitude a, length scale ℓ, σ₀) between rows of x and y, [n, m]; differentiable in x."""
    a = params.get("amplitude", 1.0)
    if kernel == "rbf":
        return a * torch.exp(-0.5 * _squared_distance(x, y) / params.get("length_scale", 1.0) ** 2)
    if kernel == "laplacian":
        distance = _squared_distance(x, y).clamp(min=1e-300).sqrt() if x.requires_grad else _distance(x, y)
        return a * torch.exp(-distance / params.get("length_scale", 1.0))
    return a * (params.get("sigma_0", 1.0) ** 2 + x @ y.T)


class _KernelModel(PropertyModel):
    """Shared part: descriptor settings, standardised training descriptors, dual coefficients."""

    closed_form: ClassVar[bool] = True

    def __init__(self, elements: Sequence[int], targets: Sequence[str], units: Sequence[str],
                 extensive: Sequence[bool], descriptor: dict, kernel: str = "rbf",
                 kernel_params: Optional[dict] = None, n_train: int = 1, n_features: int = 1,
                 cutoff: float = 0.5, periodic: bool = False, encoder: Optional[dict] = None):
        super().__init__(elements, cutoff, targets, units, extensive, periodic)
        #: hyperparameters of a descriptor autoencoder whose latents (μ) replace the descriptors; its weights
        #: are stored with the model's under ``encoder.``
        self.encoder_settings = dict(encoder) if encoder is not None else None
        self.encoder = DescriptorAutoencoder(**encoder) if encoder is not None else None
        self.descriptor = descriptor_settings(descriptor).model_dump(mode="json")
        self.kernel = _check_kernel(kernel)
        self.kernel_params = {k: float(v) for k, v in (kernel_params or {}).items()}
        self.n_train, self.n_features = int(n_train), int(n_features)
        n_t = len(self.targets)
        self.register_buffer("train_x", torch.zeros(self.n_train, self.n_features, dtype=torch.float64))
        self.register_buffer("dual", torch.zeros(self.n_train, n_t, dtype=torch.float64))
        self.register_buffer("feature_mean", torch.zeros(self.n_features, dtype=torch.float64))
        self.register_buffer("feature_scale", torch.ones(self.n_features, dtype=torch.float64))

    def hyperparameters(self) -> dict[str, Any]:
        return {**super().hyperparameters(), "descriptor": self.descriptor, "kernel": self.kernel,
                "kernel_params": self.kernel_params, "n_train": self.n_train, "n_features": self.n_features,
                **({"encoder": self.encoder_settings} if self.encoder is not None else {})}

    def features(self, structures: Sequence[Atoms], cache: bool = False, progress: bool = False) -> np.ndarray:
        """Features of ``structures`` [n, n_features] (float64): raw descriptors, or their encoder latents."""
        return self.latent(featurise(structures, self.descriptor, self.elements, cache=cache, progress=progress))

    def latent(self, raw: np.ndarray) -> np.ndarray:
        """Descriptors [n, F] mapped through the encoder (unchanged without one)."""
        return raw if self.encoder is None else self.encoder.latents(raw)

    def _structures(self, inputs: dict[str, torch.Tensor]) -> list[Atoms]:
        z = inputs[K.Z].cpu().numpy()
        pos = inputs[K.POSITIONS].detach().cpu().double().numpy()
        batch = inputs[K.BATCH].cpu().numpy()
        return [Atoms(numbers=z[batch == g], positions=pos[batch == g]) for g in range(inputs[K.CELL].shape[0])]

    def _x(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        raw = torch.as_tensor(self.features(self._structures(inputs)), device=self.train_x.device)
        return (raw.to(self.train_x.dtype) - self.feature_mean) / self.feature_scale

    def kernel_matrix(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _fit_dual(self, x: np.ndarray, z: np.ndarray, alpha: float, gamma: Optional[float]) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - abstract

    @torch.no_grad()
    def fit(self, structures: Sequence[Atoms], values: np.ndarray, alpha: float = 1e-8,
            gamma: Optional[float] = None, cache: bool = True, progress: bool = True,
            standardise_features: bool = True) -> None:
        """Fit to ``values`` [n, n_targets] (target units) of ``structures``; the arrays are resized to the data.

        Duplicate structures (same hash) are dropped first. Descriptors are standardised
        per feature; targets per target (μ, σ; per atom for extensive ones).
        ``alpha``: ridge / GP jitter in standardised units; ``gamma``: KRR kernel width
        (default 1/n_features). The GP's amplitude and length scale are fitted by scikit-learn.
        ``standardise_features=False`` keeps the raw descriptors (e.g. the Coulomb matrix with a
        Laplacian kernel, as usual in the literature).
        """
        values = np.asarray(values, dtype=np.float64).reshape(len(structures), len(self.targets))
        if not np.isfinite(values).all():
            raise ValueError(f"target values must be finite; rows {np.where(~np.isfinite(values).all(axis=1))[0][:10]} are not")
        structures, kept = drop_duplicates(list(structures))
        values = values[kept]
        if len(structures) < 2:
            raise ValueError(f"need at least 2 distinct structures to fit, got {len(structures)}")
        raw = self.features(structures, cache=cache, progress=progress)
        x, mean, scale = standardised(raw, standardise_features)
        n_atoms = np.array([len(a) for a in structures], dtype=np.float64)
        size = np.where(np.asarray(self.extensive)[None, :], n_atoms[:, None], 1.0)
        per = values / size
        y_mean, y_std = per.mean(axis=0), per.std(axis=0)
        y_std[y_std < 1e-12] = 1.0
        z = (per - y_mean) / y_std
        self.kernel_params = {"alpha": float(alpha)}
        dual = self._fit_dual(x, z, alpha, gamma)
        self.n_train, self.n_features = x.shape
        self.set_standardisation(y_mean, y_std)
        dtype = self.train_x.dtype
        self.train_x = torch.as_tensor(x, dtype=dtype)
        self.dual = torch.as_tensor(dual.reshape(len(x), len(self.targets)), dtype=dtype)
        self.feature_mean = torch.as_tensor(mean, dtype=dtype)
        self.feature_scale = torch.as_tensor(scale, dtype=dtype)

    def encode(self, inputs: dict[str, torch.Tensor]) -> Encoding:
        """Hidden: standardised descriptors [n_graphs, n_features]; output ẑ = k(x, X)·dual. No per-atom terms."""
        x = self._x(inputs)
        out = self.kernel_matrix(x, self.train_x) @ self.dual
        return Encoding(x, x, out.to(self.target_mean.dtype), None)


class KernelRidgeFit:
    """The KRR part shared by the property and energy KRR models: the kernel matrix and the dual fit
    (scikit-learn's ``KernelRidge``; ``self.kernel``, ``self.kernel_params`` dict)."""

    def kernel_matrix(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """K(x, y) [n_x, n_y], differentiable in x."""
        return krr_kernel(self.kernel, x, y, self.kernel_params.get("gamma", 1.0))

    def _fit_dual(self, x: np.ndarray, z: np.ndarray, alpha: float, gamma: Optional[float]) -> np.ndarray:
        from sklearn.kernel_ridge import KernelRidge

        self.kernel_params["gamma"] = float(gamma if gamma is not None else 1.0 / x.shape[1])
        reg = KernelRidge(alpha=alpha, kernel=self.kernel,
                          gamma=None if self.kernel == "linear" else self.kernel_params["gamma"])
        return reg.fit(x, z).dual_coef_


@register_kind("krr")
class KernelRidgeModel(KernelRidgeFit, _KernelModel):
    """Kernel ridge regression; ``kernel_params``: ``gamma`` (rbf, laplacian) and ``alpha`` (ridge, for the record)."""


class GaussianProcessFit:
    """The GP part shared by the property and energy GPs: kernel with fitted parameters, fit to a
    Cholesky factor (``self.kernel``, ``self.kernel_params`` dict, ``self.cholesky`` buffer)."""

    def kernel_matrix(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return gp_kernel(self.kernel, x, y, self.kernel_params)

    def _fit_dual(self, x: np.ndarray, z: np.ndarray, alpha: float, gamma: Optional[float]) -> np.ndarray:
        dual, cholesky, params = fit_gp(self.kernel, x, z, alpha)
        self.kernel_params.update(params)
        self.cholesky = torch.as_tensor(cholesky, dtype=self.cholesky.dtype)
        return dual


@register_kind("gp")
class GaussianProcessModel(GaussianProcessFit, _KernelModel):
    """Gaussian process regression; adds ``<target>_std`` (predictive standard deviation) to its outputs.

    ``kernel_params``: ``amplitude`` a, ``length_scale`` ℓ (rbf, laplacian), ``sigma_0`` (linear),
    ``alpha`` (jitter on the training diagonal, standardised units).
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.register_buffer("cholesky", torch.eye(self.n_train, dtype=torch.float64))
        #: extra outputs the property evaluator reports next to the targets
        self.extra_outputs = [f"{t}_std" for t in self.targets]
        self.properties = {**self.properties, **{f"{t}_std": {"unit": u, "per": "structure", "extensive": e}
                                                 for t, u, e in zip(self.targets, self.units, self.extensive)}}


    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = self._x(inputs)
        k_star = self.kernel_matrix(x, self.train_x)
        z_hat = (k_star @ self.dual).to(self.target_mean.dtype)
        v = torch.linalg.solve_triangular(self.cholesky, k_star.T, upper=False)
        std_hat = (gp_prior_variance(self.kernel, x, self.kernel_params) - v.square().sum(dim=0)).clamp(min=0).sqrt()
        n_atoms = inputs[K.N_ATOMS]
        values = self.destandardise(z_hat, n_atoms) + self.references(inputs)
        std = std_hat.unsqueeze(1).to(values.dtype) * self.target_std * self._size(n_atoms)
        out = {t: values[:, k] for k, t in enumerate(self.targets)}
        out.update({f"{t}_std": std[:, k] for k, t in enumerate(self.targets)})
        return out


def fit_gp(kernel: str, x: np.ndarray, z: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """scikit-learn GP regression of z [n] or [n, k] on x [n, F]: dual coefficients, Cholesky factor, fitted kernel_params.

    The kernel is a·base (base: RBF, Matérn ν=1/2 or dot product); a and ℓ (σ₀) by marginal likelihood.
    """
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, DotProduct, Matern

    width = np.sqrt(x.shape[1])
    base = {"rbf": RBF(length_scale=width, length_scale_bounds=(1e-2, 1e4)),
            "laplacian": Matern(length_scale=width, length_scale_bounds=(1e-2, 1e4), nu=0.5),
            "linear": DotProduct(sigma_0=1.0)}[kernel]
    gpr = GaussianProcessRegressor(ConstantKernel(1.0, (1e-3, 1e3)) * base, alpha=alpha, normalize_y=False,
                                   random_state=0).fit(x, z)
    fitted = gpr.kernel_
    params = {"amplitude": float(fitted.k1.constant_value)}
    if kernel == "linear":
        params["sigma_0"] = float(fitted.k2.sigma_0)
    else:
        params["length_scale"] = float(fitted.k2.length_scale)
    return gpr.alpha_, gpr.L_, params


def gp_prior_variance(kernel: str, x: torch.Tensor, params: dict) -> torch.Tensor:
    """k(x, x) of the GP's kernel for each row of x, [n]."""
    a = params.get("amplitude", 1.0)
    if kernel == "linear":
        return a * (params.get("sigma_0", 1.0) ** 2 + x.square().sum(dim=1))
    return torch.full((len(x),), a, dtype=x.dtype, device=x.device)
