"""The verdict of `make docker-test` and `make scale-test` (scripts/docker_harness.py): CI runs both, and their exit
status is the assertion on what they ran. These tests show that verdict can fail: a failed check, a required check
that never ran, an error or a lost request each make the run fail; and each script's required checks are exactly
the ones it runs."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"


def load(name: str):
    sys.path.insert(0, str(SCRIPTS))
    try:
        spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # (dataclasses look their module up there)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(SCRIPTS))


@pytest.fixture(scope="module")
def harness():
    return load("docker_harness")


def run_checks(harness, outcomes: dict[str, bool], required=("a", "b")):
    rec = harness.Recorder("test", required)

    def outcome(ok: bool):
        def fn():
            assert ok, "planted failure"
            return {"ok": ok}
        return fn

    for name, ok in outcomes.items():
        rec.check(name, outcome(ok))
    return rec


def test_every_required_check_passing_passes(harness, tmp_path):
    rec = run_checks(harness, {"a": True, "b": True})
    assert rec.verdict(None, None) == 0 and rec.result["failed"] == 0 and rec.result["missing_checks"] == []
    rec.write(tmp_path / "r.json")
    assert '"failed": 0' in (tmp_path / "r.json").read_text()


@pytest.mark.parametrize("outcomes, error, lost, failed", [
    ({"a": True, "b": False}, None, 0, 1),       # a check failed (and the run went on to the next)
    ({"a": True}, None, 0, 1),                   # a required check never ran
    ({"a": True, "b": True}, "RuntimeError: build", 0, 1),  # a step raised
    ({"a": True, "b": True}, None, 1, 0),        # a request got no answer
])
def test_any_failure_fails_the_run(harness, outcomes, error, lost, failed):
    rec = run_checks(harness, outcomes)
    client = harness.Client(1)
    client.count(sent=3, lost=lost)
    assert rec.verdict(error, client) == 1
    assert rec.result["failed"] == failed and rec.result["lost"] == lost and rec.result["requests"] == 3
    if len(outcomes) == 1:
        assert rec.result["missing_checks"] == ["b"]
    if outcomes.get("b") is False:
        assert "planted failure" in rec.result["checks"][1]["error"]


def checks_called(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [node.args[0].value for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "attr", "") == "check" and node.args and isinstance(node.args[0], ast.Constant)]


@pytest.mark.parametrize("script", ["docker_test", "scale_test"])
def test_required_checks_are_the_ones_each_script_runs(script):
    module = load(script)
    called = checks_called(SCRIPTS / f"{script}.py")
    assert sorted(called) == sorted(module.REQUIRED) and len(set(called)) == len(called)


def test_a_stack_runs_compose_with_its_project_files_and_profile(harness, monkeypatch):
    seen = []
    monkeypatch.setattr(harness, "run", lambda cmd, **kw: seen.append((cmd, kw["env"])) or None)
    stack = harness.Stack("p", client=["docker", "compose"], files=[Path("/a.yml"), Path("/b.yml")], env={"X": "1"})
    stack.dc("up", "-d", timeout=5)
    assert seen == [(["docker", "compose", "-p", "p", "--project-directory", str(ROOT), "-f", "/a.yml", "-f",
                      "/b.yml", "--profile", "cpu", "up", "-d"], {"X": "1"})]
    assert stack.down() == {}  # never brought up: nothing to take down


def test_the_scale_load_is_paced_and_stops_at_once():
    """scale-test's Pacer: turns are at least 1/rate apart across threads (the cap that leaves CPU for a restarting
    replica), no cap at rate 0, and a set stop ends every waiting worker."""
    import threading
    import time

    pacer_cls = load("scale_test").Pacer
    stop = threading.Event()
    pacer, returned = pacer_cls(50.0), []

    def take(n: int) -> None:
        for _ in range(n):
            assert pacer.wait(stop)
            returned.append(time.monotonic())

    start = time.monotonic()
    threads = [threading.Thread(target=take, args=(5,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(returned) == 20 and max(returned) - start >= 19 / 50 * 0.99  # 20 turns, 1/50 s apart at least
    free = pacer_cls(0.0)
    assert all(free.wait(stop) for _ in range(1000))
    slow = pacer_cls(0.01)  # the next turn is 100 s away: stop must end the wait, not the turn
    assert slow.wait(stop)
    threading.Timer(0.05, stop.set).start()
    assert slow.wait(stop) is False
