"""The ``mlcalc`` command line: ``info``, ``models``, ``train``, ``predict``, ``data reference``, ``md``,
``transfer``, ``demo`` (and ``explain``, ``tune``, ``latent`` from their own modules)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mlcalc.cli_errors import ErrorHandlingGroup
from mlcalc.cli_options import schema_options, settings_from
from mlcalc.data.molecules import MOLECULES
from mlcalc.errors import describe
from mlcalc.md_settings import MDSettings, ReferenceSettings


def _fail(err: Exception) -> None:
    """Hand ``err`` to the group's handler (one line, exit code 2; the traceback with --debug)."""
    raise err


def _parse_overrides(items: tuple[str, ...]) -> dict:
    """``--set KEY=VALUE`` options as {dotted key: YAML-parsed value}."""
    import yaml

    parsed = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set needs KEY=VALUE, got {item!r}")
        try:
            parsed[key] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise ValueError(f"--set {item}: {describe(err)[0]}") from None
    return parsed


@click.group(cls=ErrorHandlingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlcalc")
@click.option("--debug", is_flag=True, help="show the traceback of an error (also: MLCALC_DEBUG=1)")
def main(debug: bool) -> None:
    """Machine-learned models of molecules and crystals as ASE calculators.

    Errors are one line on stderr (exit code 2 for bad input); --debug shows the traceback.
    """


@main.command()
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="print the raw manifest as JSON")
def info(model: str, as_json: bool) -> None:
    """Print the manifest of MODEL (a .mlc file or a shipped model name)."""
    from mlcalc.manifest_text import format_manifest
    from mlcalc.modelfile import read_manifest
    from mlcalc.named_models import resolve_model_path

    try:
        path = resolve_model_path(model)
        manifest = read_manifest(path)
    except (OSError, ValueError) as err:
        _fail(err)
    click.echo(json.dumps(manifest, indent=2, sort_keys=True) if as_json else format_manifest(manifest, path))


@main.command()
def models() -> None:
    """List the pretrained models shipped with mlcalc."""
    from mlcalc.modelfile import read_manifest
    from mlcalc.named_models import available_models, resolve_model_path

    for name in available_models():
        m = read_manifest(resolve_model_path(name))
        test = m.get("metrics", {}).get("test", {})
        mae = f"force MAE {test['forces_mae_meV_per_A']:.1f} meV/Å" if "forces_mae_meV_per_A" in test else ""
        click.echo(f"{name:20s} {m['kind']:24s} {m.get('data', {}).get('name', '')}  {mae}")


@main.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--resume", is_flag=True, help="continue from the last checkpoint in the output folder")
@click.option("--overwrite", is_flag=True, help="replace an earlier run in the output folder (default: refuse)")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="override a config value, e.g. --set optim.epochs=5 (value parsed as YAML)")
@click.option("--subset", type=click.IntRange(min=1), default=None,
              help="QM9 configs: train on a seeded random subset of this many molecules (sets data.subset)")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="train this many members (seed, seed+1, ...) and export one ensemble .mlc with their spread")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="with --seeds: train this many members at once, each in its own process with its share of the "
                   "cores as torch threads (max(1, cores // jobs)); output lines prefixed [seed-k]")
@click.option("--devices", type=click.IntRange(min=1), default=1, show_default=True,
              help="processes (CPU) or GPUs to train on; with --strategy ddp, data-parallel")
@click.option("--strategy", type=click.Choice(["auto", "ddp"]), default="auto", show_default=True,
              help="ddp: Lightning's distributed data parallel (gloo on CPU)")
