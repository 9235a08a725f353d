"""``mlcalc train``: a model from a YAML config (one seed, or several into one ensemble), exported as .mlc."""

from __future__ import annotations

import click

from mlcalc.cli.options import (config_overrides, set_option, shortcut_option, shortcuts_given, wandb_flags,
                                wandb_options)


@click.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--resume", is_flag=True, help="continue from the last checkpoint in the output folder")
@click.option("--overwrite", is_flag=True, help="replace an earlier run in the output folder (default: refuse)")
@set_option("optim.epochs=5")
@shortcut_option("--subset", "data.subset", type=click.IntRange(min=1),
                 help="QM9 configs: train on a seeded random subset of this many molecules")
@shortcut_option("--progress/--no-progress", "progress", help="progress bars (default: the config's progress)")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="train this many members (seed, seed+1, ...) and export one ensemble .mlc with their spread")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="with --seeds: train this many members at once, each in its own process with its share of the "
                   "cores as torch threads (max(1, cores // jobs)); output lines prefixed [seed-k]")
@click.option("--devices", type=click.IntRange(min=1), default=1, show_default=True,
              help="processes (CPU) or GPUs to train on; with --strategy ddp, data-parallel")
@click.option("--strategy", type=click.Choice(["auto", "ddp"]), default="auto", show_default=True,
              help="ddp: Lightning's distributed data parallel (gloo on CPU)")
@click.option("--export-best", "export_best", type=click.Path(dir_okay=False),
              help="do not train: write the best checkpoint so far of the run in the config's out_dir to this .mlc "
                   "file, with its validation and test errors (also while that run is still training)")
@wandb_flags
def train(config: str, resume: bool, overwrite: bool, overrides: tuple[str, ...], seeds: int,
          jobs: int, devices: int, strategy: str, use_wandb: bool, wandb_online: bool, wandb_project: str | None,
          export_best: str | None) -> None:
    """Train a model from a YAML CONFIG and export it as .mlc."""
    from mlcalc.potentials.training import train as run_training
    from mlcalc.potentials.training.config import load_config

    from mlcalc.errors import check_resume_or_overwrite

    changes = config_overrides(overrides)
    if export_best is not None:
        from mlcalc.potentials.training.train import export_best_checkpoint

        if resume or seeds > 1 or jobs > 1 or devices > 1 or use_wandb:
            raise click.UsageError("--export-best only exports a checkpoint: give it without --resume, --seeds, "
                                   "--jobs, --devices and --wandb (--overwrite replaces an existing file)")
        result = export_best_checkpoint(load_config(config, changes), export_best, overwrite=overwrite)
        _report(result)
        return
    check_resume_or_overwrite(resume, overwrite, "training run")
    if "data.subset" in shortcuts_given():
        source = load_config(config, {k: v for k, v in changes.items() if k != "data.subset"}).data.source
        if source != "qm9":
            raise ValueError(f"--subset applies to QM9 configs (data.source: qm9); {config} has data.source: {source}")
    cfg = load_config(config, changes)
    wandb = wandb_options(use_wandb, wandb_online, wandb_project)
    if jobs > 1 and seeds == 1:
        raise click.UsageError("--jobs trains ensemble members in parallel: give --seeds N (N >= 2) with it")
    if seeds > 1:
        from mlcalc.potentials.training.seeds import train_seeds

        result = train_seeds(cfg, seeds, resume=resume, wandb=wandb, overwrite=overwrite, jobs=jobs)
    else:
        result = run_training(cfg, resume=resume, overwrite=overwrite, wandb=wandb, devices=devices,
                              strategy=strategy)
    _report(result)
    for key, spread in result.metrics.get("seed_spread", {}).items():
        if "_mae_" in key:
            click.echo(f"{seeds} seeds: {key} {spread['mean']:.4g} ± {spread['std']:.2g} (min {spread['min']:.4g}, "
                       f"max {spread['max']:.4g})")


def _report(result) -> None:
    """The model path and its test errors (and training times, when it was trained in this run)."""
    test, metrics = result.metrics["test"], result.metrics
    click.echo(f"model: {result.model_path}")
    errors = ", ".join(f"{k} {v:.4g}" for k, v in test.items() if "_mae_" in k)
    count = test.get("frames", test.get("structures"))
    times = f"; training wall time {metrics['train_wall_time_s']:.0f} s" + (
        f", CPU time {metrics['train_cpu_time_s']:.0f} s" if "train_cpu_time_s" in metrics else "")
    if "exported_from_checkpoint" in metrics:
        times = f"; best checkpoint after {metrics['epochs']} epochs ({metrics['optimizer_steps']} optimizer steps{times})"
    click.echo(f"test {errors} ({count} structures){times}")
