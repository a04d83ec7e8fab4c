"""The playground in a real headless Chromium (Debian's, see scripts/ensure_chromium.sh) against a live server:
submit a description and a prompt with the keyboard, see both answers, the adapter id, coverage and the download
link; the same with auth on (the key field); readable at phone width. Skipped only where no browser is installed."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.server.cdp import Browser, find_chromium
from tests.server.conftest import TRAINING, serving

CHROMIUM = find_chromium()
pytestmark = [pytest.mark.slow, pytest.mark.browser,  # a live uvicorn and headless Chromium
              pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (run scripts/ensure_chromium.sh, "
                                                          "which installs Debian's chromium package)")]
TASK = TRAINING["toy.plural"][0]
VISIBLE = "getComputedStyle(document.querySelector('{}')).display !== 'none'"
SHOTS = os.environ.get("T2L_SCREENSHOTS")  # a folder: the tests also leave their screenshots there


QUEUE = f"t2l-refine-playground-{os.getpid()}"  # this module's own refine queue


@pytest.fixture(scope="module")
def served(indexed_checkpoint, redis_client, tmp_path_factory):
    with serving(tmp_path_factory.mktemp("playground"), indexed_checkpoint, refine_queue=QUEUE) as server:
        yield server


@pytest.fixture
def browser():
    with Browser(CHROMIUM) as b:
        yield b


def fill_and_submit(b: Browser, task: str, prompt: str, max_tokens: int = 6) -> None:
    b.type_into("#task", task)
    b.type_into("#prompt", prompt)
    b.type_into("#max-tokens", str(max_tokens))
    b.focus("#run")
    b.press("Enter")  # the keyboard, not a synthetic click


def results(b: Browser) -> dict:
    return b.evaluate("""(() => ({
        status: document.querySelector('#status').textContent,
        adapted: document.querySelector('#adapted-answer').textContent,
        base: document.querySelector('#base-answer').textContent,
        id: document.querySelector('#adapter-id').textContent,
        cached: document.querySelector('#adapter-cached').textContent,
        timings: document.querySelector('#adapter-timings').textContent,
        coverage: document.querySelector('#coverage-score').textContent,
        badge: document.querySelector('#coverage-badge').textContent,
        expected: document.querySelector('#expected-accuracy').textContent,
        nearest: [...document.querySelectorAll('#nearest li code')].map(e => e.textContent),
        download: document.querySelector('#download').href,
    }))()""")


def test_root_leads_to_the_page_and_its_files_are_ours(served):
    r = httpx.get(served.url + "/", follow_redirects=True, timeout=30)
    assert r.status_code == 200 and r.url.path == "/playground" and "<form" in r.text
    for src in ("/playground/playground.js", "/playground/playground.css"):
        assert f'"{src}"' in r.text and httpx.get(served.url + src, timeout=30).status_code == 200
    assert "http" not in r.text.replace('href="/', "").split("<body")[0]  # nothing loaded from elsewhere
    assert httpx.get(served.url + "/playground/secrets.txt", timeout=30).status_code == 404


def test_submit_shows_both_answers_the_adapter_and_its_coverage(served, browser):
    # other modules may have generated this adapter already (same checkpoint, shared Redis): start uncached
    assert httpx.delete(served.url + "/v1/admin/cache", timeout=30).status_code == 200
    b = browser
    b.goto(served.url + "/playground")
    b.wait_for("document.body.dataset.ready === 'true'")
    assert not b.evaluate(VISIBLE.format("#key-field"))  # auth off: no key asked
    unlabelled = b.evaluate("[...document.querySelectorAll('input, textarea')].filter(e => !e.labels.length)"
                            ".map(e => e.id)")
    assert unlabelled == []
    fill_and_submit(b, TASK, "cat")
    b.wait_for("document.querySelector('#status').textContent === 'Done.'", 120)
    shown = results(b)
    assert shown["cached"].startswith("no")
    expected = httpx.post(served.url + "/v1/adapters", json={"task": TASK}, timeout=60).json()
    assert shown["id"] == expected["id"] and shown["id"].startswith("t2l-")
    assert shown["adapted"].strip() and shown["base"].strip()
    direct = httpx.post(served.url + "/v1/generate", json={"task": TASK, "prompt": "cat", "max_tokens": 6,
                                                           "description_in_prompt": False}, timeout=60).json()
    assert shown["adapted"] == direct["text"]  # greedy: the page shows what the API answers
    assert shown["nearest"][0] == "toy.plural" and shown["badge"] == "in distribution"
    exact = expected["coverage"]["expected_accuracy"]["exact"]
    assert shown["expected"].startswith(f"{exact:.1f}% exact match") and "toy.plural" in shown["expected"]
    for part in ("embed", "hypernet", "load", "generation"):
        assert f"{part} " in shown["timings"] and f"{part} –" not in shown["timings"]
    assert shown["download"].endswith(f"/v1/adapters/{shown['id']}/download")
    archive = zipfile.ZipFile(io.BytesIO(httpx.get(shown["download"], timeout=60).content))
    assert f"{shown['id']}/adapter_config.json" in archive.namelist()
    if SHOTS:
        b.screenshot(Path(SHOTS) / "test-desktop.png")

    b.focus("#run")  # the same again: now cached
    b.press("Enter")
    b.wait_for("document.querySelector('#status').textContent === 'Done.' && "
               "document.querySelector('#adapter-cached').textContent.startsWith('yes')", 120)
    again = results(b)
    assert again["id"] == shown["id"] and again["adapted"] == shown["adapted"]
    assert again["timings"].startswith("cache lookup ") and "generation –" not in again["timings"]


def test_refine_from_the_page_shows_progress_the_four_scores_and_the_refined_answer(served, browser, tmp_path):
    """Examples typed as `input -> output` lines, a real rq worker, the job's scores and the refined adapter's answer
    (the same as the API gives for it); a malformed line is named before anything is sent."""
    import subprocess
    import sys

    from tests.server.conftest import REDIS_URL

    b = browser
    b.goto(served.url + "/playground")
    b.wait_for("document.body.dataset.ready === 'true'")
    fill_and_submit(b, TASK, "cat")
    b.wait_for("document.querySelector('#status').textContent === 'Done.'", 120)
    b.type_into("#refine-examples", "cat\ndog -> dogs")
    b.focus("#refine-run")
    b.press("Enter")
    assert "Line 1" in b.wait_for("document.querySelector('#refine-status').textContent || null")
    b.evaluate("document.querySelector('#refine-examples').value = ''")
    b.type_into("#refine-examples", "\n".join(f"{w} -> {w}s" for w in ("cat", "dog", "cup", "pen", "hat")))
    worker = subprocess.Popen([str(Path(sys.executable).parent / "rq"), "worker", "-w",
                               "server.refine_worker.RefineWorker", "--url", REDIS_URL, QUEUE],
                              stdout=open(tmp_path / "worker.log", "w"), stderr=subprocess.STDOUT)
    try:
        b.focus("#refine-run")
        b.press("Enter")
        b.wait_for("document.querySelector('#refine-panel').dataset.done === 'true'", 240)
    finally:
        worker.terminate()
        worker.wait(30)
    shown = b.evaluate("""(() => ({
        status: document.querySelector('#refine-status').textContent,
        scores: ['base', 'base-description', 'before', 'after'].map(k => document.querySelector('#score-' + k)
                                                                         .textContent),
        answer: document.querySelector('#refined-answer').textContent,
        bar: [document.querySelector('#refine-progress').value, document.querySelector('#refine-progress').max],
    }))()""")
    job = httpx.post(served.url + "/v1/adapters/refine", json={
        "task": TASK, "examples": [{"input": w, "output": w + "s"} for w in ("cat", "dog", "cup", "pen", "hat")]},
        timeout=60).json()
    assert shown["status"] == "Done.", shown
    assert job["cached"] and shown["bar"][0] == shown["bar"][1] == 40  # the same refine, done: 40 of 40 steps
    assert all(v.endswith("%") for v in shown["scores"]), shown
    direct = httpx.post(served.url + "/v1/chat/completions", json={
        "model": job["adapter_id"], "max_tokens": 6, "messages": [{"role": "user", "content": "cat"}]},
        timeout=60).json()
    assert shown["answer"] == direct["choices"][0]["message"]["content"]


def test_example_buttons_fill_the_form_from_the_keyboard(served, browser):
    b = browser
    b.goto(served.url + "/playground")
    b.wait_for("document.body.dataset.ready === 'true'")
    b.focus("button.example")
    b.press("Enter")
    filled = b.evaluate("[document.querySelector('#task').value, document.querySelector('#prompt').value, "
                        "document.activeElement.id]")
    assert filled[0] and filled[1] and filled[2] == "prompt"


def test_phone_width_stacks_the_answers_without_sideways_scrolling(served, browser):
    b = browser
    b.viewport(390, 844, mobile=True, scale=2)
    b.goto(served.url + "/playground")
    b.wait_for("document.body.dataset.ready === 'true'")
    fill_and_submit(b, TRAINING["toy.capital"][0], "France", 4)
    b.wait_for("document.querySelector('#status').textContent === 'Done.'", 120)
    layout = b.evaluate("""(() => {
        const a = document.querySelector('#adapted-answer').getBoundingClientRect();
        const c = document.querySelector('#base-answer').getBoundingClientRect();
        return {overflow: document.documentElement.scrollWidth - window.innerWidth, aLeft: a.left, bLeft: c.left,
                aBottom: a.bottom, bTop: c.top, font: parseFloat(getComputedStyle(document.body).fontSize)};
    })()""")
    assert layout["overflow"] <= 0 and abs(layout["aLeft"] - layout["bLeft"]) < 1 and layout["bTop"] > layout["aBottom"]
    assert layout["font"] >= 14
    if SHOTS:
        b.screenshot(Path(SHOTS) / "test-phone.png")


def test_with_auth_on_the_page_asks_for_a_key_and_uses_it(indexed_checkpoint, redis_client, tmp_path_factory,
                                                          browser):
    from server.auth import new_key

    key, entry = new_key("playground", ("use",))
    with serving(tmp_path_factory.mktemp("auth"), indexed_checkpoint, auth="on", api_keys=entry) as server:
        assert httpx.get(server.url + "/playground", timeout=30).status_code == 200  # the page holds no secret
        assert httpx.post(server.url + "/v1/adapters", json={"task": TASK}, timeout=30).status_code == 401
        b = browser
        b.goto(server.url + "/playground")
        b.wait_for("document.body.dataset.ready === 'true'")
        assert b.evaluate(VISIBLE.format("#key-field"))
        fill_and_submit(b, TASK, "dog")
        b.wait_for("document.querySelector('#status').classList.contains('error')")
        assert "key" in b.evaluate("document.querySelector('#status').textContent")
        b.type_into("#key", "t2l-wrong-key")
        b.focus("#run")
        b.press("Enter")
        b.wait_for("document.querySelector('#status').classList.contains('error') && "
                   "document.querySelector('#status').textContent.includes('/v1/adapters')", 60)
        b.type_into("#key", key)
        b.focus("#run")
        b.press("Enter")
        b.wait_for("document.querySelector('#status').textContent === 'Done.'", 120)
        shown = results(b)
        assert shown["id"].startswith("t2l-") and shown["adapted"].strip() and shown["base"].strip()
        # the download goes through fetch with the key: the page turns it into a blob link
        got = b.evaluate(f"fetch({json.dumps(shown['download'])}, {{headers: {{Authorization: 'Bearer ' + "
                         "document.querySelector('#key').value}}).then(r => r.status)")
        assert got == 200
