"""``mlcalc data broad``: a broad GFN2-xTB data set of QM9 molecules, made on Ray (or in this process)."""

from __future__ import annotations

import click


@click.command("broad")
@click.argument("config", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(), required=True, help="output folder (a frame folder: shards + index)")
@click.option("--molecules", type=click.IntRange(min=1), default=None,
              help="QM9 molecules to label (same as --set molecules=N; default: the config's, else 1000)")
@click.option("--sampling", type=click.Choice(["md", "normal-modes"]), default=None,
              help="same as --set sampling=...: Langevin MD up the temperature ladder, or normal-mode displacements")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="override a setting, e.g. --set temperatures=[300,600] (value parsed as YAML)")
@click.option("--engine", type=click.Choice(["ray", "local"]), default="ray", show_default=True,
              help="ray: Ray tasks (a local Ray with --workers, or the cluster at --address); local: this process")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="local Ray workers (default: one per core)")
@click.option("--address", default=None, help="a Ray cluster to run on (e.g. ray://head:10001); default: local Ray")
@click.option("--max-cpu-minutes", type=click.FloatRange(min=0, min_open=True), default=None,
              help="stop handing out molecules after this much CPU time (summed over workers); --resume goes on")
@click.option("--resume", is_flag=True, help="continue the data set in --out (a larger --molecules extends it)")
@click.option("--overwrite", is_flag=True, help="delete the data set in --out first (default: refuse)")
@click.option("--progress/--no-progress", default=True, show_default=True)
def broad(config: str | None, out: str, molecules: int | None, sampling: str | None, overrides: tuple[str, ...],
          engine: str, workers: int | None, address: str | None, max_cpu_minutes: float | None, resume: bool,
          overwrite: bool, progress: bool) -> None:
    """GFN2-xTB frames (energies, forces) of a seeded QM9 sample, held-out molecules excluded.

    Each molecule is relaxed, then sampled at each temperature (see configs/broad_*.yaml);
    the data set resumes molecule by molecule and `mlcalc train` reads the folder as data.path.
    """
    from mlcalc.cli import _parse_overrides
    from mlcalc.config import load_yaml_config
    from mlcalc.potentials.training.broad_set import BroadSetSettings, broad_set_settings, generate_broad_set

    changes = _parse_overrides(overrides)
    changes.update({k: v for k, v in (("molecules", molecules), ("sampling", sampling)) if v is not None})
    settings = load_yaml_config(config, BroadSetSettings, changes) if config else broad_set_settings(changes)
    summary = generate_broad_set(settings, out, engine=engine, workers=workers, address=address, resume=resume,
                                 overwrite=overwrite, max_cpu_minutes=max_cpu_minutes, progress=progress,
                                 echo=click.echo)
    click.echo(f"{out}: {summary.done} molecules ({summary.frames} frames), {summary.failed} failed; this run "
               f"{summary.new_molecules} molecules in {summary.wall_s:.0f} s ({summary.molecules_per_s:.2f}/s, "
               f"{summary.cpu_s / 60:.1f} CPU-min)")
