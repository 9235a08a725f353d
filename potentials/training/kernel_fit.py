"""Kernel models fitted in closed form from a validated settings object (pydantic).

:class:`PropertyKernelFit` -> :func:`fit_kernel_model` (kinds ``krr``, ``gp``: property targets on
DScribe descriptors, optionally on an autoencoder's latents); :class:`EnergyKernelFit` ->
:func:`fit_kernel_energy_model` (kinds ``krr-energy``, ``gp-energy``: energies, and with
``force_weight`` > 0 forces). The models' own ``fit`` does the linear algebra; this module picks the
kind, builds it and hands it the data.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
from ase import Atoms
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from mlcalc.descriptors import descriptor_settings
from mlcalc.potentials.kernel import KERNELS, GaussianProcessModel, KernelRidgeModel
from mlcalc.potentials.kernel_energy import GaussianProcessEnergyModel, KernelRidgeEnergyModel

__all__ = ["KernelFit", "PropertyKernelFit", "EnergyKernelFit", "fit_kernel_model", "fit_kernel_energy_model",
           "METHODS"]

#: how the dual coefficients are found: kernel ridge regression, or a GP (kernel hyperparameters by marginal
#: likelihood)
METHODS = ("krr", "gp")


class KernelFit(BaseModel):
    """What every kernel fit takes. ``alpha``: ridge / GP jitter in standardised units; ``gamma``: the KRR
    kernel's width (None: 1/n_features); ``elements``: atomic numbers (None: those in the structures)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    descriptor: dict[str, Any] = Field(default_factory=lambda: {"name": "soap"},
                                       description="DScribe descriptor settings (mlcalc.descriptors)")
    method: str = "krr"
    kernel: str = "rbf"
    alpha: float = Field(1e-8, ge=0)
    gamma: Optional[float] = Field(None, gt=0)
    standardise_features: bool = True
    elements: Optional[list[int]] = None
    progress: bool = False

    @field_validator("method", "kernel")
    @classmethod
    def _known(cls, value: str, info: ValidationInfo) -> str:
        what, choices = {"method": ("kernel method", METHODS), "kernel": ("kernel", KERNELS)}[info.field_name]
        if value not in choices:
            raise ValueError(f"unknown {what} {value!r}; choose from {', '.join(choices)}")
        return value

    @field_validator("descriptor")
    @classmethod
    def _valid_descriptor(cls, value: dict) -> dict:
        descriptor_settings(value)  # a one-line error naming the problem and the descriptors offered
        return value

    def species(self, structures: Sequence[Atoms]) -> list[int]:
        """The elements of the model: ``elements``, or every element in ``structures``."""
        return sorted(self.elements or {int(z) for a in structures for z in a.numbers})


class PropertyKernelFit(KernelFit):
    """A ``krr``/``gp`` property model: ``targets`` with their ``units`` (default eV) and whether each is
    ``extensive`` (default: intensive); ``cache``: descriptors cached on disk."""

    targets: list[str] = Field(min_length=1)
    units: Optional[list[str]] = None
    extensive: Optional[list[bool]] = None
    cache: bool = True
    progress: bool = True


class EnergyKernelFit(KernelFit):
    """A ``krr-energy``/``gp-energy`` model. ``force_weight`` > 0 (KRR only): forces fitted too, each component
    weighted so against one energy; ``atomref_start``: {Z: eV}, the atomrefs nearest to these (e.g. isolated
    atoms) among the least-squares solutions."""

    force_weight: float = Field(0.0, ge=0)
    atomref_start: Optional[dict[int, float]] = None


def fit_kernel_model(structures: Sequence[Atoms], values: np.ndarray, settings: PropertyKernelFit,
                     encoder=None) -> KernelRidgeModel | GaussianProcessModel:
    """A new ``krr`` or ``gp`` model fitted to ``values`` [n, n_targets] of ``structures``.

    ``encoder``: a trained :class:`~mlcalc.potentials.autoencoder.DescriptorAutoencoder` on this
    descriptor; the model then works on its latents and carries its weights.
    """
    targets = list(settings.targets)
    cls = KernelRidgeModel if settings.method == "krr" else GaussianProcessModel
    model = cls(elements=settings.species(structures), targets=targets,
                units=settings.units if settings.units is not None else ["eV"] * len(targets),
                extensive=settings.extensive if settings.extensive is not None else [False] * len(targets),
                descriptor=settings.descriptor, kernel=settings.kernel,
                encoder=encoder.hyperparameters() if encoder is not None else None)
    if encoder is not None:
        model.encoder.load_state_dict(encoder.state_dict())
        model.encoder.eval()
    model.fit(structures, values, alpha=settings.alpha, gamma=settings.gamma, cache=settings.cache,
              progress=settings.progress, standardise_features=settings.standardise_features)
    return model


def fit_kernel_energy_model(structures: Sequence[Atoms], settings: EnergyKernelFit,
                            energies: Optional[np.ndarray] = None,
                            forces: Optional[Sequence[np.ndarray]] = None
                            ) -> KernelRidgeEnergyModel | GaussianProcessEnergyModel:
    """A new ``krr-energy`` or ``gp-energy`` model fitted to ``energies`` (eV; default: the structures' labels).

    With ``force_weight`` > 0, ``forces`` (eV/Å, [n_atoms, 3] per structure; default: the labels) are fitted too.
    """
    if energies is None:
        energies = np.array([a.get_potential_energy() for a in structures])
    cls = KernelRidgeEnergyModel if settings.method == "krr" else GaussianProcessEnergyModel
    model = cls(elements=settings.species(structures), descriptor=settings.descriptor, kernel=settings.kernel)
    if settings.force_weight > 0 and forces is None:
        forces = [a.get_forces() for a in structures]
    model.fit(structures, energies, alpha=settings.alpha, gamma=settings.gamma,
              standardise_features=settings.standardise_features, progress=settings.progress, forces=forces,
              force_weight=settings.force_weight, atomref_start=settings.atomref_start)
    return model
