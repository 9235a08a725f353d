"""Which bonds and angles to measure: element patterns ("C-O", "C-C-O"), atom indices, named groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import MDAnalysis as mda
import numpy as np

__all__ = ["GeometrySelection", "parse_selection"]


@dataclass(frozen=True)
class GeometrySelection:
    """A set of bonds (2 atoms) or angles (3 atoms, vertex in the middle).

    Either ``pattern`` (element symbols, e.g. ``("C", "C", "O")``; matched in both
    directions) or ``indices`` (explicit atom-index tuples). ``next_to`` keeps only the
    terms with an atom bonded to that element (outside the term); ``away_from`` keeps
    only those with none, e.g. propanol's C-C bond next to the O and the far one.
    """

    name: str
    pattern: Optional[tuple[str, ...]] = None
    indices: Optional[tuple[tuple[int, ...], ...]] = None
    next_to: Optional[str] = None
    away_from: Optional[str] = None

    def __post_init__(self):
        if (self.pattern is None) == (self.indices is None):
            raise ValueError(f"selection {self.name!r}: give either an element pattern or atom indices")
        sizes = {len(self.pattern)} if self.pattern else {len(t) for t in self.indices}
        if len(sizes) != 1 or sizes.pop() not in (2, 3):
            raise ValueError(f"selection {self.name!r}: a bond has 2 atoms and an angle 3")

    @property
    def kind(self) -> str:
        return "bond" if self.size == 2 else "angle"

    @property
    def size(self) -> int:
        return len(self.pattern) if self.pattern else len(self.indices[0])

    @property
    def unit(self) -> str:
        return "Å" if self.kind == "bond" else "deg"

    def terms(self, universe: mda.Universe) -> np.ndarray:
        """The matching atom-index tuples [n_terms, 2 or 3] among the universe's bonds or angles."""
        if self.indices is not None:
            terms = np.array(self.indices, dtype=int)
            if terms.min() < 0 or terms.max() >= len(universe.atoms):
                raise ValueError(f"selection {self.name!r}: atom indices must lie in 0..{len(universe.atoms) - 1}")
            return terms
        group = universe.bonds if self.size == 2 else universe.angles
        candidates = group.indices if len(group) else np.zeros((0, self.size), dtype=int)
        elements = np.asarray(universe.atoms.elements)
        wanted = list(self.pattern)
        keep = []
        for term in candidates:
            symbols = list(elements[term])
            if symbols == wanted or symbols[::-1] == wanted:
                keep.append(term if symbols == wanted else term[::-1])
        terms = np.array(keep, dtype=int).reshape(-1, self.size)
        if self.next_to or self.away_from:
            terms = np.array([t for t in terms if self._neighbourhood_ok(universe, t)], dtype=int).reshape(-1, self.size)
        return terms

    def _neighbourhood_ok(self, universe: mda.Universe, term: np.ndarray) -> bool:
        neighbours = {int(b) for i in term for bond in universe.atoms[int(i)].bonds for b in bond.indices}
        outside = neighbours - {int(i) for i in term}
        elements = {str(universe.atoms[j].element) for j in outside}
        if self.next_to and self.next_to not in elements:
            return False
        return not (self.away_from and self.away_from in elements)


def parse_selection(spec: Any) -> GeometrySelection:
    """A selection from a config entry.

    ``"C-C-O"`` (element pattern); ``{"name": ..., "pattern": "C-C", "next_to": "O"}``;
    ``{"name": ..., "indices": [[0, 1], [1, 2]]}``.
    """
    if isinstance(spec, GeometrySelection):
        return spec
    if isinstance(spec, str):
        return GeometrySelection(name=spec, pattern=_pattern(spec))
    if not isinstance(spec, dict):
        raise ValueError(f"a selection is a pattern like 'C-O' or a mapping, got {spec!r}")
    unknown = set(spec) - {"name", "pattern", "indices", "next_to", "away_from"}
    if unknown:
        raise ValueError(f"unknown selection keys {sorted(unknown)}; "
                         "use name, pattern, indices, next_to, away_from")
    pattern = _pattern(spec["pattern"]) if spec.get("pattern") else None
    indices = tuple(tuple(int(i) for i in term) for term in spec["indices"]) if spec.get("indices") else None
    name = spec.get("name") or (spec.get("pattern") if pattern else f"indices {list(map(list, indices or []))}")
    return GeometrySelection(name=name, pattern=pattern, indices=indices, next_to=spec.get("next_to"),
                             away_from=spec.get("away_from"))


def _pattern(text: str) -> tuple[str, ...]:
    from ase.data import chemical_symbols

    parts = tuple(p.strip() for p in str(text).split("-"))
    bad = [p for p in parts if p not in chemical_symbols[1:]]
    if bad or len(parts) not in (2, 3):
        raise ValueError(f"bad element pattern {text!r}: use 2 or 3 element symbols joined by '-', e.g. 'C-O' or "
                         "'C-C-O'")
    return parts
