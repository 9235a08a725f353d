"""One-line errors for every ``mlcalc`` command: the click group that catches what a command raises.

An error caused by the input (bad value, file, YAML, disk; see :func:`mlcalc.errors.describe`)
prints ``Error: <one line>`` on stderr and exits with code 2; anything else is a bug and
prints ``Error: unexpected <type>: <message> (run with --debug for the traceback)``, exit
code 1. ``mlcalc --debug ...`` (or ``MLCALC_DEBUG=1``) prints the traceback first.
Imports only click and core (the CLI stays light).
"""

from __future__ import annotations

import os
import traceback

import click

from mlcalc.errors import describe

__all__ = ["ErrorHandlingGroup", "InputError", "debug_requested"]


class InputError(click.ClickException):
    """An error in the user's input: one line on stderr, exit code 2 (as click's usage errors)."""

    exit_code = 2


class _UnexpectedError(click.ClickException):
    exit_code = 1


def debug_requested(ctx: click.Context) -> bool:
    """``--debug`` given to the group, or ``MLCALC_DEBUG`` set to anything but '' or '0'."""
    return bool(ctx.find_root().params.get("debug")) or os.environ.get("MLCALC_DEBUG", "") not in ("", "0")


class ErrorHandlingGroup(click.Group):
    """A click group whose commands' (and sub-groups') exceptions end as one line on stderr."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as err:
            debug = debug_requested(ctx)
            if debug:
                click.echo(traceback.format_exc().rstrip(), err=True)
            text, from_input = describe(err)
            if from_input:
                raise InputError(text) from err
            raise _UnexpectedError(text + ("" if debug else " (run with --debug for the traceback)")) from err
