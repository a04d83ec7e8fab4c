"""Import rules (DESIGN.md, issues #14 and #23): a folder is one layer, the import graph reads bottom-up, and the
package graph has no cycle.

Layers, bottom to top (a package may import its own layer's package and any lower layer, never a higher one, and
the two packages of layer 2 never each other):
    0  ground    asset ids and paths, the prompt format: imports nothing of ours
    1  hypernet  the hypernetwork and its maths: the ground at most
    2  server    the service                    (never training)
    2  training  trainers, evaluation, the task data and the quality-signal index (never server)
    3  bench     the benchmarks, beside their results (bench/results/): the CLI alone imports them
    4  t2l       the command line: anything; nothing imports it
Every form of import counts (top-level, inside functions, relative, importlib.import_module).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYER = {"ground": 0, "hypernet": 1, "server": 2, "training": 2, "bench": 3, "t2l": 4}
PACKAGES = tuple(LAYER)


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


def package(name: str) -> str:
    return name.split(".")[0]


def allowed(importer: str, imported: str) -> bool:
    """The whole rule: same package, or a strictly lower layer."""
    a, b = package(importer), package(imported)
    return a == b or LAYER[b] < LAYER[a]


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


def package_cycle(pairs) -> list[str]:
    """A cycle in the package graph of the (importer, imported) module pairs, as [p, q, ..., p]; [] if none."""
    graph: dict[str, set[str]] = {}
    for a, b in pairs:
        if package(a) != package(b):
            graph.setdefault(package(a), set()).add(package(b))
    return first_cycle(graph)


def first_cycle(graph: dict[str, set[str]]) -> list[str]:
    """A cycle of the directed graph (node -> the nodes it imports), as [a, b, ..., a]; [] if none. Depth first,
    in sorted order, so the cycle named is the same on every run."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt in graph and nxt not in state and (found := visit(nxt, path)):
                return found
        path.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start, [])):
            return found
    return []


def test_detector_sees_every_import_form():
    src = ("import training.sft\nfrom server import app\nfrom . import x\nfrom ..assets import t2l_home\n"
           "importlib.import_module('t2l.cli')\nimport numpy\n"
           "def later():\n    from ground.prompt import render\n")
    assert imported_modules(src, "bench.parts.run") == {"training.sft", "server.app", "bench.parts.x",
                                                        "bench.assets.t2l_home", "t2l.cli", "ground.prompt.render"}
    assert imported_modules("from . import routes\n", "server", is_package=True) == {"server.routes"}


def test_rule_catches_an_upward_arrow():
    """The rule itself can fail: training importing the server (a sideways arrow), the ground importing the
    hypernet, the server importing the CLI; the downward arrows pass."""
    bad = [("training.sft", "server.app"), ("ground.assets", "hypernet.model"), ("server.app", "t2l.cli"),
           ("hypernet.model", "training.data"), ("bench.run", "t2l.cli"), ("training.eval_run", "bench.run")]
    good = [("server.app", "ground.assets"), ("t2l.cli", "training.sft"), ("hypernet.lora", "hypernet.model"),
            ("training.sft", "hypernet.model"), ("t2l.cli", "bench.run"), ("bench.run", "server.app")]
    assert [e for e in bad if not allowed(*e)] == bad
    assert [e for e in good if allowed(*e)] == good


def test_cycle_detector_catches_a_cycle_through_function_level_imports():
    """A cycle made only by an import inside a function is still found, with the packages it runs through."""
    planted = {"ground/a.py": "def f():\n    from hypernet import model\n", "hypernet/model.py": "import ground.a\n"}
    pairs = [(module_name(ROOT / path), other) for path, src in planted.items()
             for other in imported_modules(src, module_name(ROOT / path))]
    assert package_cycle(pairs) in (["ground", "hypernet", "ground"], ["hypernet", "ground", "hypernet"])
    assert package_cycle([("t2l.cli", "server.app"), ("server.app", "ground.assets")]) == []


def module_file(dotted: str) -> Path | None:
    path = ROOT.joinpath(*dotted.split("."))
    return next((f for f in (path.with_suffix(".py"), path / "__init__.py") if f.is_file()), None)


