"""The GFN2-xTB reference calculator (tblite). Reference data: :func:`mlcalc.md.generate_reference`."""

from __future__ import annotations

__all__ = ["xtb_calculator"]


def xtb_calculator(method: str = "GFN2-xTB", **options):
    """A tblite ASE calculator (install mlcalc[tblite]); ``options``: tblite's (e.g. ``multiplicity``)."""
    try:
        from tblite.ase import TBLite
    except ImportError:
        raise ImportError("reference data needs tblite: pip install 'mlcalc[tblite]'") from None
    return TBLite(method=method, verbosity=0, **options)
