"""``mlcalc transfer`` (a transfer study from its YAML config) and ``mlcalc check-report`` (a study's report as a
browser draws it)."""

from __future__ import annotations

import click

from mlcalc.cli.options import config_overrides, frame_counts, progress_option, set_option, shortcut_option


@click.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@set_option("md.steps=1000")
@shortcut_option("--replicas", "replicas", type=click.IntRange(min=1),
                 help="runs per molecule for the model and the reference (default: the config's replicas)")
@shortcut_option("--finetune", "finetune", convert=frame_counts, metavar="K,K,...",
                 help="frame counts for the fine-tuning curve, e.g. 0,10,50,200 (default: the config's finetune)")
@click.option("--overwrite", is_flag=True, help="delete the study already in out_dir first (default: resume it)")
@progress_option
def transfer(config: str, overrides: tuple[str, ...], overwrite: bool, progress: bool) -> None:
    """Run the transfer study in CONFIG (MD with the model and the reference, distributions, report).

    Rerunning the same config reuses finished MD runs and resumes interrupted ones (a study
    there made with another model or dtype is refused; --overwrite starts afresh).
    """
    from mlcalc.analysis.transfer.study import run_transfer
    from mlcalc.analysis.transfer.config import load_transfer_config

    cfg = load_transfer_config(config, config_overrides(overrides))
    run_transfer(cfg, echo=click.echo, progress=progress, overwrite=overwrite)
    if cfg.source_models:
        click.echo(f"comparison: {cfg.out_dir / 'sources.html'} (also sources.md, sources.json; each model's study in "
                   f"{cfg.out_dir / 'sources'}/)")
    else:
        click.echo(f"report: {cfg.out_dir / 'report.html'} (also report.md, results.json, figures/)")


@click.command("check-report")
@click.argument("report", type=click.Path(exists=True, dir_okay=False))
@click.option("--screenshot", type=click.Path(dir_okay=False), default=None,
              help="also save the page as headless Chromium draws it (PNG)")
@click.option("--browser/--no-browser", default=True, show_default=True,
              help="load the page in headless Chromium (chromium-headless-shell or chromium) and ask what it drew")
def check_report(report: str, screenshot: str | None, browser: bool) -> None:
    """Check REPORT (a study's report.html) as a reader sees it: every image present and drawn."""
    from mlcalc.analysis.report_check import browser_check, check_images

    files = check_images(report)
    click.echo(f"{len(files['images'])} images in {report}; unreadable: {', '.join(files['broken']) or 'none'}")
    drawn = None
    if browser or screenshot:
        drawn = browser_check(report, screenshot=screenshot)
        click.echo(f"{drawn['browser']} drew {len(drawn['drawn']) - len(drawn['broken'])} of "
                   f"{len(drawn['drawn'])} images" + (f"; screenshot: {drawn['screenshot']}"
                                                      if "screenshot" in drawn else ""))
    if files["broken"] or (drawn and drawn["broken"]):
        raise click.ClickException("broken images: " + ", ".join(files["broken"] or drawn["broken"]))
