"""``mlcalc uncertainty``: an ensemble's force uncertainty against its true force error on labelled frames.

The machinery is :mod:`mlcalc.analysis.uncertainty`, imported when the command runs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import click


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


@click.command()
@click.argument("model")
@click.argument("groups", nargs=-1, required=True, metavar="NAME=FILE...")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="also write the results as JSON")
def uncertainty(model: str, groups: tuple[str, ...], out: str | None) -> None:
    """Uncertainty of the ensemble MODEL against its force error on each group of labelled frames (extxyz with
    forces, given as NAME=FILE) and on all of them pooled: a Markdown table."""
    from mlcalc import MLCalc
    from mlcalc.analysis.uncertainty import uncertainty_study
    from mlcalc.data.structure_files import read_structures

    frames = {}
    for item in groups:
        name, sep, path = item.partition("=")
        if not sep:
            raise click.BadParameter(f"give frames as NAME=FILE, got {item!r}", param_hint="GROUPS")
        frames[name] = read_structures(path)
    result = uncertainty_study(MLCalc.load(model), frames)
    click.echo("| frames of | n | mean uncertainty (meV/Å) | mean force error (meV/Å) | Pearson r (frame) | "
               "Spearman ρ (frame) | Pearson r (atom) |")
    click.echo("|---|---|---|---|---|---|---|")
    for name, r in result.items():
        click.echo(f"| {name} | {r['frames']} | {1000 * r['mean_uncertainty_eV_per_A']:.1f} | "
                   f"{1000 * r['mean_force_error_eV_per_A']:.1f} | {_fmt(r['frame']['pearson'])} | "
                   f"{_fmt(r['frame']['spearman'])} | {_fmt(r['atom']['pearson'])} |")
    if out:
        Path(out).write_text(json.dumps(result, indent=2))
