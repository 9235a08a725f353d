"""``mlcalc data``: make data sets (GFN2-xTB reference MD of a molecule, EMT copper)."""

from __future__ import annotations

from pathlib import Path

import click

from mlcalc.cli.options import schema_options, settings_from
from mlcalc.data.molecules import MOLECULES
from mlcalc.md_settings import ReferenceSettings

_REFERENCE_OPTIONS = ("frames", "thermalise", "temperature", "seed", "timestep", "interval", "friction")


@click.group()
def data() -> None:
    """Make and inspect data sets."""


@data.command("reference")
@click.option("--molecule", required=True, help=f"one of {', '.join(MOLECULES)}, or an XYZ file")
@schema_options(ReferenceSettings, _REFERENCE_OPTIONS)
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="extxyz output (default: <molecule>-xtb-<T>K.extxyz)")
def data_reference(molecule: str, out: str | None, **options) -> None:
    """MD17-style reference frames from GFN2-xTB Langevin MD (energies and forces as extxyz).

    After --thermalise steps, a frame is kept every --interval steps (40 steps of 0.5 fs: 20 fs).
    """
    settings = settings_from(ReferenceSettings, options)
    from mlcalc.data.molecules import load_molecule
    from mlcalc.md import generate_reference

    out = out or f"{Path(molecule).stem}-xtb-{settings.temperature:g}K.extxyz"
    generate_reference(load_molecule(molecule), settings, out=out)
    click.echo(f"wrote {settings.frames} frames to {out}")


@data.command("emt-copper")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--bulk", "n_bulk", type=click.IntRange(min=0), default=300, show_default=True,
              help="strained and rattled fcc bulk cells (32 atoms)")
@click.option("--slab", "n_slab", type=click.IntRange(min=0), default=60, show_default=True,
              help="rattled fcc(111) slabs")
@click.option("--seed", type=int, default=0, show_default=True)
def data_emt_copper(out: str, n_bulk: int, n_slab: int, seed: int) -> None:
    """Periodic copper reference frames from ASE's EMT (energies, forces, stress) as extxyz OUT."""
    from mlcalc.data.emt_copper import write_copper_reference

    click.echo(f"wrote {n_bulk + n_slab} frames to {write_copper_reference(out, n_bulk, n_slab, seed=seed)}")
