"""Classic per-structure descriptors from DScribe: Coulomb matrix, ACSF and SOAP, cached and de-duplicated.

:func:`featurise` turns a list of ASE ``Atoms`` into a feature matrix [n_structures, n_features]
(float64) with a progress bar, caching chunks on disk under ``cache_dir()/descriptors`` so
that an interrupted run resumes. :func:`structure_hash` (sha1 of atomic numbers, rounded
positions and cell) finds duplicates; :func:`drop_duplicates` keeps the first of each.
:func:`standardised` scales features per column (the kernel models and autoencoders share it).

Descriptors (``DescriptorSettings.name``):

- ``coulomb_matrix``: ``permutation="sorted_l2"`` (rows sorted by norm, flattened,
  n_atoms_max² features), ``"eigenspectrum"`` (n_atoms_max eigenvalues) or ``"none"``
  (atoms in input order: for conformations of one molecule, smooth in the positions).
- ``acsf``: Behler-Parrinello radial G2 and angular G4 functions with a cosine cutoff
  ``r_cut`` (Å), averaged over the structure's atoms.
- ``soap``: SOAP power spectrum averaged over atoms (``average="inner"``).

dscribe is imported inside functions only (``import mlcalc`` stays light).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal, Optional, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlcalc.data.cache import cache_dir

__all__ = ["DescriptorSettings", "DESCRIPTORS", "descriptor_settings", "structure_hash", "drop_duplicates",
           "featurise", "descriptor_and_derivatives", "dscribe_descriptor", "standardised"]

DESCRIPTORS = ("coulomb_matrix", "acsf", "soap")
#: structures per cached chunk
CHUNK = 500


class DescriptorSettings(BaseModel):
    """What to compute; fields that a descriptor does not use are ignored by it."""

    model_config = ConfigDict(extra="forbid")
    name: Literal["coulomb_matrix", "acsf", "soap"]
    #: Coulomb matrix: largest number of atoms (QM9: 29)
    n_atoms_max: int = Field(29, ge=1)
    permutation: Literal["sorted_l2", "eigenspectrum", "none"] = "sorted_l2"
    #: ACSF / SOAP cutoff radius, Å
    r_cut: float = Field(5.0, gt=0)
    #: ACSF G2 (eta 1/Å², R_s Å) pairs and G4 (eta 1/Å², zeta, lambda) triples
    g2_params: list[tuple[float, float]] = [(0.5, 0.0), (1.0, 0.0), (2.0, 0.0), (4.0, 0.0)]
    g4_params: list[tuple[float, float, float]] = [(0.05, 1.0, 1.0), (0.05, 1.0, -1.0),
                                                   (0.05, 4.0, 1.0), (0.05, 4.0, -1.0)]
    #: SOAP basis size and Gaussian width (Å)
    n_max: int = Field(4, ge=1)
    l_max: int = Field(3, ge=0)
    sigma: float = Field(0.5, gt=0)


def descriptor_settings(settings: dict | DescriptorSettings) -> DescriptorSettings:
    """Validated settings; a one-line ValueError names the problem and the descriptors offered."""
    if isinstance(settings, DescriptorSettings):
        return settings
    try:
        return DescriptorSettings(**settings)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"bad descriptor settings ({where}: {first['msg']}); descriptors: "
                         f"{', '.join(DESCRIPTORS)}") from None
    except TypeError as err:
        raise ValueError(f"descriptor settings must be a mapping with a 'name' in {DESCRIPTORS}: {err}") from None


def standardised(raw: np.ndarray, on: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features [n, d] scaled to zero mean and unit variance per column (constant columns keep width 1),
    and the mean and width used; ``on=False``: unchanged (mean 0, width 1)."""
    mean, width = raw.mean(axis=0), raw.std(axis=0)
    width[width < 1e-12] = 1.0
    if not on:
        mean, width = np.zeros_like(mean), np.ones_like(width)
    return (raw - mean) / width, mean, width


def structure_hash(atoms, decimals: int = 6) -> str:
    """sha1 hex digest of the atomic numbers, positions rounded to ``decimals`` Å, cell and pbc."""
    h = hashlib.sha1()
    h.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    h.update(np.round(np.asarray(atoms.positions, dtype=np.float64), decimals).tobytes() + b"|")
    h.update(np.round(np.asarray(atoms.cell.array, dtype=np.float64), decimals).tobytes())
    h.update(np.asarray(atoms.pbc, dtype=np.int8).tobytes())
    return h.hexdigest()


def drop_duplicates(structures: Sequence) -> tuple[list, np.ndarray]:
    """The structures with repeats (same :func:`structure_hash`) removed, and the indices kept (first of each)."""
    seen: set[str] = set()
    kept = []
    for k, atoms in enumerate(structures):
        key = structure_hash(atoms)
        if key not in seen:
            seen.add(key)
            kept.append(k)
    return [structures[k] for k in kept], np.asarray(kept, dtype=np.int64)


