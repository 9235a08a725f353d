"""``mlcalc evaluate``: a model's energy and force errors against the labels stored in reference files."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.argument("model")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
              help="also write the errors per file as JSON (refuses an existing file without --overwrite)")
@click.option("--overwrite", is_flag=True, help="replace an existing --json file")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
def evaluate(model: str, files: tuple[str, ...], json_out: str | None, overwrite: bool, batch_size: int) -> None:
    """Errors of MODEL (an energy model: file or shipped name) against the energies and forces stored in FILES
    (extxyz frames labelled by a reference, e.g. `mlcalc data reference`): one row per file, force MAE and
    RMSE (meV/Å), energy MAE (meV) as is and with the mean offset removed (meV/atom)."""
    from mlcalc import MLCalc
    from mlcalc.analysis.model_errors import model_errors
    from mlcalc.data.structure_files import read_structures

    if json_out and Path(json_out).exists() and not overwrite:
        raise FileExistsError(f"--json {json_out} exists: --overwrite replaces it, or choose another file")
    calc = MLCalc.load(model)
    if calc.targets:
        raise ValueError(f"{model} is a property model ({', '.join(calc.targets)}): evaluate compares energies "
                         "and forces; use `mlcalc predict` for properties")
    results = {}
    click.echo(f"{'file':28s} {'frames':>6s} {'atoms':>5s} {'F MAE':>8s} {'F RMSE':>8s} {'E MAE':>10s} "
               f"{'E offset':>10s} {'E MAE-off/atom':>14s}")
    click.echo(f"{'':28s} {'':>6s} {'':>5s} {'meV/Å':>8s} {'meV/Å':>8s} {'meV':>10s} {'meV':>10s} {'meV':>14s}")
    for file in files:
        frames = read_structures(file)
        try:
            err = model_errors(calc, frames, batch_size=batch_size)
        except ValueError as exc:
            raise ValueError(f"{file}: {exc}") from None
        results[str(file)] = err
        click.echo(f"{Path(file).name[:28]:28s} {err['frames']:6d} {err['n_atoms']:5d} "
                   f"{err['forces_mae_meV_per_A']:8.1f} {err['forces_rmse_meV_per_A']:8.1f} "
                   f"{err['energy_mae_meV']:10.1f} {err['energy_offset_meV']:10.1f} "
                   f"{err['energy_mae_offset_removed_meV_per_atom']:14.2f}")
    if json_out:
        Path(json_out).write_text(json.dumps({"model": model, "files": results}, indent=2))
        click.echo(f"wrote {json_out}")
