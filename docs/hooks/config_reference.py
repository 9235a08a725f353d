"""Reference tables of a pydantic settings schema, as Markdown, read from the schema itself.

:func:`schema_reference` walks a model's fields (nested sections below their parent, each member of a
union section on its own) and writes one table per section: key, type, default, valid range and unit,
and the field's description. The site's config pages are made of these tables (``mkdocs_hooks.py``).
"""

from __future__ import annotations

import enum
import importlib
import inspect
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from rst_roles import roles_to_code

__all__ = ["schema_reference", "field_rows"]

_BOUNDS = ((at.Gt, "gt", ">"), (at.Ge, "ge", "≥"), (at.Lt, "lt", "<"), (at.Le, "le", "≤"))


def schema_reference(module: str, name: str, prefix: str = "") -> str:
    """Markdown tables for the schema ``module.name``; keys are written below ``prefix`` (e.g. ``md``)."""
    schema = getattr(importlib.import_module(module), name)
    if not (inspect.isclass(schema) and issubclass(schema, BaseModel)):
        raise TypeError(f"{module}.{name} is not a pydantic model")
    out: list[str] = []
    queue: list[tuple[str, type[BaseModel], str]] = [(prefix, schema, "")]
    seen: set[tuple[str, type]] = set()
    while queue:
        path, model, note = queue.pop(0)
        if (path, model) in seen:
            continue
        seen.add((path, model))
        title = f"`{path}`{note} ({model.__name__})" if path else f"`{model.__name__}`"
        out.append(f"### {title}\n")
        doc = inspect.getdoc(model)
        if doc and model.__doc__ is not None and "__doc__" in model.__dict__:
            out.append(_first_paragraph(doc) + "\n")
        rows, nested = field_rows(model, path)
        out.append("| key | type | default | range, unit | what |\n|---|---|---|---|---|")
        out += [f"| {' | '.join(row)} |" for row in rows]
        out.append("")
        queue += nested
    return "\n".join(out)


def field_rows(model: type[BaseModel], path: str = "") -> tuple[list[tuple[str, ...]], list]:
    """One row per field (key, type, default, range and unit, description) and the nested sections to add."""
    rows, nested = [], []
    for key, field in model.model_fields.items():
        full = f"{path}.{key}" if path else key
        sections = _models_in(field.annotation)
        for sub, suffix in sections:
            note = ""
            if len({m for m, _ in sections}) > 1 and "source" in sub.model_fields:
                note = f" with source: `{sub.model_fields['source'].default if sub.model_fields['source'].default is not PydanticUndefined else _literal_value(sub.model_fields['source'].annotation)}`"
            nested.append((full + suffix, sub, note))
        rows.append((f"`{full}`", _cell(_type_name(field.annotation)), _cell(_default(field)),
                     _cell(_range(field)), _cell(roles_to_code(field.description or ""))))
    return rows, nested


def _first_paragraph(doc: str) -> str:
    return roles_to_code(doc.split("\n\n")[0].replace("\n", " "))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _strip(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _models_in(annotation: Any) -> list[tuple[type[BaseModel], str]]:
    """The schemas inside a field's type, each with the key suffix under which it sits (a mapping's values:
    ``.<name>``)."""
    annotation = _strip(annotation)
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return [(annotation, "")]
    if get_origin(annotation) in (Union, types.UnionType):
        return [found for arg in get_args(annotation) for found in _models_in(arg)]
    if get_origin(annotation) is dict:
        return [(m, ".<name>" + suffix) for m, suffix in _models_in(get_args(annotation)[1])]
    return []


def _literal_value(annotation: Any) -> str:
    args = get_args(_strip(annotation))
    return str(args[0]) if args else "?"


def _type_name(annotation: Any) -> str:
    annotation = _strip(annotation)
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is Literal:
        return " or ".join(f"`{a}`" for a in args)
    if origin in (Union, types.UnionType):
        names = [_type_name(a) for a in args]
        return " or ".join(dict.fromkeys(names))
    if origin in (list, tuple, set):
        inner = ", ".join(_type_name(a) for a in args if a is not Ellipsis)
        return f"list of {inner}" if inner else "list"
    if origin is dict:
        values = _models_in(args[1]) if len(args) == 2 else []
        return "mapping of sections (below)" if values else "mapping"
    if inspect.isclass(annotation):
        if issubclass(annotation, BaseModel):
            return "section (below)"
        if issubclass(annotation, Path):
            return "path"
        if issubclass(annotation, enum.Enum):
            return " or ".join(f"`{m.value}`" for m in annotation)
        return {"int": "integer", "float": "number", "str": "text", "bool": "true/false"}.get(
            annotation.__name__, annotation.__name__)
    return str(annotation).replace("typing.", "")


def _default(field) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "**required**"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "(section)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        value = value.value
    if value == "":
        return '`""`'
    if isinstance(value, (dict, list, tuple)) and not value:
        return "{}" if isinstance(value, dict) else "[]"
    return f"`{value}`"


def _range(field) -> str:
    parts = []
    for meta in field.metadata:
        for kind, attr, sign in _BOUNDS:
            if isinstance(meta, kind):
                parts.append(f"{sign} {getattr(meta, attr)}")
        if isinstance(meta, at.MinLen) and meta.min_length:
            parts.append(f"at least {meta.min_length}")
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if extra.get("unit"):
        parts.append(str(extra["unit"]))
    return ", ".join(parts)
