"""``mlcalc tune``: hyperparameter search with DeepHyper, comparison of searches, retraining of the best trial.

Registered on the ``mlcalc`` group in :mod:`mlcalc.cli`; the search machinery is imported when the
command runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from mlcalc.cli.options import parse_overrides, set_option, wandb_flags, wandb_options


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--resume", is_flag=True, help="continue the search saved in the config's out_dir")
@click.option("--method", type=click.Choice(["cbo", "random"]), default=None,
              help="override the config's method: cbo (Bayesian optimisation) or random search")
@click.option("--max-evals", type=click.IntRange(min=1), default=None, help="override the number of trials")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="override the number of parallel trials")
@click.option("--evaluator", type=click.Choice(["process", "thread", "loky", "ray", "mpicomm"]), default=None,
              help="override the config's DeepHyper evaluator: local processes (default), threads, loky, ray "
                   "(pip install 'mlcalc[cluster]'; the config's ray_address, cpus_per_trial) or mpicomm "
                   "(mpirun -np WORKERS+1 mlcalc tune ...)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, help="override out_dir")
@set_option("max_evals=10")
@click.option("--retrain-best", is_flag=True, help="after the search, train the best trial's configuration to a .mlc")
@click.option("--compare", is_flag=True,
              help="PATHS are finished searches (their out_dir or results.csv): write the table of the best and the "
                   "spread of the validation MAE, and a box plot")
@wandb_flags
def tune(paths: tuple[str, ...], resume: bool, method: str | None, max_evals: int | None, workers: int | None,
         evaluator: str | None, out_dir: str | None, overrides: tuple[str, ...], retrain_best: bool, compare: bool, use_wandb: bool,
         wandb_online: bool, wandb_project: str | None) -> None:
    """Search the hyperparameters of a training config with DeepHyper (PATHS: one search config YAML).

    The objective is minus the validation MAE. Results go to DeepHyper's out_dir/results.csv after every
    trial; --resume continues an interrupted search. With --compare, PATHS are two or more searches.
    """
    if compare:
        from mlcalc.analysis.search_compare import compare_searches

        if len(paths) < 2:
            raise click.UsageError("--compare needs at least two searches")
        out = Path(out_dir or "search-comparison")
        table = compare_searches([Path(p) for p in paths], out)
        click.echo(table)
        click.echo(f"wrote {out / 'comparison.md'}, {out / 'comparison.csv'} and {out / 'comparison.png'}")
        return
    if len(paths) != 1:
        raise click.UsageError("give one search config (or --compare with two or more searches)")
    from mlcalc.potentials.training.tune import best_trial, read_results, retrain_best as retrain, run_search
    from mlcalc.potentials.training.tune_config import load_tune_config

    parsed = parse_overrides(overrides)
    for key, value in (("method", method), ("max_evals", max_evals), ("workers", workers),
                       ("evaluator", evaluator), ("out_dir", out_dir)):
        if value is not None:
            parsed[key] = value
    cfg = load_tune_config(paths[0], parsed)
    options = wandb_options(use_wandb, wandb_online, wandb_project, group=Path(cfg.out_dir).name)
    results = run_search(cfg, resume=resume, wandb=options, echo=click.echo)
    rows = read_results(results)
    failed = sum(1 for r in rows if str(r.get("objective", "")).startswith("F"))
    values, loss = best_trial(rows)
    click.echo(f"{len(rows)} trials ({failed} failed) in {results}")
    click.echo(f"best validation MAE {loss:.5g}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    if retrain_best:
        result = retrain(cfg)
        click.echo(f"best configuration retrained: {result.model_path}")
