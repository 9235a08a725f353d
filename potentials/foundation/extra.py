"""The optional packages behind the foundation kinds, imported only when a model is built or imported."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXTRA", "MissingExtraError", "require"]

#: the pyproject extra that installs the foundation packages
EXTRA = "foundation"


class MissingExtraError(ImportError):
    """A foundation kind was asked for without its package installed (one-line message naming the extra)."""


def require(module: str, distribution: str, kind: str) -> ModuleType:
    """``import module``; a missing one is a :class:`MissingExtraError` naming the ``foundation`` extra."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtraError(
            f"the {kind!r} model kind needs the package {distribution}, which is not installed ({err.name or module}): "
            f"pip install 'mlcalc[{EXTRA}]'") from None
