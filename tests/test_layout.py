"""Import rules (DESIGN.md, issue #14): the import graph reads bottom-up and has no upward arrow.

Layers, bottom to top:
    base      t2l.assets, t2l.prompt   ids, paths, offline assets, the prompt format: import nothing of ours
    hypernet  the hypernetwork         imports nothing of ours (not even the base: it must stand alone)
    server    the service              base + hypernet (never training)
    training  trainers, evaluation     base + hypernet (never server)
    top       t2l.cli, t2l.bench, t2l.coverage: anything; nothing below imports them; nothing but the CLI
              imports the bench, and nothing imports the CLI.
Every form of import counts (top-level, inside functions, relative, importlib.import_module).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hypernet", "server", "training", "t2l")
BASE = {"t2l.assets", "t2l.prompt"}
ALLOWED = {  # layer -> layers it may import
    "base": set(),
    "hypernet": {"hypernet"},
    "server": {"server", "hypernet", "base"},
    "training": {"training", "hypernet", "base"},
    "top": {"top", "base", "hypernet", "server", "training"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Dotted names a module imports (relative imports resolved against `module`); `from a import b` gives `a.b`
    so that `from t2l import cli` is seen as importing t2l.cli."""
    found: set[str] = set()
    here = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else (node.module or "")
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            found.add(str(node.args[0].value))
    return {name for name in found if name.split(".")[0] in PACKAGES}


def layer(name: str) -> str:
    """The layer of a module, or of a name imported from one (`t2l.assets.t2l_home` is base)."""
    if any(name == b or name.startswith(b + ".") for b in BASE):
        return "base"
    top = name.split(".")[0]
    return "top" if top == "t2l" else top


def our_modules() -> list[Path]:
    files = [f for pkg in PACKAGES for f in sorted((ROOT / pkg).rglob("*.py"))]
    assert len(files) > 50, "the packages were not found"
    return files


def edges() -> list[tuple[str, str]]:
    out = []
    for f in our_modules():
        me = module_name(f)
        out += [(me, other) for other in imported_modules(f.read_text(), me, f.name == "__init__.py")]
    return out


def test_detector_sees_every_import_form():
    src = ("import training.sft\nfrom server import app\nfrom . import x\nfrom ..assets import t2l_home\n"
           "importlib.import_module('t2l.cli')\nimport numpy\n")
    assert imported_modules(src, "t2l.bench.run") == {"training.sft", "server.app", "t2l.bench.x",
                                                      "t2l.assets.t2l_home", "t2l.cli"}
    assert imported_modules("from . import routes\n", "server", is_package=True) == {"server.routes"}


def test_layers_of_names():
    assert [layer(n) for n in ("t2l.assets", "t2l.prompt.with_description", "t2l.cli", "t2l.bench.run",
                               "t2l.coverage", "hypernet.model", "server.app")] == \
        ["base", "base", "top", "top", "top", "hypernet", "server"]


def test_rule_catches_an_upward_arrow():
    """The rule itself can fail: a training module importing the server, or the base importing the hypernet."""
    bad = [("training.sft", "server.app"), ("t2l.assets", "hypernet.model"), ("server.app", "t2l.cli")]
    assert [e for e in bad if layer(e[1]) not in ALLOWED[layer(e[0])]] == bad


def test_no_upward_arrow():
    offenders = sorted(f"{a} -> {b}" for a, b in edges() if layer(b) not in ALLOWED[layer(a)])
    assert not offenders


def test_nothing_imports_the_cli_and_only_the_cli_imports_the_bench():
    offenders = sorted(f"{a} -> {b}" for a, b in edges()
                       if (b.startswith("t2l.cli") and not a.startswith("t2l.cli"))
                       or (b.startswith("t2l.bench") and not a.startswith(("t2l.bench", "t2l.cli"))))
    assert not offenders


@pytest.mark.parametrize("package, banned", [("hypernet", set(PACKAGES) - {"hypernet"}), ("server", {"training"}),
                                             ("training", {"server"})])
def test_package_rules(package, banned):
    """The coarse rules of DESIGN.md, stated on their own."""
    bad = sorted({a for a, b in edges() if a.split(".")[0] == package and b.split(".")[0] in banned})
    assert not bad


def test_modules_stay_small():
    """Guide 9: modules under ~400 lines."""
    long = {str(f.relative_to(ROOT)): n for f in our_modules() if (n := len(f.read_text().splitlines())) > 400}
    assert not long