@click.option("--wandb", "use_wandb", is_flag=True, help="also log to Weights & Biases, offline (wandb sync later)")
@click.option("--wandb-online", is_flag=True, help="with --wandb: log online (needs a W&B login)")
@click.option("--wandb-project", default=None, help="W&B project (default: mlcalc)")
def train(config: str, resume: bool, overwrite: bool, overrides: tuple[str, ...], subset: int | None, seeds: int,
          jobs: int, devices: int, strategy: str, use_wandb: bool, wandb_online: bool, wandb_project: str | None) -> None:
    """Train a model from a YAML CONFIG and export it as .mlc."""
    from mlcalc.cli_tune import wandb_options

    from mlcalc.config import load_config
    from mlcalc.potentials.training import train as run_training

    try:
        parsed = _parse_overrides(overrides)
        cfg = load_config(config, parsed)
        if subset is not None:
            if cfg.data.source != "qm9":
                raise ValueError(f"--subset applies to QM9 configs (data.source: qm9); {config} has data.source: "
                                 f"{cfg.data.source}")
            cfg = load_config(config, {**parsed, "data.subset": subset})
    except (OSError, ValueError) as err:
        _fail(err)
    wandb = wandb_options(use_wandb, wandb_online, wandb_project)
    if jobs > 1 and seeds == 1:
        raise click.UsageError("--jobs trains ensemble members in parallel: give --seeds N (N >= 2) with it")
    if seeds > 1:
        from mlcalc.potentials.training.seeds import train_seeds

        result = train_seeds(cfg, seeds, resume=resume, wandb=wandb, overwrite=overwrite, jobs=jobs)
    else:
        result = run_training(cfg, resume=resume, overwrite=overwrite, wandb=wandb, devices=devices,
                              strategy=strategy)
    test = result.metrics["test"]
    click.echo(f"model: {result.model_path}")
    errors = ", ".join(f"{k} {v:.4g}" for k, v in test.items() if "_mae_" in k)
    count = test.get("frames", test.get("structures"))
    click.echo(f"test {errors} ({count} structures); training wall time {result.metrics['train_wall_time_s']:.0f} s"
               + (f", CPU time {result.metrics['train_cpu_time_s']:.0f} s" if "train_cpu_time_s" in result.metrics else ""))
    for key, spread in result.metrics.get("seed_spread", {}).items():
        if "_mae_" in key:
            click.echo(f"{seeds} seeds: {key} {spread['mean']:.4g} ± {spread['std']:.2g} (min {spread['min']:.4g}, "
                       f"max {spread['max']:.4g})")


@main.command()
@click.argument("model")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", type=click.Path(dir_okay=False), default="predictions.csv", show_default=True,
              help="CSV table: file, index, formula, then one column per property with its unit "
                   "(a CGCNN folder: id, target, prediction)")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
def predict(model: str, files: tuple[str, ...], out: str, batch_size: int) -> None:
    """Predict MODEL's properties for every frame of FILES (any ASE-readable structure files), or for one
    CGCNN data folder (id_prop.csv beside <id>.cif files)."""
    from mlcalc import MLCalc
    from mlcalc.predict import predict_files

    try:
        _refuse_input_as_output(out, files)
        if any(Path(f).is_dir() for f in files):
            from mlcalc.predict_crystals import predict_cif_folder

            if len(files) != 1:
                raise ValueError("give one CGCNN data folder, or structure files (not both)")
            n = predict_cif_folder(MLCalc.load(model), files[0], out, batch_size=batch_size)
        else:
            n = predict_files(MLCalc.load(model), files, out, batch_size=batch_size)
    except (OSError, ValueError) as err:
        _fail(err)
    click.echo(f"wrote {n} rows to {out}")


def _refuse_input_as_output(out: str, inputs: tuple[str, ...]) -> None:
    """Raise ValueError if ``out`` is one of the ``inputs`` (it would be overwritten)."""
    target = Path(out).resolve()
    for name in inputs:
        if Path(name).resolve() == target:
            raise ValueError(f"--out {out} is also an input file: it would be overwritten; choose another --out")


