"""The GFN2-xTB reference calculator (tblite). Reference data: :func:`mlcalc.md.generate_reference`."""

from __future__ import annotations

__all__ = ["MD_ACCURACY", "xtb_calculator"]

#: tblite's ``accuracy`` for reference MD (lower is tighter; tblite's default is 1.0). At 1.0 the SCF
#: tolerance makes NVE drift (ethanol at 300 K: -0.14 meV/atom/ps, about half the kinetic energy's
#: standard deviation over 10 ps); at 0.1 the drift is below 0.001 meV/atom/ps for 7 % more time per step.
MD_ACCURACY = 0.1


def xtb_calculator(method: str = "GFN2-xTB", **options):
    """A tblite ASE calculator (install mlcalc[tblite]); ``options``: tblite's (e.g. ``multiplicity``, ``accuracy``)."""
    try:
        from tblite.ase import TBLite
    except ImportError:
        raise ImportError("reference data needs tblite: pip install 'mlcalc[tblite]'") from None
    return TBLite(method=method, verbosity=0, **options)
