"""MkDocs hooks of the mlcalc site (``hooks:`` in mkdocs.yml; not part of the package).

- On load: the source tree mkdocstrings reads. setuptools maps ``mlcalc.md`` to ``md/``,
  ``mlcalc.potentials`` to ``potentials/`` and ``mlcalc.analysis`` to ``analysis/`` (pyproject
  ``package-dir``); griffe looks for subpackages inside ``mlcalc/`` only, so ``build/docs-src/mlcalc``
  is made of links to ``mlcalc/``'s entries plus those three folders.
- ``on_page_markdown``: a line ``<!-- config-reference: module:Class -->`` becomes the reference
  tables of that pydantic schema (:mod:`config_reference`), so the page cannot drift from the code.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from config_reference import schema_reference  # noqa: E402

#: import name -> folder, as pyproject.toml's package-dir maps them
PACKAGE_DIRS = {"md": "md", "potentials": "potentials", "analysis": "analysis"}
_CLI_MARKER = "<!-- cli-commands -->"
#: command module -> its page under docs/cli/ (the module's name unless listed)
CLI_PAGES = {"import_model": "import"}
_MARKER = re.compile(r"^<!-- config-reference: ([\w.]+):(\w+)(?: (\S+))? -->$", re.MULTILINE)


def source_tree(root: Path) -> Path:
    """``root/build/docs-src``: ``mlcalc/`` as Python imports it; its path.

    Links to ``mlcalc/``'s entries and to the mapped folders, except ``__init__.py``, copied: griffe scans the
    folder of a package's resolved ``__init__.py`` for its submodules.
    """
    tree = root / "build" / "docs-src"
    package = tree / "mlcalc"
    if package.exists():
        shutil.rmtree(package)
    package.mkdir(parents=True)
    linked = {entry.name: entry for entry in (root / "mlcalc").iterdir()
              if entry.name not in ("__pycache__", "__init__.py")}
    linked.update({name: root / folder for name, folder in PACKAGE_DIRS.items()})
    for name, target in linked.items():
        os.symlink(target.resolve(), package / name)
    shutil.copyfile(root / "mlcalc" / "__init__.py", package / "__init__.py")
    return tree


# Made when MkDocs loads this hook, before any plugin starts: mkdocstrings' Python handler globs its
# ``paths`` when it is created (during the plugins' on_config), and a missing folder would be dropped.
source_tree(Path(__file__).resolve().parents[2])


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    def expand(match: re.Match) -> str:
        module, name, prefix = match.group(1), match.group(2), match.group(3) or ""
        return schema_reference(module, name, prefix)

    if _CLI_MARKER in markdown:
        markdown = markdown.replace(_CLI_MARKER, cli_commands(Path(config.docs_dir)))
    return _MARKER.sub(expand, markdown)


def cli_page(command) -> str:
    """The page (under docs/cli/) that documents a command of the ``mlcalc`` group: its module's."""
    module = command.callback.__module__.rsplit(".", 1)[-1]
    return CLI_PAGES.get(module, module) + ".md"


def cli_commands(docs_dir: Path) -> str:
    """A table of every command of ``mlcalc`` (and each group's subcommands): name, first line of help, page.

    Raises if a command's page is missing, so that a new command module cannot go undocumented.
    """
    import click

    from mlcalc.cli import main

    rows = ["| command | what it does |", "|---|---|"]
    for name, command in sorted(main.commands.items()):
        page = cli_page(command)
        if not (docs_dir / "cli" / page).is_file():
            raise FileNotFoundError(f"mlcalc {name} has no page docs/cli/{page} (module {command.callback.__module__})")
        rows.append(f"| [`mlcalc {name}`]({page}) | {command.get_short_help_str(200)} |")
        if isinstance(command, click.Group):
            rows += [f"| [`mlcalc {name} {sub}`]({page}) | {subcommand.get_short_help_str(200)} |"
                     for sub, subcommand in sorted(command.commands.items())]
    return "\n".join(rows)
