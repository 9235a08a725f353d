"""A model file's manifest checked against its weights before (and while) the model is built.

A manifest edited by hand (or damaged) must not rebuild a model other than the one its
weights belong to: an ethanol model answering for silicon, or hyperparameters that
allocate terabytes. In order: hyperparameter names and types against the kind's
constructor (:func:`check_hyperparameters`); a build whose every tensor allocation is
probed on the ``meta`` device first and refused once the total exceeds what the weights
can explain (:func:`build_within`; a plain ``meta`` build is not possible for kinds
whose constructors read tensor values, such as torch-geometric's Gaussian smearing);
the built model's parameter names and shapes, elements, cutoff, periodicity and
properties against the weights and the manifest (:func:`check_against_weights`).
Every failure is one line, a ValueError subclass raised by the caller with the file name.
"""

from __future__ import annotations

import inspect
import math
import typing
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from mlcalc.model.registry import model_class, model_from_spec

__all__ = ["check_hyperparameters", "build_within", "check_against_weights", "weights_bytes"]


def _fmt(names) -> str:
    return ", ".join(sorted(names)) or "(none)"


def _constructor_types(cls: type) -> tuple[dict[str, inspect.Parameter], dict[str, Any], bool]:
    """The constructor's named parameters, the type each expects, and whether it takes ``**kwargs``."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    named = {p.name: p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # unresolvable annotations: fall back to the defaults' types
        hints = {}
    types = {}
    for name, p in named.items():
        if name in hints and hints[name] is not Any:
            types[name] = hints[name]
        elif p.default is not p.empty and p.default is not None:
            types[name] = type(p.default)
    return named, types, any(p.kind == p.VAR_KEYWORD for p in params)


def check_hyperparameters(kind: str, hyperparameters: Any, where: str = "") -> None:
    """Raise a one-line ValueError if ``hyperparameters`` do not fit ``kind``'s constructor.

    Names must be parameters of the constructor, values of the type it declares (or of
    its default's type; strict: no bool for int, no string for a number, no NaN);
    composite members are checked the same way.
    """
    from pydantic import ConfigDict, TypeAdapter, ValidationError

    if not isinstance(hyperparameters, dict):
        raise ValueError(f"{where}hyperparameters of {kind!r} must be a mapping, got {type(hyperparameters).__name__}")
    cls = model_class(kind)
    named, types, open_ended = _constructor_types(cls)
    unknown = set(hyperparameters) - set(named)
    if unknown and not open_ended:
        raise ValueError(f"{where}hyperparameter(s) {_fmt(unknown)} unknown to kind {kind!r}; it takes: {_fmt(named)}")
    missing = {n for n, p in named.items() if p.default is p.empty and n not in hyperparameters
               and n not in cls.file_defaults}
    if missing:
        raise ValueError(f"{where}hyperparameter(s) {_fmt(missing)} missing for kind {kind!r}")
    for name, value in hyperparameters.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{where}hyperparameter {name} of {kind!r} is {value}; it must be finite")
        if name in types:
            try:
                TypeAdapter(types[name], config=ConfigDict(strict=True)).validate_python(value)
            except ValidationError:
                expected = getattr(types[name], "__name__", str(types[name]).replace("typing.", ""))
                raise ValueError(f"{where}hyperparameter {name} of {kind!r} must be {expected}, "
                                 f"got {value!r:.60}") from None
    members = hyperparameters.get("members")
    if isinstance(members, list):
        for k, member in enumerate(members):
            if not isinstance(member, dict) or set(member) != {"kind", "hyperparameters"}:
                raise ValueError(f"{where}member {k} of {kind!r} must be a mapping with 'kind' and 'hyperparameters'")
            model_class(member["kind"])  # an unknown kind: the registry's error lists the known ones
            check_hyperparameters(member["kind"], member["hyperparameters"], f"{where}members[{k}]: ")


def weights_bytes(weights: dict[str, torch.Tensor]) -> int:
    """Bytes the weights take, all tensors together."""
    return sum(t.numel() * t.element_size() for t in weights.values())


class _AllocationBudget(TorchFunctionMode):
    """Probes each tensor-creating call on the meta device and refuses it once the total passes ``limit`` bytes."""

    def __init__(self, limit: int):
        super().__init__()
        from torch.utils._device import _device_constructors

        self.constructors = _device_constructors()
        self.limit, self.total = limit, 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self.constructors:
            with torch.device("meta"):  # shapes only, nothing allocated
                probe = func(*args, **{**kwargs, "device": "meta"})
            if isinstance(probe, torch.Tensor):
                self.total += probe.numel() * probe.element_size()
            if self.total > self.limit:
                raise MemoryError(f"{self.total / 1e6:.3g} MB")
        return func(*args, **kwargs)


#: allocations a build may make beyond twice its weights' size (buffers, temporaries), bytes
_SLACK = 32 * 2**20


def _build_allocation(spec: Any) -> tuple[float, int]:
    """(factor, bytes) of a build of ``spec``: the kind's ``build_allocation``, or a composite's members' together."""
    members = spec.get("hyperparameters", {}).get("members") if isinstance(spec, dict) else None
    if isinstance(members, list) and members and all(isinstance(m, dict) and "kind" in m for m in members):
        parts = [_build_allocation(m) for m in members]
        return max(f for f, _ in parts), sum(b for _, b in parts)
    return getattr(model_class(spec["kind"]), "build_allocation", (2.0, 0))


def build_within(spec: dict[str, Any], stored_bytes: int) -> torch.nn.Module:
    """The model of ``spec`` (kind + hyperparameters), stopped before it allocates more than its weights explain.

    ``stored_bytes``: the size of the weights in the file; the build may allocate twice that plus
    32 MiB, or for a kind whose builder computes tables (e3nn's Clebsch-Gordan coefficients and
    generated code) its ``build_allocation`` = (factor, bytes): factor times that plus 32 MiB plus bytes.
    A composite's members share the weights: the largest member factor and the sum of the members' bytes.
    Raises ValueError (one line) when the hyperparameters describe a larger model.
    """
    factor, extra = _build_allocation(spec)  # plugins load outside the budget
    limit = int(factor * stored_bytes) + _SLACK + int(extra)
    try:
        with _AllocationBudget(limit):
            return model_from_spec(spec)
    except MemoryError as err:
        raise ValueError(f"its hyperparameters describe a model larger than its weights (building it allocated "
                         f"more than {err} before it was stopped; the weights take {stored_bytes / 1e6:.3g} MB)") from None


def _atomref_elements(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> dict[str, set[int]]:
    """For each energy model (or member) with fitted atomrefs: the prefix -> elements whose atomref is non-zero."""
    out = {}
    for prefix, module in model.named_modules():
        key = f"{prefix}.atomref" if prefix else "atomref"
        if getattr(module, "family", "") == "energy" and key in weights and hasattr(module, "elements"):
            values = weights[key]
            if bool((values != 0).any()):
                out[prefix or "model"] = ({int(z) for z in torch.nonzero(values).flatten().tolist()},
                                          set(module.elements))
    return out


def check_against_weights(model: torch.nn.Module, manifest: dict[str, Any], weights: dict[str, torch.Tensor]) -> None:
    """Raise a one-line ValueError if the built ``model`` is not the one ``weights`` and ``manifest`` describe."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    stored = {k: tuple(v.shape) for k, v in weights.items()}
    optional = {f"{name}.{b}" if name else b for name, module in model.named_modules()
                for b in getattr(module, "optional_buffers", ())}  # files older than these buffers lack them
    if set(expected) - optional != set(stored) - optional:
        missing, extra = set(expected) - set(stored) - optional, set(stored) - set(expected)
        raise ValueError(f"weights do not match a {manifest['kind']!r} model with these hyperparameters "
                         f"(missing: {_fmt(list(missing)[:5])}{' ...' if len(missing) > 5 else ''}; "
                         f"unexpected: {_fmt(list(extra)[:5])}{' ...' if len(extra) > 5 else ''})")
    wrong = [k for k in expected if k in stored and expected[k] != stored[k]]
    if wrong:
        k = wrong[0]
        raise ValueError(f"weights do not match the manifest's hyperparameters: {len(wrong)} tensor(s) of other "
                         f"shapes, e.g. {k} is {list(stored[k])} in the file but {list(expected[k])} for the manifest")
    for field in ("elements", "cutoff", "periodic"):
        if field in manifest and manifest[field] != getattr(model, field):
            raise ValueError(f"manifest field {field} ({manifest[field]}) disagrees with its hyperparameters "
                             f"({getattr(model, field)})")
    if set(manifest.get("properties", {})) != set(model.properties):
        raise ValueError(f"manifest properties ({_fmt(manifest['properties'])}) disagree with what a "
                         f"{manifest['kind']!r} model predicts ({_fmt(model.properties)})")
    from ase.data import chemical_symbols

    for where, (fitted, listed) in _atomref_elements(model, weights).items():
        if fitted != listed:
            odd = sorted(listed ^ fitted)
            raise ValueError(f"elements {', '.join(chemical_symbols[z] for z in odd)} ({where}): the manifest "
                             f"lists {_fmt(chemical_symbols[z] for z in listed)} but the weights hold reference "
                             f"energies for {_fmt(chemical_symbols[z] for z in fitted)}")
