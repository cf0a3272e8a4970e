"""The import rules of docs/architecture.md, checked on the source: each module imports from the
project only the layers below it (a new upward import fails here, and the document says why)."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "torchrl_wsrl"

# module (or package prefix) -> project modules it may import (prefixes). First match wins.
ALLOWED = {
    "torchrl_wsrl.kernels": (),
    "torchrl_wsrl.rewards": (),
    "torchrl_wsrl.errors": (),
    "torchrl_wsrl.assets": (),  # the files shipped in the package, by task name
    "torchrl_wsrl.runtime": (),
    "torchrl_wsrl.metrics": (),
    "torchrl_wsrl.plotting": (),
    "torchrl_wsrl.collectors": (),
    "torchrl_wsrl.modules": ("torchrl_wsrl.modules", "torchrl_wsrl.kernels"),
    "torchrl_wsrl.checkpoint": ("torchrl_wsrl.modules", "torchrl_wsrl.envs"),  # the saved formats; the actor's own state
    "torchrl_wsrl.objectives": ("torchrl_wsrl.objectives", "torchrl_wsrl.modules"),
    "torchrl_wsrl.domains": ("torchrl_wsrl.domains", "torchrl_wsrl.rewards", "torchrl_wsrl.errors"),
    "torchrl_wsrl.envs": ("torchrl_wsrl.envs", "torchrl_wsrl.domains", "torchrl_wsrl.rewards"),
    "torchrl_wsrl.data": ("torchrl_wsrl.assets", "torchrl_wsrl.data", "torchrl_wsrl.domains", "torchrl_wsrl.envs", "torchrl_wsrl.errors", "torchrl_wsrl.rewards"),
    "torchrl_wsrl.replay": ("torchrl_wsrl.data", "torchrl_wsrl.rewards"),
    "torchrl_wsrl.update": ("torchrl_wsrl.objectives",),
    "torchrl_wsrl.evaluation": ("torchrl_wsrl.data", "torchrl_wsrl.envs", "torchrl_wsrl.modules"),
    "torchrl_wsrl.agent": ("torchrl_wsrl.checkpoint", "torchrl_wsrl.conf", "torchrl_wsrl.envs", "torchrl_wsrl.modules", "torchrl_wsrl.objectives", "torchrl_wsrl.update"),
    "torchrl_wsrl.validation": ("torchrl_wsrl.assets", "torchrl_wsrl.conf", "torchrl_wsrl.domains", "torchrl_wsrl.envs"),
    # The run config: its schema imports the choice lists of the modules that define them.
    "torchrl_wsrl.conf": (
        "torchrl_wsrl.assets", "torchrl_wsrl.conf", "torchrl_wsrl.domains", "torchrl_wsrl.envs", "torchrl_wsrl.metrics",
        "torchrl_wsrl.modules", "torchrl_wsrl.objectives", "torchrl_wsrl.update",
    ),
    "torchrl_wsrl.training": (
        "torchrl_wsrl.training", "torchrl_wsrl.agent", "torchrl_wsrl.assets", "torchrl_wsrl.checkpoint", "torchrl_wsrl.collectors", "torchrl_wsrl.conf",
        "torchrl_wsrl.data", "torchrl_wsrl.envs", "torchrl_wsrl.evaluation", "torchrl_wsrl.metrics", "torchrl_wsrl.modules",
        "torchrl_wsrl.plotting", "torchrl_wsrl.replay", "torchrl_wsrl.update", "torchrl_wsrl.validation",
    ),
    "torchrl_wsrl.report": ("torchrl_wsrl.metrics", "torchrl_wsrl.plotting"),
    # Commands: anything below them; python -m torchrl_wsrl.train runs the train command.
    "torchrl_wsrl.cli": ("torchrl_wsrl",),
    "torchrl_wsrl.train": ("torchrl_wsrl.cli.train",),
    "torchrl_wsrl": (),  # the package itself, and any module without a rule: no project import
}


def module_name(path: Path) -> str:
    if path.is_relative_to(ROOT / "kernels"):
        parts = ("torchrl_wsrl", "kernels", *path.relative_to(ROOT / "kernels").with_suffix("").parts)
    else:
        parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__")


def imports(path: Path) -> set[str]:
    """Absolute module names ``path`` imports (at any depth of the file)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def rule(module: str) -> tuple[str, ...]:
    for prefix, allowed in ALLOWED.items():
        if module == prefix or module.startswith(prefix + "."):
            return allowed
    raise AssertionError(f"{module} has no rule in ALLOWED")


SOURCES = sorted([*PACKAGE.rglob("*.py"), *(ROOT / "kernels").glob("*.py")])


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: module_name(p))
def test_imports_follow_the_layers(path):
    module = module_name(path)
    allowed = rule(module)
    upward = {
        name for name in imports(path)
        if name.split(".")[0] in ("torchrl_wsrl", "kernels") and not any(name == a or name.startswith(a + ".") for a in allowed)
    }
    assert not upward, f"{module} imports {sorted(upward)}; allowed: {allowed} (docs/architecture.md)"


def test_kernels_import_neither_torchrl_nor_tensordict():
    for path in (ROOT / "kernels").glob("*.py"):
        imported = {n.split(".")[0] for n in imports(path)}
        assert not imported & {"torchrl", "tensordict", "torchrl_wsrl"}, path

