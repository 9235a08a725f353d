"""The layers import only downwards: core < potentials (model kinds) < md < training < analysis < CLI (mlcalc.cli, demo included).

Parsed from the source (no imports run): an import executed at import time may only reach
the same or a lower layer, and core modules reach higher layers not even inside functions
(core finds model kinds through the registry's one plugin load).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"mlcalc": "mlcalc", "potentials": "mlcalc.potentials", "md": "mlcalc.md", "analysis": "mlcalc.analysis"}
#: module prefix -> layer, most specific first
LAYERS = [("mlcalc.cli", 5), ("mlcalc.analysis", 4), ("mlcalc.potentials.training", 3),
          ("mlcalc.md", 2), ("mlcalc.potentials", 1), ("mlcalc", 0)]


def layer(module: str) -> int:
    return next(rank for prefix, rank in LAYERS if module == prefix or module.startswith(prefix + "."))


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    parts = [FOLDERS[rel.parts[0]], *rel.parts[1:-1]]
    if path.stem != "__init__":
        parts.append(path.stem)
    return ".".join(parts)


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports(source: str, module: str, is_package: bool = False) -> list[tuple[str, bool]]:
    """``(imported mlcalc module, at import time)`` for every import in ``source``."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, import_time: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if _is_type_checking(child):
                continue
            now = import_time and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((alias.name, now) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = package.split(".")[:len(package.split(".")) - child.level + 1] if child.level else []
                target = ".".join(base + ([child.module] if child.module else []))
                found.append((target, now))
            visit(child, now)

    visit(ast.parse(source), True)
    return [(name, now) for name, now in found if name == "mlcalc" or name.startswith("mlcalc.")]


def _sources():
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield path, module_name(path)


def test_the_parser_sees_upward_imports():
    assert imports("from mlcalc.md import run_md", "mlcalc.config") == [("mlcalc.md", True)]
    assert imports("def f():\n    from ..md import x", "mlcalc.potentials.training.train") == [
        ("mlcalc.potentials.md", False)]
    assert imports("from .base import A", "mlcalc.model", is_package=True) == [("mlcalc.model.base", True)]
    assert imports("if TYPE_CHECKING:\n    import mlcalc.analysis", "mlcalc.graph") == []
    assert layer("mlcalc.potentials.training.fit") == 3 and layer("mlcalc.keys") == 0
    assert layer("mlcalc.cli.tune") == 5 and layer("mlcalc.analysis.transfer.study") == 4
    assert layer("mlcalc.potentials.training.config") == 3


@pytest.mark.parametrize("path,module", list(_sources()), ids=lambda x: str(x) if isinstance(x, str) else "")
def test_imports_go_downwards(path, module):
    found = imports(path.read_text(), module, is_package=path.stem == "__init__")
    upward = [name for name, now in found if now and layer(name) > layer(module)]
    assert not upward, f"{module} imports the higher layer(s) {upward} at import time"
    if layer(module) == 0:
        reached = [name for name, _ in found if layer(name) > 0]
        assert not reached, f"core module {module} imports {reached}; reach model kinds through mlcalc.model"
