"""Declared dependencies match what the code imports (pyproject.toml against the sources' imports)."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("mlcalc", "potentials", "md", "analysis")
#: parts of a declared dependency, pinned by it: warp comes with torchmd-net (imported only to quiet it),
#: pydantic-core with pydantic (its custom error type), pymatgen-core with pymatgen (which ships its modules)
INDIRECT = {"warp-lang", "pydantic-core", "pymatgen-core"}
#: packages whose data files are read (located through their metadata), never imported
DATA_ONLY = {"qm9pack"}
#: imported by a dependency that needs them without declaring them: captum by torch_geometric.explain's
#: CaptumExplainer, rdkit by rogi
UNDECLARED_BY_USER = {"captum", "rdkit"}
#: imported only by an optional path whose extra is not part of `dev` (so not installed by `make test`):
#: module -> distribution; ray for `mlcalc tune --evaluator ray` (the `cluster` extra)
NOT_IN_DEV = {"ray": "ray"}
#: the `docs` extra: tools `make docs` runs (mkdocs.yml), which the package never imports
DOCS_TOOLS = {"mkdocs", "mkdocs-material", "mkdocstrings", "mkdocs-click"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def imported_distributions() -> set[str]:
    modules = set()
    for folder in SOURCES:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    modules.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules.add(node.module.split(".")[0])
    third_party = modules - set(sys.stdlib_module_names) - {"mlcalc", "__future__"}
    owners = packages_distributions()
    missing = third_party - set(owners) - set(NOT_IN_DEV)
    assert not missing, f"imported but not installed: {missing}"
    return ({_name(dist) for module in third_party if module in owners for dist in owners[module]}
            | {NOT_IN_DEV[module] for module in third_party if module in NOT_IN_DEV})


def test_every_import_is_declared_and_every_dependency_is_used():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_name(r) for r in project["dependencies"]}
    extras = {_name(r) for reqs in project["optional-dependencies"].values() for r in reqs if not r.startswith("mlcalc")}
    imported = imported_distributions()
    assert imported - core - extras - INDIRECT == set(), "imported but not declared"
    assert core - imported == set(), "declared but never imported"
    assert extras - imported - DATA_ONLY - UNDECLARED_BY_USER - DOCS_TOOLS - {"pytest", "pytest-timeout", "pytest-xdist"} == set(), \
        "extra declared but never used"
