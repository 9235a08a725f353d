"""``mlcalc md``: MD of a structure with a model (one run, or replicas in one TorchSim batch), learning on the fly
with ``--learn METHOD``."""

from __future__ import annotations

import click

from mlcalc.cli.options import progress_option, schema_options, settings_from
from mlcalc.errors import check_resume_or_overwrite
from mlcalc.md.settings import LEARN_REFERENCES, LearnSettings, MDSettings

#: every MD setting is an option of `mlcalc md` (a new setting reaches the CLI from the schema alone)
_MD_OPTIONS = tuple(MDSettings.model_fields)
#: the learning settings that are options of `mlcalc md` (besides --learn, which is LearnSettings.reference)
_LEARN_OPTIONS = ("max_calls", "threshold", "target_error", "on_budget", "members", "spread", "update_energy",
                  "max_update_steps", "audit", "min_gap", "gap_growth")


def _learn_help(name: str) -> str:
    info = LearnSettings.model_fields[name]
    return f"with --learn: {info.description} (default {info.default})"


@click.command()
@click.argument("model")
@click.argument("structure")
@schema_options(MDSettings, _MD_OPTIONS)
@click.option("--out", type=click.Path(file_okay=False), required=True, help="output folder")
@click.option("--float64", "double", is_flag=True, help="evaluate the model in float64 (best energy conservation)")
@click.option("--resume", is_flag=True, help="continue the run saved in --out")
@click.option("--overwrite", is_flag=True, help="replace a run already in --out (default: refuse)")
@progress_option
@click.option("--replicas", type=click.IntRange(min=1), default=1, show_default=True,
              help="run N copies (seeds SEED, SEED+1, ...) as one TorchSim batch into OUT/replica-000, ...; "
                   "N > 1 is --engine torchsim with N seeds")
@click.option("--learn", type=click.Choice(LEARN_REFERENCES), default=None,
              help="learn on the fly: a committee made from MODEL drives the MD, this reference labels the steps it is "
                   "unsure of and the members fine-tune on them as the run goes (OUT/labelled.extxyz, "
                   "OUT/learned.mlc, OUT/learning.json)")
@click.option("--max-calls", type=int, default=None, help=_learn_help("max_calls"))
@click.option("--threshold", default=None, metavar="auto|X", help=_learn_help("threshold") + ", eV/Å")
@click.option("--target-error", type=float, default=None, metavar="X",
              help=_learn_help("target_error") + ", eV/Å")
@click.option("--on-budget", default=None, metavar="continue|stop", help=_learn_help("on_budget"))
@click.option("--members", type=int, default=None, help=_learn_help("members"))
@click.option("--spread", type=float, default=None,
              help=_learn_help("spread") + "; smaller for a general model (bench/committee_spread.py)")
@click.option("--update-energy", default=None, metavar="anchor|conserve|jump", help=_learn_help("update_energy"))
@click.option("--max-update-steps", type=int, default=None, metavar="STEPS", help=_learn_help("max_update_steps"))
@click.option("--audit", type=int, default=None, metavar="STEPS", help=_learn_help("audit"))
@click.option("--min-gap", type=int, default=None, metavar="STEPS", help=_learn_help("min_gap"))
@click.option("--gap-growth", type=float, default=None, metavar="X", help=_learn_help("gap_growth"))
@click.pass_context
def md(ctx: click.Context, model: str, structure: str, out: str, double: bool, resume: bool, overwrite: bool,
       progress: bool, replicas: int, learn: str | None, **options) -> None:
    """Run MD of STRUCTURE (a shipped molecule, a structure file or smiles:SMILES, e.g. smiles:c1ccncc1) with MODEL
    (.mlc, shipped name or gfn2-xtb)."""
    check_resume_or_overwrite(resume, overwrite, "MD run")
    learning = {name: options.pop(name) for name in _LEARN_OPTIONS}
    learning = {name: value for name, value in learning.items() if value is not None}
    if learning and learn is None:
        given = ", ".join("--" + name.replace("_", "-") for name in learning)
        raise click.UsageError(f"{given} {'needs' if len(learning) == 1 else 'need'} --learn METHOD "
                               f"({', '.join(LEARN_REFERENCES)})")
    if replicas > 1:  # the shortcut for --engine torchsim with N seeds
        if options["engine"] == "ase" and ctx.get_parameter_source("engine") == click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError("--replicas N runs the copies as one TorchSim batch: leave out --engine ase")
        options["engine"] = "torchsim"
    settings = settings_from(MDSettings, options)
    learn_settings = settings_from(LearnSettings, {"reference": learn, **learning}) if learn else None
    import torch

    from mlcalc.named_calculators import get_calculator
    from mlcalc.data.molecules import load_molecule
    from mlcalc.md import run_md

    dtype = torch.float64 if double else torch.float32
    atoms = load_molecule(structure)
    if learn_settings is not None:
        _md_learning(model, atoms, settings, learn_settings, out, replicas, resume, overwrite, progress, dtype)
        return
    if replicas > 1:
        _md_replicas(model, atoms, settings, out, replicas, resume, overwrite, progress, dtype)
        return
    atoms.calc = get_calculator(model, dtype=dtype)
    result = run_md(atoms, settings, out, resume=resume, progress=progress, overwrite=overwrite)
    s = result.summary()
    click.echo(f"{result.status}: {s['steps_done']} steps ({s['duration_ps']:g} ps), {s['frames']} frames in {out}/ "
               f"({s['ms_per_step']:.2f} ms/step)")
    if s["drift_meV_per_atom_per_ps"] is not None:
        click.echo(f"energy drift {s['drift_meV_per_atom_per_ps']:+.4f} meV/atom/ps "
                   f"(kinetic energy std {s['kinetic_std_meV_per_atom']:.2f} meV/atom)")
    if s.get("flagged_steps"):
        click.echo(f"force uncertainty above {settings.max_uncertainty:g} eV/Å in {s['flagged_steps']} steps, first at "
                   f"step {s['first_flagged_step']} ({s['first_flagged_ps']:g} ps); see {out}/energies.csv")
    if result.status == "blew_up":
        raise click.ClickException(result.message)