def top_level_names(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def exists(name: str) -> bool:
    """`name` is one of our modules, or a name a module of ours defines (`ground.assets.t2l_home`)."""
    if module_file(name):
        return True
    parent, _, leaf = name.rpartition(".")
    source = module_file(parent) if parent else None
    return source is not None and leaf in top_level_names(source.read_text())


def test_every_import_of_ours_resolves():
    """A moved module leaves no import behind that only looks allowed (`from . import assets` in t2l/ after
    assets moved to ground/ is an import of a module that no longer exists)."""
    assert not exists("t2l.assets") and exists("ground.assets.t2l_home") and exists("server.engines")
    missing = sorted(f"{a} -> {b}" for a, b in edges() if not exists(b))
    assert not missing


def top_level_edges(source: str, module: str, is_package: bool = False) -> set[str]:
    """The modules of ours a module imports when it is imported (module-level statements only), without its own
    ancestor packages (already being imported when it runs)."""
    tree = ast.parse(source)
    tree.body = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    found = set()
    for name in imported_modules(ast.unparse(tree), module, is_package):
        found.add(name if module_file(name) else name.rpartition(".")[0])
    ancestors = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    return found - ancestors - {module}


def test_no_module_imports_itself_back_at_import_time():
    """No hidden loop: no chain of module-level imports leads back to where it started (the eval_run <-> eval_tiers
    and expected_check <-> expected_variants kind, once hidden inside functions). The detector finds a planted one."""
    assert top_level_edges("from training import tasks\nfrom .data import Batch\nimport server\n"
                           "def f():\n    import bench.run\n", "training.plan") == {"training.tasks", "training.data",
                                                                                "server"}
    planted = {"training.a": {"training.b"}, "training.b": {"training.c"}, "training.c": {"training.a"}}
    assert first_cycle(planted) == ["training.a", "training.b", "training.c", "training.a"]
    graph = {module_name(f): top_level_edges(f.read_text(), module_name(f), f.name == "__init__.py")
             for f in our_modules()}
    assert first_cycle(graph) == []


def lazy_imports_without_reason(source: str, module: str, is_package: bool = False) -> list[int]:
    """Lines of imports of ours inside functions that give no `# lazy: <reason>` on the line or in the run of
    import and comment lines right above it."""
    lines = source.splitlines()
    out = []
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and imported_modules(
                    ast.unparse(node), module, is_package):
                i = node.lineno - 1
                block = [lines[i]]
                while i > 0 and lines[i - 1].strip().startswith(("#", "from ", "import ")):
                    i -= 1
                    block.append(lines[i])
                if not any("# lazy:" in line for line in block):
                    out.append(node.lineno)
    return sorted(set(out))


def test_imports_of_ours_inside_functions_say_why():
    """Issue #23: an import of our own modules inside a function stays only where it avoids a real import cost or
    an optional dependency, and says which in a `# lazy:` comment; every other one is at the top of its module."""
    planted = "def f():\n    from hypernet import model\n\n\ndef g():\n    # lazy: a reason\n    import ground.assets\n"
    assert lazy_imports_without_reason(planted, "t2l.x") == [2]
    missing = {str(f.relative_to(ROOT)): lines for f in our_modules()
               if (lines := lazy_imports_without_reason(f.read_text(), module_name(f), f.name == "__init__.py"))}
    assert not missing


def test_no_upward_arrow():
    offenders = sorted(f"{a} -> {b}" for a, b in edges() if not allowed(a, b))
    assert not offenders


def test_package_graph_has_no_cycle():
    assert package_cycle(edges()) == []


@pytest.mark.parametrize("name", PACKAGES)
def test_every_package_has_a_layer_and_every_top_folder_with_code_is_a_package(name):
    assert (ROOT / name / "__init__.py").is_file()
    code_folders = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert code_folders <= set(PACKAGES), code_folders - set(PACKAGES)


def test_modules_stay_small():
    """Guide 9: modules under ~400 lines, in the packages and in scripts/."""
    files = our_modules() + sorted((ROOT / "scripts").glob("*.py"))
    assert len(files) > len(our_modules())
    long = {str(f.relative_to(ROOT)): n for f in files if (n := len(f.read_text().splitlines())) > 400}
    assert not long
