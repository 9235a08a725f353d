"""The CoRE MOF database (metal-organic frameworks, CIFs and geometric properties) from the ``core-mof`` package.

Datasets ``2019-ASR`` (12,020 MOFs, all solvent removed), ``2019-FSR`` (7,061, free
solvent removed) and ``2014`` (4,764; no property table). Properties (Zeo++) with
their units in :data:`COREMOF_UNITS`. A seeded random subset of the MOFs with a value
of the chosen property is parsed with pymatgen straight from the package's archive
(nothing is downloaded) and cached with its graphs (:func:`mlcalc.data.crystals.build_crystal_set`).
"""

from __future__ import annotations

import math
import os
import tarfile
import warnings
from importlib import resources
from typing import Iterator, Sequence

import numpy as np
from ase import Atoms

from mlcalc.data.crystals import CrystalSet, Rejected, build_crystal_set, structure_to_atoms

__all__ = ["COREMOF_DATASETS", "COREMOF_UNITS", "coremof_properties", "load_coremof", "check_coremof_target"]

COREMOF_DATASETS = ("2019-ASR", "2019-FSR", "2014")

#: property column -> unit (LCD: largest cavity diameter, PLD: pore limiting diameter, LFPD: largest free
#: sphere along the free path, cm3_g: density, ASA/NASA: (non-)accessible surface area, AV: accessible volume,
#: AV_VF: void fraction, NAV: non-accessible volume)
COREMOF_UNITS = {"LCD": "Å", "PLD": "Å", "LFPD": "Å", "cm3_g": "g/cm^3", "ASA_m2_cm3": "m^2/cm^3",
                 "ASA_m2_g": "m^2/g", "NASA_m2_cm3": "m^2/cm^3", "NASA_m2_g": "m^2/g", "AV_VF": "1",
                 "AV_cm3_g": "cm^3/g", "NAV_cm3_g": "cm^3/g"}


def _package():
    try:
        import CoRE_MOF
    except ImportError:
        raise ImportError("CoRE MOF data needs the core-mof package: pip install core-mof") from None
    return CoRE_MOF


def check_coremof_target(dataset: str, target: str) -> None:
    """ValueError naming the valid datasets or properties when ``dataset``/``target`` is not one."""
    if dataset not in COREMOF_DATASETS:
        raise ValueError(f"unknown CoRE MOF dataset {dataset!r}; choose one of {', '.join(COREMOF_DATASETS)}")
    if dataset == "2014":
        raise ValueError("the CoRE MOF 2014 dataset ships no property table; use 2019-ASR or 2019-FSR")
    if target not in COREMOF_UNITS:
        raise ValueError(f"unknown CoRE MOF property {target!r}; choose one of {', '.join(COREMOF_UNITS)}")


def coremof_properties(dataset: str, target: str) -> dict[str, float]:
    """MOF name -> value of ``target`` in ``dataset`` (MOFs without a value left out)."""
    check_coremof_target(dataset, target)
    table = _package().get_properties(dataset)
    values = table[["filename", target]].dropna()
    return {str(k): float(v) for k, v in zip(values["filename"], values[target]) if math.isfinite(float(v))}


def _atom_sites(cif: str) -> int:
    """Rows of the CIF's atom-site loop (a lower bound of the atoms in the cell), read without building the structure."""
    from pymatgen.io.cif import CifFile

    blocks = list(CifFile.from_str(cif).data.values())
    return len(blocks[0].data.get("_atom_site_label", [])) if blocks else 0


def _reader(dataset: str, max_atoms: int | None):
    def read(ids: Sequence[str]) -> Iterator[tuple[str, Atoms | Exception]]:
        from pymatgen.core import Structure

        wanted = set(ids)
        found: dict[str, bytes] = {}
        path = resources.files(_package().data) / f"{dataset}.tar.xz"
        with tarfile.open(path, "r") as tar:
            for member in tar:
                name = member.name.split("/")[-1].removesuffix(".cif")
                if member.isfile() and member.name.endswith(".cif") and name in wanted:
                    found[name] = tar.extractfile(member).read()
                    if len(found) == len(wanted):
                        break
        for name in ids:
            try:
                if name not in found:
                    raise KeyError(f"{name}.cif is not in the {dataset} archive")
                text = found[name].decode("utf-8", errors="replace")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    # cheap pre-check: a CIF with more atom sites than max_atoms has at least that many atoms
                    sites = _atom_sites(text) if max_atoms is not None else 0
                    if max_atoms is not None and sites > max_atoms:
                        yield name, Rejected(f"{sites} atom sites > max_atoms {max_atoms}")
                        continue
                    structure = Structure.from_str(text, fmt="cif")
                yield name, structure_to_atoms(structure)
            except Exception as err:  # any parse failure: report the MOF and go on
                yield name, err
    return read


def load_coremof(dataset: str, target: str, subset: int | None, seed: int, radius: float,
                 max_neighbors: int | None, max_atoms: int | None = None, cache: str | os.PathLike | None = None,
                 progress: bool = True) -> CrystalSet:
    """``subset`` MOFs (None: all) with a value of ``target``, drawn in a seeded random order.

    MOFs that cannot be parsed or have more than ``max_atoms`` atoms are skipped (listed
    in ``skipped``) and the next ones in the seeded order are taken instead.
    """
    from importlib.metadata import version

    values = coremof_properties(dataset, target)
    names = sorted(values)
    order = [names[k] for k in np.random.default_rng(seed).permutation(len(names))]
    if subset is not None and not 0 < subset <= len(order):
        raise ValueError(f"subset must be between 1 and {len(order)} MOFs with a {target} value, got {subset}")
    return build_crystal_set(order, values, _reader(dataset, max_atoms), radius, max_neighbors,
                             key={"source": "coremof", "dataset": dataset, "target": target, "seed": seed,
                                  "version": version("core-mof")},
                             want=subset, max_atoms=max_atoms, cache=cache, progress=progress,
                             source=f"CoRE MOF {dataset} (core-mof {version('core-mof')})")
