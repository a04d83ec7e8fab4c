"""Import rules (DESIGN.md): hypernet imports nothing of ours; server never imports training."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"hypernet", "server", "training", "t2l"}


def imported_packages(source: str, package: str) -> set[str]:
    """Top-level names a module imports; relative imports resolve inside `package`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add(package if node.level else (node.module or "").split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            found.add(str(node.args[0].value).split(".")[0])
    return found


def test_detector_sees_every_import_form():
    src = "import training.sft\nfrom server import app\nfrom . import x\nimportlib.import_module('t2l.cli')\n"
    assert imported_packages(src, "hypernet") == {"training", "server", "hypernet", "t2l"}


@pytest.mark.parametrize("package, banned", [
    ("hypernet", OURS - {"hypernet"}),
    ("server", {"training"}),
])
def test_import_rules(package, banned):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    offenders = {str(f.relative_to(ROOT)): sorted(imported_packages(f.read_text(), package) & banned)
                 for f in files}
    assert not {k: v for k, v in offenders.items() if v}


def test_modules_stay_small():
    """Guide 9: modules under ~400 lines."""
    long = {str(f.relative_to(ROOT)): n for pkg in OURS for f in (ROOT / pkg).rglob("*.py")
            if (n := len(f.read_text().splitlines())) > 400}
    assert not long
