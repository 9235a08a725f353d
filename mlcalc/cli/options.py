"""The options several ``mlcalc`` commands share, in one place.

Options built from a settings schema's fields (name, type, default, description, unit): they only
parse, the schema validates (a bad value is a one-line error, exit code 2). ``--set KEY=VALUE``
config overrides and their shortcuts (``--subset``, ``--replicas``, ``--finetune``: each the same as one
``--set``), the W&B flags, ``--progress``, and the refusal to replace an output file without ``--overwrite``.
Imports only click, pydantic and YAML, so that building the CLI stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Literal, Optional, Sequence, get_args, get_origin

import click
from pydantic import BaseModel, ValidationError

from mlcalc.errors import describe
from mlcalc.md.settings import describe_errors

__all__ = ["refuse_existing_file", "schema_options", "settings_from", "SettingsError", "set_option", "shortcut_option", "config_overrides",
           "shortcuts_given", "parse_overrides", "frame_counts", "wandb_flags", "wandb_options", "progress_option"]


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


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` options as {dotted key: YAML-parsed value}."""
    import yaml

    parsed = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set needs KEY=VALUE, got {item!r}")
        try:
            parsed[key] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise ValueError(f"--set {item}: {describe(err)[0]}") from None
    return parsed


def set_option(example: str) -> Callable:
    """``--set KEY=VALUE`` (repeatable) into the parameter ``overrides``; ``example``: e.g. ``optim.epochs=5``."""
    return click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                        help=f"override a config value, e.g. --set {example} (value parsed as YAML)")


_SHORTCUTS = "mlcalc.shortcuts"  # ctx.meta key: config key -> (flag, value) of the shortcuts given


def shortcut_option(flag: str, key: str, help: str, convert: Callable[[str], Any] | None = None,
                    **option: Any) -> Callable:
    """An option that is the same as ``--set KEY=VALUE``; :func:`config_overrides` merges it (it wins over --set).

    ``convert``: turns the text into the config value (default: click's ``type``).
    """

    def remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is not None and value != ():  # () is a multiple option not given
            ctx.meta.setdefault(_SHORTCUTS, {})[key] = (flag, convert(value) if convert else value)

    return click.option(flag, expose_value=False, callback=remember, default=None,
                        help=f"{help}; the same as --set {key}=VALUE", **option)


def shortcuts_given() -> dict[str, str]:
    """{config key: flag} of the shortcut options given to the running command."""
    ctx = click.get_current_context(silent=True)
    return {key: flag for key, (flag, _) in (ctx.meta.get(_SHORTCUTS, {}) if ctx else {}).items()}


def config_overrides(items: Sequence[str]) -> dict[str, Any]:
    """The running command's ``--set`` items and shortcut options as {dotted key: value}."""
    ctx = click.get_current_context(silent=True)
    shortcuts = ctx.meta.get(_SHORTCUTS, {}) if ctx else {}
    return {**parse_overrides(items), **{key: value for key, (_, value) in shortcuts.items()}}


def frame_counts(text: str) -> list[int]:
    """'0,10,50' -> [0, 10, 50]; anything else is refused in one line."""
    try:
        return [int(k) for k in text.split(",") if k.strip()]
    except ValueError:
        raise click.BadParameter(f"--finetune takes frame counts separated by commas, e.g. 0,10,50,200; got "
                                 f"{text!r}") from None


def wandb_flags(command: Callable) -> Callable:
    """``--wandb``, ``--wandb-online``, ``--wandb-project`` (parameters use_wandb, wandb_online, wandb_project)."""
    for option in reversed((
            click.option("--wandb", "use_wandb", is_flag=True, help="also log to Weights & Biases, offline "
                                                                    "(wandb sync later)"),
            click.option("--wandb-online", is_flag=True, help="with --wandb: log online (needs a W&B login)"),
            click.option("--wandb-project", default=None, help="W&B project (default: mlcalc)"))):
        command = option(command)
    return command


def wandb_options(enabled: bool, online: bool, project: str | None, group: str | None = None) -> dict | None:
    """The W&B options of a run (None: no W&B); offline unless ``online``."""
    if online and not enabled:
        raise click.UsageError("--wandb-online needs --wandb")
    return {"online": online, "project": project, "group": group} if enabled else None


#: ``--progress/--no-progress``
progress_option = click.option("--progress/--no-progress", default=True, show_default=True)


def refuse_existing_file(path: str | Path, overwrite: bool, name: str = "--out") -> None:
    """OutputExistsError if the output file ``path`` exists and ``overwrite`` is not given (nothing is replaced
    silently; a device such as /dev/null or /dev/stdout is written to); NotADirectoryError if a file stands where
    its folder should be."""
    from mlcalc.errors import OutputExistsError
    from mlcalc.locks import require_folder

    path = Path(path)
    require_folder(path.parent, f"{name} {path}")
    if path.exists() and not overwrite and not (path.is_char_device() or path.is_fifo()):
        raise OutputExistsError(f"{name} {path} exists; pass --overwrite to replace it or choose another {name}")
