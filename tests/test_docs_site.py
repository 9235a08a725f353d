"""The documentation site builds strict (what `make docs` runs: a warning, a broken link or anchor, a docstring or a
generated page that fails, fails it), its generated pages say what the code says, and a browser draws it."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built into a temporary folder with mkdocs.yml, strict, in this process."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    pytest.importorskip("mkdocs_click")
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    out = tmp_path_factory.mktemp("site")
    config = load_config(str(ROOT / "mkdocs.yml"), site_dir=str(out), strict=True)
    warnings: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())
    logging.getLogger("mkdocs").addHandler(handler)
    start = time.perf_counter()
    try:
        build(config)               # strict: raises Abort after the first page with a warning
    finally:
        logging.getLogger("mkdocs").removeHandler(handler)
    print(f"site built in {time.perf_counter() - start:.1f} s")
    assert warnings == []
    return out


def _text(site: Path, page: str) -> str:
    html = (site / page).read_text()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&amp;", "&").replace("&lt;", "<") \
        .replace("&gt;", ">").replace("&quot;", '"').replace("&#39;", "'")


def test_every_page_is_built(site):
    for page in ["index.html", "concepts.html", "guide.html", "results.html", "RESULTS.html", "ARCHITECTURE.html",
                 "tutorials/01_shipped_model.html", "tutorials/05_finetune.html", "cli/md.html",
                 "config/training.html", "api/calculator.html", "api/md.html", "figures/dataflow.svg"]:
        assert (site / page).is_file(), page
    assert "class MLCalc" in _text(site, "api/calculator.html").replace("class  MLCalc", "class MLCalc") \
        or "MLCalc" in _text(site, "api/calculator.html")


def test_command_pages_carry_every_option_of_every_command(site):
    import click

    from mlcalc.cli import main

    index = _text(site, "cli/index.html")
    commands = [(name, cmd, [name]) for name, cmd in main.commands.items()]
    for name, command, _ in list(commands):
        if isinstance(command, click.Group):
            commands += [(sub, subcommand, [name, sub]) for sub, subcommand in command.commands.items()]
    for name, command, path in commands:
        module = command.callback.__module__.rsplit(".", 1)[-1]
        page = _text(site, f"cli/{'import' if module == 'import_model' else module}.html")
        assert f"mlcalc {' '.join(path)}" in page and f"mlcalc {' '.join(path)}" in index, path
        for option in command.params:
            if isinstance(option, click.Option) and not option.hidden:
                assert option.opts[-1] in page, (path, option.opts)
        first_line = (command.help or "").split("\n")[0].strip()
        assert first_line[:60] in page, (path, first_line)


def test_config_reference_lists_every_field_of_the_schemas(site):
    from mlcalc.analysis.transfer.config import TransferConfig
    from mlcalc.md.settings import MDSettings
    from mlcalc.potentials.training.config import OptimConfig, TrainConfig

    training = _text(site, "config/training.html")
    for name in TrainConfig.model_fields:
        assert f"{name}" in training, name
    for name, field in OptimConfig.model_fields.items():
        assert f"optim.{name}" in training, name
    md = _text(site, "config/md.html")
    for name, field in MDSettings.model_fields.items():
        assert f" {name} " in md and (field.description or "")[:40] in md, name
    transfer = _text(site, "config/transfer.html")
    for name in TransferConfig.model_fields:
        assert name in transfer, name


def test_a_browser_draws_the_home_page_and_a_tutorial_with_every_image(site, tmp_path):
    from mlcalc.analysis.report_check import browser_check, check_images, find_browser

    if find_browser() is None:
        pytest.skip("no headless browser (apt-get install chromium-headless-shell)")
    for page, images in (("index.html", 0), ("concepts.html", 1), ("tutorials/01_shipped_model.html", 2)):
        # PNGs decoded from the files (an SVG is not an image matplotlib reads: the browser's answer covers it)
        assert [src for src in check_images(site / page)["broken"] if not src.endswith(".svg")] == [], page
        shot = tmp_path / "shot.png" if page.startswith("tutorials/") else None
        drawn = browser_check(site / page, screenshot=shot, height=900)
        assert drawn["broken"] == [] and len(drawn["drawn"]) >= images, (page, drawn)
    assert (tmp_path / "shot.png").stat().st_size > 10_000
