"""``mlcalc info``, ``mlcalc models`` and ``mlcalc predict``: model files, the shipped models, predictions as CSV."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="print the raw manifest as JSON")
def info(model: str, as_json: bool) -> None:
    """Print the manifest of MODEL (a .mlc file or a shipped model name), after the checks loading makes, and the
    command that made it (recipe)."""
    from mlcalc.cli.recipe import recipe
    from mlcalc.manifest_text import format_manifest
    from mlcalc.modelfile import load_model
    from mlcalc.named_models import resolve_model_path

    path = resolve_model_path(model)
    _, manifest = load_model(path)  # the same checks as MLCalc.load: a file info calls verified also loads
    if as_json:
        click.echo(json.dumps(manifest, indent=2, sort_keys=True))
        return
    made_by = recipe(manifest)
    click.echo(format_manifest(manifest, path) + (f"\nrecipe: {made_by}" if made_by else ""))


@click.command()
def models() -> None:
    """List the pretrained models shipped with mlcalc: kind, data, headline test error."""
    from mlcalc.cli.recipe import headline_metric
    from mlcalc.modelfile import read_manifest
    from mlcalc.named_models import available_models, resolve_model_path

    for name in available_models():
        m = read_manifest(resolve_model_path(name))
        click.echo(f"{name:20s} {m['kind']:24s} {m.get('data', {}).get('name', '')}  {headline_metric(m)}".rstrip())


@click.command()
@click.argument("model")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", type=click.Path(dir_okay=False), default="predictions.csv", show_default=True,
              help="CSV table: file, index, formula, then one column per property with its unit "
                   "(a CGCNN folder: id, target, prediction)")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--overwrite", is_flag=True, help="replace an existing --out file (default: refuse)")
def predict(model: str, files: tuple[str, ...], out: str, batch_size: int, overwrite: bool) -> None:
    """Predict MODEL's properties for every frame of FILES (any ASE-readable structure files), or for one
    CGCNN data folder (id_prop.csv beside <id>.cif files)."""
    from mlcalc import MLCalc
    from mlcalc.cli.options import refuse_existing_file
    from mlcalc.cli.predict_structures import predict_files

    _refuse_input_as_output(out, files)
    refuse_existing_file(out, overwrite)
    if any(Path(f).is_dir() for f in files):
        from mlcalc.cli.predict_crystals import predict_cif_folder

        if len(files) != 1:
            raise ValueError("give one CGCNN data folder, or structure files (not both)")
        n = predict_cif_folder(MLCalc.load(model), files[0], out, batch_size=batch_size)
    else:
        n = predict_files(MLCalc.load(model), files, out, batch_size=batch_size)
    click.echo(f"wrote {n} rows to {out}")


def _refuse_input_as_output(out: str, inputs: tuple[str, ...]) -> None:
    """Raise ValueError if ``out`` is one of the ``inputs`` (it would be overwritten), NotADirectoryError if
    a file stands where its folder should be."""
    from mlcalc.locks import require_folder

    require_folder(Path(out).parent, f"--out {out}")
    target = Path(out).resolve()
    for name in inputs:
        if Path(name).resolve() == target:
            raise ValueError(f"--out {out} is also an input file: it would be overwritten; choose another --out")
