"""Click options built from a settings schema's fields (name, type, default, description, unit).

The options only parse; the schema validates (a bad value is a one-line error, exit code 2).
Imports only click and pydantic, so that building the CLI stays cheap.
"""

from __future__ import annotations

from typing import Any, Callable, Literal, Optional, Sequence, get_args, get_origin

import click
from pydantic import BaseModel, ValidationError

from mlcalc.md_settings import describe_errors

__all__ = ["schema_options", "settings_from", "SettingsError"]


class SettingsError(click.ClickException):
    """A value the schema refused: printed as one line, exit code 2 (a usage error)."""

    exit_code = 2


class _NumberOrNone(click.ParamType):
    """A number, or ``none`` for None (a check switched off)."""

    name = "number|none"

    def convert(self, value: Any, param, ctx) -> float | None:
        if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
            return None
        return click.FLOAT.convert(value, param, ctx)


class _Choice(click.Choice):
    """Lists the choices in the help; a value outside them is left for the schema to refuse."""

    def convert(self, value: Any, param, ctx) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            return value


def schema_options(schema: type[BaseModel], names: Sequence[str]) -> Callable:
    """A decorator adding a ``--name`` option for each field ``names`` of ``schema`` (in that order)."""

    def decorate(command: Callable) -> Callable:
        for name in reversed(names):
            command = _option(schema, name)(command)
        return command

    return decorate


def _option(schema: type[BaseModel], name: str) -> Callable:
    """One click option from the schema field ``name``: Literal -> Choice, bool -> flag, Optional -> 'none'."""
    info = schema.model_fields[name]
    unit = (info.json_schema_extra or {}).get("unit")
    text = info.description or ""
    text += f" ({unit})" if unit and unit not in text else ""
    flag = "--" + name.replace("_", "-")
    if info.annotation is bool:
        return click.option(flag, is_flag=True, default=info.default, help=text)
    if get_origin(info.annotation) is Literal:
        kind: Any = _Choice(get_args(info.annotation))
    elif info.annotation == Optional[float]:
        kind, text = _NumberOrNone(), text + "; none: no check"
    else:
        kind = {int: click.INT, float: click.FLOAT}.get(info.annotation, click.STRING)
    required = info.is_required()
    return click.option(flag, type=kind, required=required, default=None if required else info.default,
                        show_default=not required, help=text)


def settings_from(schema: type[BaseModel], values: dict[str, Any]) -> BaseModel:
    """``schema(**values)``; a refused value raises :class:`SettingsError`."""
    try:
        return schema(**values)
    except ValidationError as err:
        raise SettingsError(describe_errors(err, known=list(schema.model_fields))) from None
    except ValueError as err:
        raise SettingsError(str(err)) from None