def _md_replicas(model, atoms, settings, out, replicas, resume, overwrite, progress, dtype) -> None:
    """``mlcalc md --replicas N``: N seeds of one structure in one TorchSim batch, a run folder each."""
    from mlcalc.named_calculators import REFERENCE_NAMES
    from mlcalc.md import replica_folders, replica_settings, run_batched_md
    from mlcalc.named_models import require_energy_model_file

    if model in REFERENCE_NAMES:
        raise ValueError(f"--replicas runs an mlcalc model in one batch; {model} runs one system at a time "
                         "(leave out --replicas)")
    require_energy_model_file(model)
    folders = replica_folders(out, replicas)
    results = run_batched_md([atoms] * replicas, model, replica_settings(settings, replicas), folders,
                             resume=resume, overwrite=overwrite, progress=progress, dtype=dtype)
    for folder, result in zip(folders, results):
        s = result.summary()
        drift = s["drift_meV_per_atom_per_ps"]
        click.echo(f"{folder.name} (seed {result.settings.seed}): {result.status}, {s['steps_done']} steps, "
                   f"{s['frames']} frames" + (f", drift {drift:+.4f} meV/atom/ps" if drift is not None else ""))
    blown = [folder.name for folder, result in zip(folders, results) if result.status == "blew_up"]
    if blown:
        raise click.ClickException(f"{len(blown)} of {replicas} replicas blew up: {', '.join(blown)}")


def _md_learning(model, atoms, settings, learn, out, replicas, resume, overwrite, progress, dtype) -> None:
    """``mlcalc md --learn METHOD``: MD that labels its uncertain steps and fine-tunes a committee on them."""
    from mlcalc.named_calculators import REFERENCE_NAMES
    from mlcalc.potentials.training.on_the_fly import run_learning_md

    if str(model).lower() in REFERENCE_NAMES:
        raise ValueError(f"--learn fine-tunes an mlcalc model on {learn.reference} labels; {model} is a reference "
                         "method: give a .mlc file or a shipped energy model")
    result = run_learning_md(model, atoms, settings, learn, out, replicas=replicas, resume=resume,
                             overwrite=overwrite, progress=progress, dtype=dtype)
    s = result.summary
    for run in result.runs:
        r = run.summary()
        drift = r["drift_meV_per_atom_per_ps"]
        click.echo(f"{run.out_dir}: {run.status}, {r['steps_done']} steps ({r['duration_ps']:g} ps), {r['frames']} frames"
                   + (f", drift {drift:+.4f} meV/atom/ps (less the model updates' jumps)" if drift is not None else ""))
    threshold = s["threshold"]["value_eV_per_A"]
    click.echo(f"{s['reference_calls']} {learn.reference} calls ({100 * s['share_of_steps']:.2g} % of {s['steps']} steps)"
               + (f"; budget of {s['max_calls']} spent at step {s['budget_spent_at_step']}"
                  if s["budget_spent_at_step"] is not None else "")
               + (f"; threshold {threshold:.3g} eV/Å ({s['threshold']['mode']})" if threshold is not None else ""))
    w = s["wall_time_s"]
    click.echo(f"wall time {w['total']:.1f} s: model {w['model']:.1f} s, reference {w['reference']:.1f} s, fine-tuning "
               f"{w['finetune']:.1f} s; {result.model}, {result.labelled}, {out}/learning.json")
    failed = [str(run.out_dir) for run in result.runs if run.status == "blew_up"]
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(result.runs)} runs blew up: {', '.join(failed)}")