_REFERENCE_OPTIONS = ("frames", "thermalise", "temperature", "seed", "timestep", "interval", "friction")
#: every MD setting is an option of `mlcalc md` (a new setting reaches the CLI from the schema alone)
_MD_OPTIONS = tuple(MDSettings.model_fields)


@main.group()
def data() -> None:
    """Make and inspect data sets."""


@data.command("reference")
@click.option("--molecule", required=True, help=f"one of {', '.join(MOLECULES)}, or an XYZ file")
@schema_options(ReferenceSettings, _REFERENCE_OPTIONS)
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="extxyz output (default: <molecule>-xtb-<T>K.extxyz)")
def data_reference(molecule: str, out: str | None, **options) -> None:
    """MD17-style reference frames from GFN2-xTB Langevin MD (energies and forces as extxyz).

    After --thermalise steps, a frame is kept every --interval steps (40 steps of 0.5 fs: 20 fs).
    """
    settings = settings_from(ReferenceSettings, options)
    from mlcalc.data.molecules import load_molecule
    from mlcalc.md import BlowUpError, generate_reference

    out = out or f"{Path(molecule).stem}-xtb-{settings.temperature:g}K.extxyz"
    try:
        generate_reference(load_molecule(molecule), settings, out=out)
    except (OSError, ValueError, ImportError, BlowUpError) as err:
        _fail(err)
    click.echo(f"wrote {settings.frames} frames to {out}")


@main.command()
@click.argument("model")
@click.argument("structure")
@schema_options(MDSettings, _MD_OPTIONS)
@click.option("--out", type=click.Path(file_okay=False), required=True, help="output folder")
@click.option("--float64", "double", is_flag=True, help="evaluate the model in float64 (best energy conservation)")
@click.option("--resume", is_flag=True, help="continue the run saved in --out")
@click.option("--overwrite", is_flag=True, help="replace a run already in --out (default: refuse)")
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.option("--replicas", type=click.IntRange(min=1), default=1, show_default=True,
              help="run N copies (seeds SEED, SEED+1, ...) as one TorchSim batch into OUT/replica-000, ...; "
                   "N > 1 is --engine torchsim with N seeds")
@click.pass_context
def md(ctx: click.Context, model: str, structure: str, out: str, double: bool, resume: bool, overwrite: bool,
       progress: bool, replicas: int, **options) -> None:
    """Run MD of STRUCTURE (a shipped molecule or a structure file) with MODEL (.mlc, shipped name or gfn2-xtb)."""
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
    try:
        atoms = load_molecule(structure)
        if replicas > 1:
            _md_replicas(model, atoms, settings, out, replicas, resume, overwrite, progress, dtype)
            return
        atoms.calc = get_calculator(model, dtype=dtype)
        result = run_md(atoms, settings, out, resume=resume, progress=progress, overwrite=overwrite)
    except (OSError, ValueError, ImportError) as err:
        _fail(err)
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

    if model in REFERENCE_NAMES:
        raise ValueError(f"--replicas runs an mlcalc model in one batch; {model} runs one system at a time "
                         "(leave out --replicas)")
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


@main.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="override a config value, e.g. --set md.steps=1000 (value parsed as YAML)")
@click.option("--replicas", type=click.IntRange(min=1), default=None,
              help="runs per molecule for the model and the reference (default: the config's replicas)")
@click.option("--finetune", "finetune", default=None, metavar="K,K,...",
              help="frame counts for the fine-tuning curve, e.g. 0,10,50,200 (default: the config's finetune)")
