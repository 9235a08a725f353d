"""Helpers for testing models: tiny models, symmetry checks and finite differences.

Shipped with the package so that users can check their own models the same way.
"""

from __future__ import annotations

from importlib import import_module

import numpy as np
import torch
from ase import Atoms
from scipy.spatial.transform import Rotation

from mlcalc.model import create_model
from mlcalc.testing.property_models import tiny_property_model

__all__ = ["tiny_potential", "tiny_property_model", "random_rotation", "finite_difference_forces",
           "finite_difference_stress", "symmetry_errors", "with_random_biases", "forbid_unpickling"]

_TINY = {
    "torchmdnet-et": {"hidden_channels": 16, "num_layers": 2, "num_rbf": 8, "num_heads": 2},
    "torchmdnet-tensornet": {"hidden_channels": 16, "num_layers": 1, "num_rbf": 8},
    "bpnn": {"angular_cutoff": 3.0, "radial_shifts": 6, "angular_shifts": 3, "angular_sections": 4, "hidden": [16, 8]},
    "krr-energy": {"descriptor": {"name": "soap", "r_cut": 4.0, "n_max": 2, "l_max": 2}, "kernel": "rbf",
                   "kernel_params": {"gamma": 0.005}},
    "gp-energy": {"descriptor": {"name": "soap", "r_cut": 4.0, "n_max": 2, "l_max": 2}, "kernel": "rbf",
                  "kernel_params": {"amplitude": 1.0, "length_scale": 10.0}},
}
#: kinds of the foundation extra, whose modules give a ``tiny_config(elements, cutoff)``
_FOUNDATION = ("sevennet", "chgnet")


def tiny_potential(kind: str = "torchmdnet-et", elements=(1, 6, 8), cutoff: float = 4.0, seed: int = 0,
                   periodic: bool = False, **hyperparameters):
    """A small randomly initialised energy model (seeded) with atomrefs set.

    ``hyperparameters`` override the tiny settings. ``kind="sum"``: a TensorNet (``cutoff``) plus an ET (0.75 × ``cutoff``), so that the
    members see different neighborhoods. ``kind="ensemble"``: three ETs seeded ``seed``, ``seed + 1``, ``seed + 2``.
    """
    if kind == "ensemble":
        members = [tiny_potential("torchmdnet-et", elements, cutoff, seed + k, periodic, **hyperparameters)
                   for k in range(3)]
        return create_model("ensemble", members=members)
    if kind == "sum":
        members = [tiny_potential("torchmdnet-tensornet", elements, cutoff, seed, periodic),
                   tiny_potential("torchmdnet-et", elements, 0.75 * cutoff, seed + 1, periodic)]
        return create_model("sum", members=members)
    if kind in _FOUNDATION:  # the foundation extra's kinds: a tiny configuration of the package's network
        from mlcalc.model import model_class

        hyperparameters = {"config": import_module(model_class(kind).__module__).tiny_config(elements, cutoff),
                           **hyperparameters}
    elif kind not in _TINY:
        raise ValueError(f"no tiny settings for energy-model kind {kind!r}; "
                         f"choose from sum, ensemble, {', '.join(_FOUNDATION)}, {', '.join(_TINY)}")
    torch.manual_seed(seed)
    settings = {**_TINY.get(kind, {}), **hyperparameters}
    if kind in ("krr-energy", "gp-energy"):  # 4 random training descriptors of the right length and random coefficients
        from mlcalc.descriptors import featurise

        n_features = featurise([Atoms(numbers=list(elements), positions=np.eye(3)[[k % 3 for k in range(len(elements))]]
                                      * (1 + np.arange(len(elements)))[:, None])],
                               settings["descriptor"], elements, cache=False, progress=False).shape[1]
        settings = {"n_train": 4, "n_features": n_features, **settings}
    model = create_model(kind, elements=list(elements), cutoff=cutoff, periodic=periodic, **settings)
    if kind in ("krr-energy", "gp-energy"):
        with torch.no_grad():
            model.train_x.normal_()
            model.dual.normal_()
    model.set_atomref({z: -float(z) for z in elements})
    return model


