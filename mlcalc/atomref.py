"""Per-element reference energies (atomrefs, eV) of an energy model: E = Σ_i atomref[z_i] + the learned rest.

Least squares of total energies on element counts determines every element only when the
training compositions span the elements (rank of the [structures, elements] count matrix =
number of elements). Trained on one molecule it does not: the minimum-norm solution
spreads the total energy over the elements in proportion to their counts, and a model of
ethanol is then tens of eV off for any other composition. The method's isolated-atom
energies (:mod:`mlcalc.data.isolated_atoms`) fix the undetermined part: the atomrefs are
the least-squares solution nearest to them (with a full rank, the plain least squares).
"""

from __future__ import annotations

import logging
from typing import Literal, Sequence

import numpy as np
from ase import Atoms

__all__ = ["ATOMREF_METHODS", "compositions", "composition_rank", "fit_atomref", "choose_atomref", "rereferenced"]

#: values of the training option ``data.atomref``
ATOMREF_METHODS = ("auto", "least_squares", "isolated_atoms")

_log = logging.getLogger(__name__)


def compositions(structures: Sequence[Atoms]) -> tuple[list[int], np.ndarray]:
    """``(elements, counts)``: the sorted atomic numbers in ``structures`` and the [structures, elements] count
    matrix. A sequence with an ``element_counts()`` method (a frame folder's frames) gives them from its arrays,
    without an Atoms object per frame."""
    if hasattr(structures, "element_counts"):
        return structures.element_counts()
    elements = sorted({int(z) for a in structures for z in a.numbers})
    return elements, _counts(structures, elements)


def _energies(structures: Sequence[Atoms]) -> np.ndarray:
    """Total energies (eV) of labelled structures (from the arrays of a sequence with ``energies()``)."""
    if hasattr(structures, "energies"):
        return structures.energies()
    return np.array([a.get_potential_energy() for a in structures])


def composition_rank(structures: Sequence[Atoms]) -> tuple[list[int], int]:
    """``(elements, rank)``: the sorted atomic numbers in ``structures`` and the rank of their count matrix."""
    elements, counts = compositions(structures)
    return elements, int(np.linalg.matrix_rank(counts))


def fit_atomref(structures: Sequence[Atoms], start: dict[int, float] | None = None) -> dict[int, float]:
    """Per-element energies (eV) by least squares of total energies on element counts.

    ``start`` ({z: eV}, e.g. isolated-atom energies): of the least-squares solutions, the one
    nearest to it (only differs when the compositions leave elements undetermined). Without
    it, the minimum-norm solution.
    """
    elements, counts = compositions(structures)
    return _nearest(elements, counts, _energies(structures), start)


def rereferenced(atomref: dict[int, float], compositions: Sequence[Atoms], start: dict[int, float]) -> dict[int, float]:
    """Atomrefs with the same sum as ``atomref`` for every structure in ``compositions`` (a trained
    model's outputs on its training compositions do not change), nearest to ``start`` (e.g. the
    isolated-atom energies): a model trained on one composition with minimum-norm atomrefs gets
    usable absolute energies on other compositions without retraining.
    """
    elements = sorted(atomref)
    counts = _counts(compositions, elements)
    return _nearest(elements, counts, counts @ np.array([atomref[z] for z in elements]), start)


def _counts(structures: Sequence[Atoms], elements: Sequence[int]) -> np.ndarray:
    return np.array([[np.count_nonzero(a.numbers == z) for z in elements] for a in structures], dtype=float)


def _nearest(elements: Sequence[int], counts: np.ndarray, energies: np.ndarray,
             start: dict[int, float] | None) -> dict[int, float]:
    """The least-squares solution of counts · a = energies nearest to ``start`` (minimum norm without it)."""
    origin = np.array([start[z] for z in elements]) if start is not None else np.zeros(len(elements))
    shift, *_ = np.linalg.lstsq(counts, energies - counts @ origin, rcond=None)
    return {z: float(c) for z, c in zip(elements, origin + shift)}


def choose_atomref(structures: Sequence[Atoms], method: Literal["auto", "least_squares", "isolated_atoms"] = "auto",
                   reference: str | None = None) -> tuple[dict[int, float], dict]:
    """The atomrefs (eV) for training on ``structures`` and a record of how they were made.

    ``method``: ``least_squares`` (minimum norm), ``isolated_atoms`` (least squares nearest to
    ``reference``'s isolated-atom energies, e.g. "gfn2-xtb"), or ``auto``: least squares when
    the compositions determine every element, else isolated atoms (least squares with a
    warning when ``reference`` is None or has no isolated-atom energies). The record: ``method``, ``reference``, ``elements``,
    ``rank``, ``isolated_atom_eV`` (when used).
    """
    if method not in ATOMREF_METHODS:
        raise ValueError(f"unknown atomref method {method!r}; choose one of {', '.join(ATOMREF_METHODS)}")
    from mlcalc.data.isolated_atoms import REFERENCE_METHODS, isolated_atom_energies

    elements, rank = composition_rank(structures)
    if method == "auto":
        method = "least_squares" if rank == len(elements) else "isolated_atoms"
        if method == "isolated_atoms" and str(reference).lower() not in REFERENCE_METHODS:
            _log.warning("the training compositions determine %d of %d element energies and the reference method "
                         "is %s (set data.reference: gfn2-xtb or gfn1-xtb): atomrefs by least squares; energies "
                         "of other compositions will be off", rank, len(elements),
                         "unknown" if reference is None else f"{reference!r}, which has no isolated-atom energies")
            method = "least_squares"
    record = {"method": method, "reference": reference, "elements": elements, "rank": rank}
    if method == "least_squares":
        return fit_atomref(structures), record
    if reference is None:
        raise ValueError("atomref isolated_atoms needs the reference method that labelled the data "
                         "(data.reference: gfn2-xtb or gfn1-xtb)")
    atoms = isolated_atom_energies(reference, elements)
    record["isolated_atom_eV"] = {str(z): e for z, e in atoms.items()}
    return fit_atomref(structures, start=atoms), record
