"""``mlcalc md``: MD of a structure with a model (one run, or replicas in one TorchSim batch)."""

from __future__ import annotations

import click

from mlcalc.cli.options import progress_option, schema_options, settings_from
from mlcalc.errors import check_resume_or_overwrite
from mlcalc.md.settings import MDSettings

#: every MD setting is an option of `mlcalc md` (a new setting reaches the CLI from the schema alone)
_MD_OPTIONS = tuple(MDSettings.model_fields)


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
@click.pass_context
def md(ctx: click.Context, model: str, structure: str, out: str, double: bool, resume: bool, overwrite: bool,
       progress: bool, replicas: int, **options) -> None:
    """Run MD of STRUCTURE (a shipped molecule or a structure file) with MODEL (.mlc, shipped name or gfn2-xtb)."""
    check_resume_or_overwrite(resume, overwrite, "MD run")
    if replicas > 1:  # the shortcut for --engine torchsim with N seeds
        if options["engine"] == "ase" and ctx.get_parameter_source("engine") == click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError("--replicas N runs the copies as one TorchSim batch: leave out --engine ase")
        options["engine"] = "torchsim"
    settings = settings_from(MDSettings, options)
    import torch

    from mlcalc.named_calculators import get_calculator
    from mlcalc.data.molecules import load_molecule
    from mlcalc.md import run_md

    dtype = torch.float64 if double else torch.float32
    atoms = load_molecule(structure)
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
