"""``mlcalc explain``: maps of learned representations, atom attributions and ROGI roughness.

The machinery lives in :mod:`mlcalc.analysis.explain`; it is imported when a command runs.
"""

from __future__ import annotations

from pathlib import Path

import click

_METHODS = ("gradcam", "cam", "saliency", "integrated_gradients")  # mlcalc.attributions.ATTRIBUTION_METHODS


def _fail(err: Exception) -> None:
    raise click.ClickException(str(err))


_dataset = click.option("--dataset", type=click.Choice(["qm9"]), default="qm9", show_default=True,
                        help="molecules to represent (a seeded random sample)")
_seed = click.option("--seed", type=int, default=0, show_default=True, help="seed of the sample and the projection")
_target = click.option("--target", default=None, help="property to explain (default: the model's first target)")
_progress = click.option("--progress/--no-progress", default=True, show_default=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def explain() -> None:
    """Interpret models: UMAP of representations, atom attributions, ROGI roughness."""


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
@_progress
def umap(model: str, dataset: str, subset: int, method: str, dims: int, seed: int, target: str | None, out: Path,
         progress: bool) -> None:
    """Map MODEL's last hidden layer over QM9 molecules (UMAP or PCA), coloured by the property: PNG + CSV."""
    from mlcalc.analysis.explain import representation_map

    try:
        result = representation_map(model, out, subset, seed, method, dims, target, echo=click.echo, progress=progress)
    except (OSError, ValueError, ImportError, NotImplementedError) as err:
        _fail(err)
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
    from mlcalc.analysis.explain import attribution_pictures

    try:
        attribution_pictures(model, structures, out, method, target, echo=click.echo)
    except (OSError, ValueError, ImportError, NotImplementedError) as err:
        _fail(err)


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
@_progress
def rogi(models: tuple[str, ...], dataset: str, subset: int, metric: str, seed: int, target: str | None, out: Path,
         progress: bool) -> None:
    """ROGI of the property over each of MODELS' last hidden layer, against its test MAE: CSV + figure."""
    from mlcalc.analysis.explain import rogi_table

    try:
        rogi_table(models, out, subset, seed, metric, target, echo=click.echo, progress=progress)
    except (OSError, ValueError, ImportError, NotImplementedError) as err:
        _fail(err)
    click.echo(f"wrote {out / 'rogi.csv'} and {out / 'rogi.png'}")
