"""The registry of model kinds: the ``kind`` stored in a model file -> the class that rebuilds it.

Kinds register with the :func:`register_kind` decorator when their module is imported.
Core code never imports model modules itself: the first lookup of an unknown kind loads
the plugins once, mlcalc's own (:mod:`mlcalc.potentials`) and those that other packages
declare under the ``mlcalc.models`` entry-point group.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, Callable, TypeVar

__all__ = ["FAMILIES", "register_kind", "model_class", "create_model", "model_from_spec", "known_kinds", "family_of"]

#: what a model predicts, and so how MLCalc evaluates it: total energy (forces and stress
#: by autograd) or per-structure properties
FAMILIES = ("energy", "property")
#: modules imported on the first lookup (they register mlcalc's own kinds)
BUILTIN_PLUGINS = ("mlcalc.potentials",)
ENTRY_POINT_GROUP = "mlcalc.models"

_KINDS: dict[str, type] = {}
_plugins_loaded = False
T = TypeVar("T", bound=type)


def register_kind(kind: str) -> Callable[[T], T]:
    """Class decorator: make a model class buildable from its ``kind`` name (sets ``cls.kind``)."""
    def decorate(cls: T) -> T:
        family = getattr(cls, "family", "")
        if family not in FAMILIES:
            raise TypeError(f"{cls.__name__} has family {family!r}; a model kind needs one of {', '.join(FAMILIES)}")
        known = _KINDS.get(kind)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ValueError(f"model kind {kind!r} is registered already (by {known.__module__}.{known.__name__})")
        cls.kind = kind
        _KINDS[kind] = cls
        return cls
    return decorate


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in BUILTIN_PLUGINS:
        importlib.import_module(module)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        entry.load()


def known_kinds(family: str | None = None) -> list[str]:
    """Registered kind names (plugins loaded), optionally only those of one ``family``."""
    _load_plugins()
    return sorted(k for k, cls in _KINDS.items() if family is None or cls.family == family)


def model_class(kind: str) -> type:
    """The class registered for ``kind``; a ValueError lists the known kinds."""
    if kind not in _KINDS:
        _load_plugins()
    try:
        return _KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown model kind {kind!r}; known kinds: {', '.join(known_kinds())}") from None


def family_of(kind: str) -> str:
    """``"energy"`` or ``"property"``: what a model of ``kind`` predicts."""
    return model_class(kind).family


def create_model(kind: str, **hyperparameters: Any):
    """A new model of ``kind`` with the given hyperparameters (JSON values, as in a model file)."""
    cls = model_class(kind)
    unknown = sorted(set(hyperparameters) - set(hyperparameter_names(cls)))
    if unknown and not _takes_any_keyword(cls):
        raise ValueError(f"bad hyperparameters for {kind!r}: unknown {', '.join(unknown)}; "
                         f"valid: {', '.join(hyperparameter_names(cls))}")
    try:
        return cls(**hyperparameters)
    except (TypeError, ValueError) as err:  # a value of the wrong type
        raise ValueError(f"bad hyperparameters for {kind!r}: {err}") from None


def hyperparameter_names(cls: type) -> list[str]:
    """The keyword arguments the constructor of model class ``cls`` takes, in order."""
    import inspect

    return [name for name, p in inspect.signature(cls.__init__).parameters.items()
            if name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def accepts_hyperparameter(kind: str, name: str) -> bool:
    """Whether a model of ``kind`` takes the hyperparameter ``name`` (a named argument, or any keyword)."""
    cls = model_class(kind)
    return name in hyperparameter_names(cls) or _takes_any_keyword(cls)


def _takes_any_keyword(cls: type) -> bool:
    import inspect

    return any(p.kind == p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())


def model_from_spec(spec: dict[str, Any]):
    """A model from what a model file stores, ``{"kind": ..., "hyperparameters": {...}}``.

    Hyperparameters the spec lacks take the kind's ``file_defaults``: the values that
    files written before a hyperparameter existed imply, so old files rebuild unchanged.
    """
    cls = model_class(spec["kind"])
    return create_model(spec["kind"], **{**cls.file_defaults, **spec["hyperparameters"]})