def with_random_biases(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """``model`` with every bias drawn from N(0, 0.5²), in place: fresh networks have zero biases,
    random ones make derivative and symmetry checks see every term."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("bias"):
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    return model


def forbid_unpickling(monkeypatch) -> None:
    """Make ``pickle.load(s)`` and ``torch.load`` raise for the rest of a test (pytest's ``monkeypatch``)."""
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("a model file was unpickled")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)


def random_rotation(seed: int = 0) -> np.ndarray:
    """A random proper rotation matrix [3, 3]."""
    return Rotation.random(random_state=seed).as_matrix()


def finite_difference_forces(atoms: Atoms, h: float = 1e-4) -> np.ndarray:
    """-dE/dr by central differences with ``atoms.calc``, [n_atoms, 3] eV/Å."""
    calc = _calc_of(atoms)
    atoms = atoms.copy()
    atoms.calc = calc
    forces = np.zeros((len(atoms), 3))
    for i in range(len(atoms)):
        for k in range(3):
            pos = atoms.positions.copy()
            pos[i, k] += h
            atoms.positions = pos
            e_plus = atoms.get_potential_energy()
            pos[i, k] -= 2 * h
            atoms.positions = pos
            e_minus = atoms.get_potential_energy()
            pos[i, k] += h
            atoms.positions = pos
            forces[i, k] = -(e_plus - e_minus) / (2 * h)
    return forces


def finite_difference_stress(atoms: Atoms, h: float = 1e-5) -> np.ndarray:
    """(1/V) dE/dε by central differences of symmetric strains, Voigt [6] eV/Å³."""
    calc = _calc_of(atoms)
    atoms = atoms.copy()
    atoms.calc = calc
    cell0 = atoms.cell.array.copy()
    volume = atoms.get_volume()
    full = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            energies = []
            for sign in (1, -1):
                strain = np.eye(3)
                strain[a, b] += sign * h / 2
                strain[b, a] += sign * h / 2
                atoms.set_cell(cell0 @ strain, scale_atoms=True)
                energies.append(atoms.get_potential_energy())
            atoms.set_cell(cell0, scale_atoms=True)
            full[a, b] = (energies[0] - energies[1]) / (2 * h) / volume
    return full[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]


def symmetry_errors(atoms: Atoms, seed: int = 0) -> dict[str, float]:
    """Largest energy/force changes under a rotation, a translation and a permutation.

    Returns ``{"rotation_energy", "rotation_forces", "translation_energy",
    "translation_forces", "permutation_energy", "permutation_forces"}`` in eV and eV/Å;
    forces are compared after rotating/permuting them back (equivariance).
    """
    calc = _calc_of(atoms)
    ref = atoms.copy()
    ref.calc = calc
    e0, f0 = ref.get_potential_energy(), ref.get_forces()
    rng = np.random.default_rng(seed)
    R = random_rotation(seed)
    out: dict[str, float] = {}

    def compare(name, other, f_back):
        other.calc = calc
        out[f"{name}_energy"] = abs(other.get_potential_energy() - e0)
        out[f"{name}_forces"] = float(np.abs(f_back(other.get_forces()) - f0).max())

    rotated = ref.copy()
    rotated.positions = ref.positions @ R.T
    if ref.pbc.any():
        rotated.set_cell(ref.cell.array @ R.T, scale_atoms=False)
    compare("rotation", rotated, lambda f: f @ R)
    moved = ref.copy()
    moved.positions = ref.positions + rng.normal(size=3) * 3.0
    compare("translation", moved, lambda f: f)
    perm = rng.permutation(len(ref))
    permuted = ref[perm]
    inverse = np.argsort(perm)
    compare("permutation", permuted, lambda f: f[inverse])
    return out


def _calc_of(atoms: Atoms):
    if atoms.calc is None:
        raise ValueError("attach a calculator to the Atoms first")
    return atoms.calc
