"""``mlcalc data``: make data sets (GFN2-xTB reference MD of a molecule, the broad GFN2-xTB set, EMT copper)."""

from __future__ import annotations

from pathlib import Path

import click

from mlcalc.cli.options import (config_overrides, refuse_existing_file, schema_options, set_option, settings_from,
                                shortcut_option)
from mlcalc.data.molecules import MOLECULES, SMILES_PREFIX
from mlcalc.md.settings import ReferenceSettings

_REFERENCE_OPTIONS = ("frames", "thermalise", "temperature", "seed", "timestep", "interval", "friction")


@click.group()
def data() -> None:
    """Make and inspect data sets."""


@data.command("reference")
@click.option("--molecule", required=True, help=f"one of {', '.join(MOLECULES)}, an XYZ file or smiles:SMILES")
@schema_options(ReferenceSettings, _REFERENCE_OPTIONS)
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="extxyz output (default: <molecule>-xtb-<T>K.extxyz; a SMILES's formula for <molecule>)")
@click.option("--overwrite", is_flag=True, help="replace an existing --out file (default: refuse)")
def data_reference(molecule: str, out: str | None, overwrite: bool, **options) -> None:
    """MD17-style reference frames from GFN2-xTB Langevin MD (energies and forces as extxyz).

    After --thermalise steps, a frame is kept every --interval steps (40 steps of 0.5 fs: 20 fs).
    """
    settings = settings_from(ReferenceSettings, options)
    from mlcalc.data.molecules import load_molecule
    from mlcalc.md import generate_reference

    atoms = load_molecule(molecule)
    stem = atoms.get_chemical_formula() if molecule.startswith(SMILES_PREFIX) else Path(molecule).stem
    out = out or f"{stem}-xtb-{settings.temperature:g}K.extxyz"
    refuse_existing_file(out, overwrite)
    generate_reference(atoms, settings, out=out)
    click.echo(f"wrote {settings.frames} frames to {out}")


@data.command("emt-copper")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--bulk", "n_bulk", type=click.IntRange(min=0), default=300, show_default=True,
              help="strained and rattled fcc bulk cells (32 atoms)")
@click.option("--slab", "n_slab", type=click.IntRange(min=0), default=60, show_default=True,
              help="rattled fcc(111) slabs")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="replace an existing OUT file (default: refuse)")
def data_emt_copper(out: str, n_bulk: int, n_slab: int, seed: int, overwrite: bool) -> None:
    """Periodic copper reference frames from ASE's EMT (energies, forces, stress) as extxyz OUT."""
    from mlcalc.data.emt_copper import write_copper_reference

    refuse_existing_file(out, overwrite, "OUT")

    click.echo(f"wrote {n_bulk + n_slab} frames to {write_copper_reference(out, n_bulk, n_slab, seed=seed)}")


def _smiles_files(paths: tuple[str, ...]) -> list[str]:
    """--smiles FILE...: each must exist (it is read when the settings are checked)."""
    from mlcalc.data.smiles_molecules import read_smiles_file

    for path in paths:
        try:
            read_smiles_file(path)
        except ValueError as err:  # a missing file or a bad line: one line naming it
            raise ValueError(f"--smiles: {err}") from None
    return list(paths)


@data.command("broad")
@click.argument("config", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(), required=True, help="output folder (a frame folder: shards + index)")
@shortcut_option("--molecules", "molecules", "QM9 molecules to label (default: the config's, else 1000; 0: only "
                 "--include and --smiles molecules)", type=click.IntRange(min=0))
@shortcut_option("--sampling", "sampling", "md: Langevin MD up the temperature ladder; normal-modes: harmonic "
                 "Boltzmann displacements", type=click.Choice(["md", "normal-modes"]))
@shortcut_option("--include", "include", "also label every QM9 molecule matching this SMARTS pattern, on top of the "
                 "sample (repeatable; e.g. c1ccccc1: every benzene ring)", convert=list, multiple=True)
@shortcut_option("--smiles", "smiles", "also label the molecules of this SMILES file (one a line, optionally a name "
                 "after it; any size beyond QM9; embedded in 3-D by RDKit; repeatable)", convert=_smiles_files,
                 multiple=True, type=click.Path(dir_okay=False))
@set_option("temperatures=[300,600]")
@click.option("--engine", type=click.Choice(["ray", "local"]), default="ray", show_default=True,
              help="ray: Ray tasks (a local Ray with --workers, or the cluster at --address); local: this process")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="local Ray workers (default: one per core)")
@click.option("--address", default=None, help="a Ray cluster to run on (e.g. ray://head:10001); default: local Ray")
@click.option("--max-cpu-minutes", type=click.FloatRange(min=0, min_open=True), default=None,
              help="stop handing out molecules after this much CPU time (summed over workers); --resume goes on")
@click.option("--resume", is_flag=True, help="continue the data set in --out (a larger --molecules extends it; where the "
              "config's count differs from the set's, give --molecules)")
@click.option("--overwrite", is_flag=True, help="delete the data set in --out first (default: refuse)")
@click.option("--progress/--no-progress", default=True, show_default=True)
def data_broad(config: str | None, out: str, overrides: tuple[str, ...], engine: str, workers: int | None,
               address: str | None, max_cpu_minutes: float | None, resume: bool, overwrite: bool,
               progress: bool) -> None:
    """GFN2-xTB frames (energies, forces) of a seeded QM9 sample and of given SMILES, held-out molecules excluded.

    Each molecule is relaxed, then sampled at each temperature (configs/broad_md.yaml,
    configs/broad_nms.yaml); the data set resumes molecule by molecule (a resume may ask for more
    molecules, more --include patterns or more SMILES) and `mlcalc train` reads the folder as data.path.
    """
    from mlcalc.potentials.training.broad_set import (BroadSetSettings, broad_set_settings, generate_broad_set,
                                                      stored_settings)
    from mlcalc.yaml_config import load_yaml_config

    changes = config_overrides(overrides)
    settings = load_yaml_config(config, BroadSetSettings, changes) if config else broad_set_settings(changes)
    stored = stored_settings(out) if resume and "molecules" not in changes else None
    if stored is not None and stored.molecules != settings.molecules:  # never grow a set by a config's default
        raise ValueError(f"{out} holds a sample of {stored.molecules} QM9 molecules and the settings ask for "
                         f"{settings.molecules}: give --molecules {settings.molecules} to grow it, or --molecules "
                         f"{stored.molecules} to go on as it is")
    summary = generate_broad_set(settings, out, engine=engine, workers=workers, address=address, resume=resume,
                                 overwrite=overwrite, max_cpu_minutes=max_cpu_minutes, progress=progress,
                                 echo=click.echo)
    click.echo(f"{out}: {summary.done} molecules ({summary.frames} frames), {summary.failed} failed; this run "
               f"{summary.new_molecules} molecules in {summary.wall_s:.0f} s ({summary.molecules_per_s:.2f}/s, "
               f"{summary.cpu_s / 60:.1f} CPU-min)")