@click.option("--overwrite", is_flag=True, help="delete the study already in out_dir first (default: resume it)")
@click.option("--progress/--no-progress", default=True, show_default=True)
def transfer(config: str, overrides: tuple[str, ...], replicas: int | None, finetune: str | None, overwrite: bool,
             progress: bool) -> None:
    """Run the transfer study in CONFIG (MD with the model and the reference, distributions, report).

    Rerunning the same config reuses finished MD runs and resumes interrupted ones (a study
    there made with another model or dtype is refused; --overwrite starts afresh).
    """
    from mlcalc.analysis.transfer import run_transfer
    from mlcalc.analysis.transfer_config import load_transfer_config

    try:
        changes = _parse_overrides(overrides)
        if replicas is not None:
            changes["replicas"] = replicas
        if finetune is not None:
            changes["finetune"] = _frame_counts(finetune)
        cfg = load_transfer_config(config, changes)
        run_transfer(cfg, echo=click.echo, progress=progress, overwrite=overwrite)
    except (OSError, ValueError, ImportError) as err:
        _fail(err)
    click.echo(f"report: {cfg.out_dir / 'report.html'} (also report.md, results.json, figures/)")


@main.command("check-report")
@click.argument("report", type=click.Path(exists=True, dir_okay=False))
@click.option("--screenshot", type=click.Path(dir_okay=False), default=None,
              help="also save the page as headless Chromium draws it (PNG)")
@click.option("--browser/--no-browser", default=True, show_default=True,
              help="load the page in headless Chromium (chromium-headless-shell or chromium) and ask what it drew")
def check_report(report: str, screenshot: str | None, browser: bool) -> None:
    """Check REPORT (a study's report.html) as a reader sees it: every image present and drawn."""
    from mlcalc.analysis.report_check import browser_check, check_images

    try:
        files = check_images(report)
        click.echo(f"{len(files['images'])} images in {report}; unreadable: {', '.join(files['broken']) or 'none'}")
        drawn = None
        if browser or screenshot:
            drawn = browser_check(report, screenshot=screenshot)
            click.echo(f"{drawn['browser']} drew {len(drawn['drawn']) - len(drawn['broken'])} of "
                       f"{len(drawn['drawn'])} images" + (f"; screenshot: {drawn['screenshot']}"
                                                          if "screenshot" in drawn else ""))
    except ValueError as err:
        _fail(err)
    if files["broken"] or (drawn and drawn["broken"]):
        raise click.ClickException("broken images: " + ", ".join(files["broken"] or drawn["broken"]))


def _frame_counts(text: str) -> list[int]:
    """'0,10,50' -> [0, 10, 50]; anything else is refused in one line."""
    try:
        return [int(k) for k in text.split(",") if k.strip()]
    except ValueError:
        raise click.BadParameter(f"--finetune takes frame counts separated by commas, e.g. 0,10,50,200; got "
                                 f"{text!r}") from None


@main.command()
@click.option("--out", type=click.Path(file_okay=False), default="demo-output", show_default=True)
@click.option("--steps", type=click.IntRange(min=10), default=2000, show_default=True,
              help="NVE steps (0.5 fs) per molecule and calculator")
@click.option("--overwrite", is_flag=True, help="delete an earlier demo in --out first (default: reuse and resume it)")
@click.option("--progress/--no-progress", default=True, show_default=True)
def demo(out: str, steps: int, overwrite: bool, progress: bool) -> None:
    """A reduced ethanol -> n-/iso-propanol transfer study with the shipped model, report included.

    Rerunning reuses the MD runs already in --out (and resumes interrupted ones).
    """
    from mlcalc.demo import run_demo

    try:
        run_demo(Path(out), steps=steps, echo=click.echo, progress=progress, overwrite=overwrite)
    except (OSError, ValueError, ImportError) as err:
        _fail(err)


from mlcalc.cli_explain import explain  # noqa: E402  (commands of their own module)

main.add_command(explain)
from mlcalc.cli_tune import tune  # noqa: E402  (mlcalc tune: hyperparameter search)

main.add_command(tune)
from mlcalc.cli_latent import latent  # noqa: E402  (mlcalc latent: autoencoders and the SMILES VAE)

main.add_command(latent)
from mlcalc.cli_finetune import finetune  # noqa: E402  (mlcalc finetune: a saved model on new frames)

main.add_command(finetune)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