def dscribe_descriptor(settings: DescriptorSettings, species: Sequence[int]):
    """The DScribe descriptor object for ``settings`` over the elements ``species``."""
    species = sorted(int(z) for z in species)
    if settings.name == "coulomb_matrix":
        from dscribe.descriptors import CoulombMatrix

        return CoulombMatrix(n_atoms_max=settings.n_atoms_max, permutation=settings.permutation)
    if settings.name == "acsf":
        from dscribe.descriptors import ACSF

        return ACSF(species=species, r_cut=settings.r_cut, g2_params=[list(p) for p in settings.g2_params],
                    g4_params=[list(p) for p in settings.g4_params])
    from dscribe.descriptors import SOAP

    return SOAP(species=species, r_cut=settings.r_cut, n_max=settings.n_max, l_max=settings.l_max,
                sigma=settings.sigma, average="inner", periodic=False)


def _compute(descriptor, settings: DescriptorSettings, structures: Sequence) -> np.ndarray:
    rows = []
    for atoms in structures:
        if settings.name == "coulomb_matrix" and len(atoms) > settings.n_atoms_max:
            raise ValueError(f"{atoms.get_chemical_formula()} has {len(atoms)} atoms, more than the Coulomb "
                             f"matrix's n_atoms_max={settings.n_atoms_max}")
        features = np.asarray(descriptor.create(atoms), dtype=np.float64)
        rows.append(features.mean(axis=0) if settings.name == "acsf" else features.reshape(-1))
    return np.stack(rows) if rows else np.zeros((0, 0))


def descriptor_and_derivatives(atoms, settings: dict | DescriptorSettings, species: Sequence[int],
                               descriptor=None) -> tuple[np.ndarray, np.ndarray]:
    """One structure's descriptor [n_features] and its derivatives d x / d r [n_atoms, 3, n_features] (DScribe).

    The same vector as a row of :func:`featurise`. DScribe computes the derivatives
    analytically where it can, else by central differences. ``descriptor``: a DScribe
    object for these settings and species, to reuse (built when None).
    """
    settings = descriptor_settings(settings)
    if descriptor is None:
        descriptor = dscribe_descriptor(settings, species)
    if settings.name == "coulomb_matrix" and len(atoms) > settings.n_atoms_max:
        raise ValueError(f"{atoms.get_chemical_formula()} has {len(atoms)} atoms, more than the Coulomb "
                         f"matrix's n_atoms_max={settings.n_atoms_max}")
    if settings.name == "coulomb_matrix":
        d, x = descriptor.derivatives(atoms)
        return np.asarray(x, np.float64).reshape(-1), np.asarray(d, np.float64).reshape(len(atoms), 3, -1)
    # centres move with their atoms (attach=True); DScribe's default keeps them fixed in space
    d, x = descriptor.derivatives(atoms, attach=True)
    d, x = np.asarray(d, np.float64), np.asarray(x, np.float64)
    if settings.name == "acsf":  # per-atom functions, averaged as in featurise
        return x.mean(axis=0), d.mean(axis=0)
    return x.reshape(-1), d.reshape(len(atoms), 3, -1)


def featurise(structures: Sequence, settings: dict | DescriptorSettings, species: Sequence[int],
              cache: bool | str | Path = True, progress: bool = True) -> np.ndarray:
    """Per-structure descriptors, float64 [n_structures, n_features].

    ``species``: atomic numbers the descriptor knows (all structures' elements must be
    among them). ``cache``: True for ``cache_dir()/descriptors``, a folder, or False;
    chunks of :data:`CHUNK` structures are stored as ``.npy`` keyed by a sha1 of the
    settings, species and the chunk's structure hashes, so a killed run resumes.
    """
    settings = descriptor_settings(settings)
    species = sorted(int(z) for z in species)
    unknown = sorted({int(z) for a in structures for z in a.numbers} - set(species))
    if unknown:
        raise ValueError(f"structures contain elements {unknown} outside the descriptor's species {species}")
    folder: Optional[Path] = None
    if cache:
        folder = cache_dir() / "descriptors" if cache is True else Path(cache)
        folder.mkdir(parents=True, exist_ok=True)
    from tqdm.auto import tqdm

    descriptor = dscribe_descriptor(settings, species)
    stamp = json.dumps({"settings": settings.model_dump(), "species": species, "version": 1}, sort_keys=True)
    blocks = []
    bar = tqdm(total=len(structures), desc=f"{settings.name} descriptors", disable=not progress, unit="mol")
    for start in range(0, len(structures), CHUNK):
        chunk = structures[start:start + CHUNK]
        path = None
        if folder is not None:
            key = hashlib.sha1((stamp + "".join(structure_hash(a) for a in chunk)).encode()).hexdigest()
            path = folder / f"{key}.npy"
            if path.exists():
                blocks.append(np.load(path))
                bar.update(len(chunk))
                continue
        block = _compute(descriptor, settings, chunk)
        if path is not None:
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, block)
            tmp.replace(path)
        blocks.append(block)
        bar.update(len(chunk))
    bar.close()
    return np.concatenate(blocks) if blocks else np.zeros((0, 0))
