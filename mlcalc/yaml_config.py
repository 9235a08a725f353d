"""YAML at the edge: a config file read into a pydantic schema, with ``--set``-style dotted overrides.

Used by the training, transfer and search configs; library code takes the typed objects.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml
from pydantic import BaseModel, ValidationError

from mlcalc.errors import describe

__all__ = ["load_yaml_config", "dotted_leaves"]


def dotted_leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys -> leaves (lists kept whole), the keys ``--set`` takes."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(dotted_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _location(loc: tuple, union_tags: Mapping[str, Sequence[str]]) -> str:
    """A dotted field name, without pydantic's union tag (``data.file.train`` -> ``data.train``)."""
    parts = [str(x) for x in loc]
    if len(parts) > 1 and parts[1] in union_tags.get(parts[0], ()):
        del parts[1]
    return ".".join(parts) or "(top)"


def load_yaml_config(path: str | os.PathLike, schema: type[BaseModel], overrides: dict[str, Any] | None = None,
                     union_tags: Mapping[str, Sequence[str]] | None = None):
    """Read YAML at ``path`` into the pydantic ``schema``; ``overrides`` (dotted keys) replace values.

    ``union_tags``: field -> the tags of its discriminated union, left out of error locations
    (``{"data": ("file", "qm9")}``: ``data.file.train`` is reported as ``data.train``).

    Errors (missing file, YAML syntax with its line, not a mapping, bad or unknown fields) are ``ValueError``/``FileNotFoundError``
    messages that name the file and the field.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: {describe(err)[0]}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a config must be a YAML mapping")
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    try:
        return schema.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(f"{_location(e['loc'], union_tags or {})}: {e['msg']}" for e in err.errors())
        raise ValueError(f"invalid config {path}: {problems}") from None
