"""Bond-length and bond-angle distributions over a trajectory (MDAnalysis ``AnalysisBase``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import MDAnalysis as mda
import numpy as np
from MDAnalysis.analysis.base import AnalysisBase
from MDAnalysis.lib.distances import calc_angles, calc_bonds

from .selections import GeometrySelection, parse_selection

__all__ = ["Distribution", "GeometryDistributions", "pool_distributions"]


@dataclass
class Distribution:
    """All samples of one selection: ``values`` [n_frames, n_terms] in Å or degrees."""

    name: str
    kind: str
    unit: str
    terms: np.ndarray
    values: np.ndarray

    @property
    def samples(self) -> np.ndarray:
        return self.values.reshape(-1)

    @property
    def mean(self) -> float:
        return float(np.mean(self.samples))

    @property
    def std(self) -> float:
        return float(np.std(self.samples))

    def histogram(self, edges: np.ndarray) -> np.ndarray:
        """Probability density on the bin ``edges`` (integrates to 1 over samples inside them)."""
        density, _ = np.histogram(self.samples, bins=edges, density=True)
        return density


def pool_distributions(replicas: Sequence[dict[str, Distribution]]) -> dict[str, Distribution]:
    """One distribution per selection from several runs of the same molecule (their frames stacked)."""
    pooled: dict[str, Distribution] = {}
    for name in dict.fromkeys(n for runs in replicas for n in runs):
        parts = [runs[name] for runs in replicas if name in runs]
        first = parts[0]
        pooled[name] = Distribution(name, first.kind, first.unit, first.terms,
                                    np.concatenate([p.values for p in parts], axis=0))
    return pooled


class GeometryDistributions(AnalysisBase):
    """Distributions of bond lengths and angles chosen by :class:`GeometrySelection`.

    ``selections``: patterns like ``"C-O"`` / ``"C-C-O"``, mappings (see
    :func:`parse_selection`) or selections. Bonds and angles come from the universe's
    topology (guessed from its first frame). After :meth:`run`,
    ``results.distributions`` maps each selection name to a :class:`Distribution`.
    A selection that matches nothing raises a ``ValueError`` naming it, or with
    ``skip_missing=True`` is left out and named in ``self.missing``.
    """

    def __init__(self, universe: mda.Universe, selections: Sequence[Any], skip_missing: bool = False, **kwargs):
        super().__init__(universe.trajectory, **kwargs)
        self.universe = universe
        self.selections: list[GeometrySelection] = [parse_selection(s) for s in selections]
        names = [s.name for s in self.selections]
        if len(set(names)) != len(names):
            raise ValueError(f"selection names must be unique, got {names}")
        self._terms, self.missing = {}, []
        for sel in self.selections:
            terms = sel.terms(universe)
            if len(terms) == 0 and not skip_missing:
                elements = ", ".join(sorted(set(universe.atoms.elements)))
                raise ValueError(f"selection {sel.name!r} matches no {sel.kind} in this molecule (elements {elements})")
            if len(terms) == 0:
                self.missing.append(sel.name)
            else:
                self._terms[sel.name] = terms
        self.selections = [s for s in self.selections if s.name in self._terms]

    def _prepare(self):
        self._values = {name: [] for name in self._terms}

    def _single_frame(self):
        positions = self._ts.positions.astype(np.float64)
        box = self._ts.dimensions
        for sel in self.selections:
            t = self._terms[sel.name]
            if sel.kind == "bond":
                value = calc_bonds(positions[t[:, 0]], positions[t[:, 1]], box=box)
            else:
                value = np.degrees(calc_angles(positions[t[:, 0]], positions[t[:, 1]], positions[t[:, 2]], box=box))
            self._values[sel.name].append(np.atleast_1d(value))

    def _conclude(self):
        self.results.distributions = {
            sel.name: Distribution(sel.name, sel.kind, sel.unit, self._terms[sel.name],
                                   np.array(self._values[sel.name]))
            for sel in self.selections
        }
