"""``mlcalc finetune``: continue training a saved energy model on labelled frames (or train its kind from scratch).

The machinery is :mod:`mlcalc.potentials.training.finetune`, imported when the command runs;
errors reach the ``mlcalc`` group's handler (one line).
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("model")
@click.argument("frames", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="output folder: <name>.mlc and its run folder (a rerun resumes or reuses it)")
@click.option("--k", type=click.IntRange(min=1), default=None,
              help="train on the first K frames (default: all but the --val ones)")
@click.option("--val", type=click.IntRange(min=0), default=0, show_default=True,
              help="hold the last VAL frames of FRAMES out: the exported checkpoint is the best on them, and their "
                   "error is printed and kept in the manifest (metrics.val); 0 validates on the training frames")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="optimiser steps (default: 100 per frame at batch 16, at least 1000, at most 5000)")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="learning rate (default: 5e-4 fine-tuning, the parent's training lr from scratch)")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=None, help="wall-time budget")
@click.option("--reference", type=click.Choice(["gfn2-xtb", "gfn1-xtb", "none"]), default="gfn2-xtb", show_default=True,
              help="the method that labelled FRAMES: a foundation parent (another level of theory, e.g. PBE) first "
                   "gets its free atoms' energies; none keeps the parent's (other parents are not affected)")
@click.option("--scratch", is_flag=True, help="train MODEL's kind and hyperparameters from fresh weights instead")
@click.option("--name", default=None, help="model name (default <parent>-ft<k> or <parent>-scratch<k>)")
@click.option("--progress/--no-progress", default=True, show_default=True)
def finetune(model: str, frames: Path, out: Path, k: int | None, val: int, steps: int | None, lr: float | None,
             batch_size: int, seed: int, minutes: float | None, reference: str, scratch: bool, name: str | None,
             progress: bool) -> None:
    """Fine-tune MODEL (file or shipped name) on FRAMES (extxyz with energies and forces)."""
    from mlcalc.data.structure_files import read_structures
    from mlcalc.md import nested_subsets
    from mlcalc.potentials.training import finetune as ft

    structures = read_structures(frames)
    if val >= len(structures):
        raise click.BadParameter(f"{val} of the {len(structures)} frames would leave none to train on; "
                                 f"choose at most {len(structures) - 1}", param_hint="--val")
    train, held = ft.held_out(structures, val)
    if k is not None:
        if val and k > len(train):
            raise click.BadParameter(f"{k} training frames asked for, but {frames.name} has {len(train)} besides the "
                                     f"last {val} that --val holds out; choose at most {len(train)}", param_hint="--k")
        train = nested_subsets(train, [k])[k]
    structures = train + held
    options = {"steps": steps, "batch_size": batch_size, "seed": seed, "max_minutes": minutes,
               "name": name, "source": str(frames), "progress": progress, "val": val}
    if scratch:
        path = ft.train_from_scratch(model, structures, out, lr=lr, **options)
    else:
        path = ft.finetune(model, structures, out, lr=lr or ft.DEFAULT_LR,
                           reference=None if reference == "none" else reference, **options)
    if val:
        from mlcalc.modelfile import read_manifest

        errors = read_manifest(path, verify=False)["metrics"]["val"]
        click.echo(f"held-out frames ({errors['frames']}): force MAE {errors['forces_mae_meV_per_A']:.1f} meV/Å, "
                   f"energy MAE {errors['energy_mae_meV_per_atom']:.2f} meV/atom", err=True)
    click.echo(str(path))
