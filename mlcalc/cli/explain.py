"""``mlcalc explain``: maps of learned representations (QM9, transfer-study frames), atom attributions and ROGI.

The machinery lives in :mod:`mlcalc.analysis.explain`, imported when a command runs; errors reach the
``mlcalc`` group's handler (one line).
"""

from __future__ import annotations

from pathlib import Path

import click

from mlcalc.cli.options import progress_option

_METHODS = ("gradcam", "cam", "saliency", "integrated_gradients")  # mlcalc.attributions.ATTRIBUTION_METHODS

_dataset = click.option("--dataset", type=click.Choice(["qm9"]), default="qm9", show_default=True,
                        help="molecules to represent (a seeded random sample)")
_seed = click.option("--seed", type=int, default=0, show_default=True, help="seed of the sample and the projection")
_target = click.option("--target", default=None, help="property to explain (default: the model's first target)")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def explain() -> None:
    """Interpret models: UMAP of representations (QM9 or a transfer study's frames), atom attributions, ROGI roughness."""


@explain.command()
@click.argument("model")
@_dataset
@click.option("--subset", type=click.IntRange(min=3), default=2000, show_default=True, help="molecules to map")
@click.option("--method", type=click.Choice(["umap", "pca"]), default="umap", show_default=True)
@click.option("--dims", type=click.IntRange(2, 3), default=2, show_default=True)
@_seed
@_target
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("explain-umap"),
              show_default=True)
@progress_option
def umap(model: str, dataset: str, subset: int, method: str, dims: int, seed: int, target: str | None, out: Path,
         progress: bool) -> None:
    """Map MODEL's last hidden layer over QM9 molecules (UMAP or PCA), coloured by the property: PNG + CSV."""
    from mlcalc.analysis.explain.studies import representation_map

    result = representation_map(model, out, subset, seed, method, dims, target, echo=click.echo, progress=progress)
    click.echo(f"wrote {result['png']} and {result['csv']}")


@explain.command()
@click.argument("model")
@click.argument("structures", nargs=-1, required=True)
@click.option("--method", type=click.Choice(_METHODS), default="gradcam", show_default=True)
@_target
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("explain-atoms"),
              show_default=True)
def atoms(model: str, structures: tuple[str, ...], method: str, target: str | None, out: Path) -> None:
    """Draw each of STRUCTURES (files, shipped molecule names or qm9:ID) with atoms coloured by attribution."""
    from mlcalc.analysis.explain.studies import attribution_pictures

    attribution_pictures(model, structures, out, method, target, echo=click.echo)


@explain.command()
@click.argument("models", nargs=-1, required=True)
@_dataset
@click.option("--subset", type=click.IntRange(min=3), default=2000, show_default=True,
              help="molecules (ROGI clusters all pairs: memory grows as N²)")
@click.option("--metric", type=click.Choice(["euclidean", "cosine", "cityblock"]), default="euclidean",
              show_default=True)
@_seed
@_target
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("explain-rogi"),
              show_default=True)
@progress_option
def rogi(models: tuple[str, ...], dataset: str, subset: int, metric: str, seed: int, target: str | None, out: Path,
         progress: bool) -> None:
    """ROGI of the property over each of MODELS' last hidden layer, against its test MAE: CSV + figure."""
    from mlcalc.analysis.explain.studies import rogi_table

    rogi_table(models, out, subset, seed, metric, target, echo=click.echo, progress=progress)
    click.echo(f"wrote {out / 'rogi.csv'} and {out / 'rogi.png'}")


@explain.command()
@click.argument("study", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--model", default=None, help="model whose representation maps the frames (default: the study's model)")
@click.option("--runs", type=click.Choice(["reference", "model", "both"]), default="reference", show_default=True,
              help="which MD runs' frames to map; the source's first run is the region measured against")
@click.option("--per-atom", is_flag=True, help="one point per atom (neighbours among atoms of one element) "
                                               "instead of one per frame (mean over its atoms)")
@click.option("--method", type=click.Choice(["umap", "pca"]), default="umap", show_default=True)
@click.option("--dims", type=click.IntRange(2, 3), default=2, show_default=True)
@_seed
@click.option("--window", type=click.IntRange(min=0), default=10, show_default=True,
              help="frames of the same run that are not each other's neighbours (consecutive frames are near copies)")
@click.option("--every", type=click.IntRange(min=1), default=1, show_default=True, help="use every N-th frame")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("explain-transfer"),
              show_default=True)
@progress_option
def transfer(study: Path, model: str | None, runs: str, per_atom: bool, method: str, dims: int, seed: int,
             window: int, every: int, out: Path, progress: bool) -> None:
    """Map the MD frames of the transfer study in STUDY (a folder) by the energy model's representation,
    coloured by molecule, and measure how many of each target's frames lie outside the source's region."""
    from mlcalc.analysis.explain.transfer_map import transfer_map

    result = transfer_map(study, out, model, ("reference", "model") if runs == "both" else (runs,), per_atom,
                          method, dims, seed, window, every, echo=click.echo, progress=progress)
    click.echo(f"wrote {result['png']}, {result['csv']} and {result['ood']}")
