"""``mlcalc demo``: the main job in miniature, a reduced ethanol -> n-/iso-propanol transfer study.

The shipped ``ethanol-et`` runs NVE MD of ethanol, n-propanol and iso-propanol, each
also run with GFN2-xTB as the reference; bond and angle distributions are compared and
the report (HTML, Markdown, JSON, figures) is written. The full study is
``mlcalc transfer configs/transfer_ethanol.yaml`` (0.1 fs, 100,000 steps).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import click

from mlcalc.cli.options import progress_option

__all__ = ["demo", "demo_config", "run_demo"]


@click.command()
@click.option("--out", type=click.Path(file_okay=False), default="demo-output", show_default=True)
@click.option("--steps", type=click.IntRange(min=10), default=2000, show_default=True,
              help="NVE steps (0.5 fs) per molecule and calculator")
@click.option("--overwrite", is_flag=True, help="delete an earlier demo in --out first (default: reuse and resume it)")
@progress_option
def demo(out: str, steps: int, overwrite: bool, progress: bool) -> None:
    """A reduced ethanol -> n-/iso-propanol transfer study with the shipped model, report included.

    Rerunning reuses the MD runs already in --out (and resumes interrupted ones).
    """
    run_demo(Path(out), steps=steps, echo=click.echo, progress=progress, overwrite=overwrite)


def demo_config(out: Path, steps: int = 2000):
    """The embedded default: configs/transfer_ethanol.yaml shortened to ``steps`` × 0.5 fs."""
    from mlcalc.analysis.transfer.config import TransferConfig

    return TransferConfig.model_validate({
        "name": "demo: ethanol -> propanols (reduced)",
        "source": {"molecule": "ethanol", "model": "ethanol-et"},
        "targets": ["n-propanol", "iso-propanol"],
        "md": {"steps": steps, "timestep": 0.5, "temperature": 300, "interval": 5, "seed": 0},
        "reference": "gfn2-xtb",
        "error_frames": 50,
        "compare": ["C-C", "C-O", {"name": "C-C next to O", "pattern": "C-C", "next_to": "O"},
                    {"name": "C-C away from O", "pattern": "C-C", "away_from": "O"}, "C-C-O", "C-O-H"],
        "out_dir": out,
        "workers": 2,
    })


def run_demo(out: Path, steps: int = 2000, echo: Callable[[str], None] = print, progress: bool = True,
             overwrite: bool = False):
    """Run the reduced study into ``out``; returns its results (also in ``out/results.json``).

    A rerun reuses (and resumes) the MD runs in ``out``; ``overwrite`` deletes them first.
    """
    from mlcalc.analysis.transfer.study import run_transfer

    config = demo_config(Path(out), steps)
    echo(f"mlcalc demo: the shipped ethanol-et model on ethanol, n-propanol and iso-propanol, "
         f"{steps} NVE steps of 0.5 fs each, against GFN2-xTB reference MD")
    results = run_transfer(config, echo=echo, progress=progress, overwrite=overwrite)
    echo("")
    echo(f"{'molecule':14s} {'force MAE':>12s} {'drift model':>14s} {'drift xTB':>12s}   (meV/Å, meV/atom/ps)")
    for molecule, entry in results.molecules.items():
        err = entry.model_errors or {}
        model, reference = entry.md["model"][0], entry.md["reference"][0]
        echo(f"{molecule:14s} {err.get('forces_mae_meV_per_A', float('nan')):12.1f} "
             f"{model['drift_meV_per_atom_per_ps']:+14.3f} {reference['drift_meV_per_atom_per_ps']:+12.3f}")
    echo(f"\ndone in {results.wall_time_s:.0f} s. Report: {Path(out) / 'report.html'} "
         f"(also report.md, results.json, figures/, md/)")
    return results
