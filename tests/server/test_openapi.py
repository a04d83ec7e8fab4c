"""The OpenAPI schema tells the truth: every response and constraint the service has (server/routes/docs.py).

The main test runs schemathesis with all of its checks and phases (examples, coverage, fuzzing, stateful) in
process against the real app around a FakeEngine and the fast parts, with auth off (as the issue ran `t2l serve`)
and on, and expects zero failures: an undocumented status or content type, a schema-valid request refused, a
schema-invalid one taken, a wrong `Allow`, a response not as documented. Deterministic (fixed seed, derandomised, no
example database or cache) and bounded in time. The edge-case test below checks, case by case, that the schema
admits exactly the requests the service takes where a bounded fuzzer may not look (blank descriptions, limits).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections import Counter

import pytest

from tests.server.conftest import make_settings, ready_client, wait_ready

EXAMPLES = 12  # per operation and phase: ~10 s per configuration on 2 cores
# The run is bounded by its examples (schemathesis' max-time would instead keep fuzzing until it is spent); these
# bound each request and the whole run, far above what they take, so a hang fails instead of stalling the suite.
REQUEST_TIMEOUT_S, RUN_LIMIT_S = 10, 120


def fast_app(parts, tmp, **overrides):
    """create_app around a FakeEngine and the fast parts, memory cache only. The context is far above any prompt
    the generators write (the context is in tokens: no JSON Schema can state it, the 400 says
    context_length_exceeded), while max_tokens' documented maximum stays the settings' cap."""
    from server.app import assemble_runtime, create_app
    from tests.helpers import HashingEncoder
    from tests.server.fake_engine import FakeEngine

    engine, encoder = FakeEngine(), HashingEncoder(dim=16)

    async def build(settings, metrics):
        await engine.start()
        return assemble_runtime(settings, metrics, parts.checkpoint, f"tiny@{parts.checkpoint.digest[:12]}",
                                encoder, parts.tokenizer, parts.model, engine)

    settings = {"redis_url": None, "max_model_len": 4096, "max_tokens_limit": 64, **overrides}
    return create_app(make_settings(tmp, parts.folder, **settings), build=build)


def run_schemathesis(app, examples: int = EXAMPLES, seed: int = 1, key: str | None = None
                     ) -> tuple[Counter, dict, list[str], Counter]:
    """Every phase and check against `app` in process, sending `key` as the bearer key where the schema asks for
    one: (failures by (operation, check, code), an example of each, the scenarios that ran, the answers by
    (operation, status)). The schema is read once the app is ready, as a client reads it."""
    import schemathesis
    from schemathesis.engine import Status, events, from_schema
    from schemathesis.python import asgi

    with asgi.get_client(app) as client:  # starts the app's lifespan, which lives until shutdown_lifespans
        wait_ready(client, app)
    config = schemathesis.Config.from_dict({
        "seed": seed, "request-timeout": REQUEST_TIMEOUT_S, "max-failures": 1000, "checks": {"enabled": True},
        "phases": {"enabled": True}, "generation": {"max-examples": examples, "deterministic": True,
                                                    "database": "none"},
        "cache": {"enabled": False}, "output": {"sanitization": {"enabled": False}},
        **({"auth": {"openapi": {"bearer": {"bearer": key}}}} if key else {})})
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    failures: Counter = Counter()
    example: dict = {}
    ran: list[str] = []
    answers: Counter = Counter()
    stop, started = None, time.monotonic()
    try:
        for event in from_schema(schema).execute():
            if isinstance(event, (events.NonFatalError, events.FatalError)):
                raise AssertionError(f"schemathesis could not run: {event}")
            if isinstance(event, events.EngineFinished):
                stop = event.stop_reason
            if isinstance(event, events.PhaseStarted) and event.payload is not None:  # the stateful phase
                ran.append(f"transitions: {event.payload.transitions_selected}")
            assert time.monotonic() - started < RUN_LIMIT_S, f"schemathesis ran past {RUN_LIMIT_S} s"
            recorder = getattr(event, "recorder", None)
            if not isinstance(event, (events.ScenarioFinished, events.FuzzScenarioFinished)) or recorder is None:
                continue
            ran.append(f"{getattr(event, 'phase', 'fuzzing')}: {recorder.label}")
            answers.update((i.request.method + " " + recorder.cases[c].value.operation.path, i.response.status_code)
                           for c, i in recorder.interactions.items() if i.response is not None and c in recorder.cases)
            for case_id, nodes in recorder.checks.items():
                for node in (n for n in nodes if n.status == Status.FAILURE):
                    failure = node.failure_info.failure
                    key = (recorder.label, node.name, failure.code)
                    failures[key] += 1
                    if key not in example:
                        answer = recorder.interactions.get(case_id)
                        body = answer.response.content[:300] if answer and answer.response else b""
                        example[key] = f"{failure.message}\n  answered {body!r}\n  {node.failure_info.code_sample}"
    finally:
        asgi.shutdown_lifespans()
    assert stop is not None and stop.value == "completed", f"the run stopped early: {stop}"
    return failures, example, ran, answers


def _report(failures: Counter, example: dict) -> str:
    return "\n".join(f"{n} x {key}:\n  {example[key]}" for key, n in sorted(failures.items()))


@pytest.mark.slow  # over the marker's 5 s: ~10 s per configuration on 2 cores
@pytest.mark.parametrize("auth", ["off", "on", "refine"])
def test_schemathesis_finds_nothing_with_every_check(fast_parts, tmp_path, auth, redis_client):
    """auth off: what the issue ran (t2l serve, auth off). auth on: the bearer scheme, 401/403 and an admin key.
    refine: with Redis, the refine and job operations too (jobs queued on a queue of the test's own, no worker;
    a job's event stream ends after the request timeout)."""
    from rq import Queue

    from server.auth import new_key
    from server.routes.adapters import LINKS
    from tests.server.conftest import REDIS_URL

    key, entry = new_key("admin", ("admin",))
    queue = f"t2l-refine-openapi-{uuid.uuid4().hex[:8]}"
    overrides = {"on": {"auth": "on", "api_keys": entry, "metrics_require_admin": True},
                 "refine": {"redis_url": REDIS_URL, "refine_queue": queue, "request_timeout_s": 2.0},
                 "off": {}}[auth]
    started = time.perf_counter()
    try:
        failures, example, ran, answers = run_schemathesis(fast_app(fast_parts, tmp_path, **overrides), key=key)
    finally:
        Queue(queue, connection=redis_client).empty()
    print(f"schemathesis: {len(ran)} scenarios in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    assert not failures, _report(failures, example)
    operations = {label.split(": ", 1)[1] for label in ran if label.startswith("fuzzing")}
    assert len(operations) == (16 if auth == "refine" else 12), operations  # every documented operation was fuzzed
    if auth == "refine":
        assert answers[("POST /v1/adapters/refine", 202)] > 0 and answers[("GET /v1/jobs/{job_id}", 200)] > 0
    # the stateful phase ran and followed at least our links (create -> get, download, delete)
    assert any(label.startswith("stateful") for label in ran), ran
    assert int(next(label for label in ran if label.startswith("transitions")).split(": ")[1]) >= len(LINKS), ran
    # generated requests got through to the service (with auth on: with the key), not only to its refusals
    for operation in ("POST /v1/adapters", "POST /v1/chat/completions", "GET /v1/adapters/{adapter_id}",
                      "DELETE /v1/adapters/{adapter_id}"):
        assert answers[(operation, 200)] > 0, (operation, sorted(answers.items()))
    assert (answers[("POST /v1/generate", 401)] > 0) == (auth == "on"), sorted(answers.items())


# ---- what the document says, checked directly ------------------------------------------------------------------
def _operations(doc):
    return [(path, method, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


def test_every_error_is_the_envelope_and_no_422(fast_parts, tmp_path):
    with ready_client(fast_app(fast_parts, tmp_path)) as client:
        doc = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert set(doc["components"]["schemas"]["ErrorResponse"]["properties"]) == {"error"}
    assert set(doc["components"]["schemas"]["ErrorDetail"]["required"]) == {"message", "type", "param", "code"}
    for path, method, op in _operations(doc):
        assert "422" not in op["responses"], (method, path)
        for status, response in op["responses"].items():
            if status >= "400" and path.startswith("/v1"):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)
            assert not any(key.startswith("x-t2l") for key in response), (method, path, status)
        if path.startswith("/v1"):
            assert "503" in op["responses"], (method, path)  # the start-up gate answers every /v1 request
            assert "401" not in op["responses"] and "security" not in op, (method, path)  # auth is off here
    assert list(doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == [
        "text/plain; version=1.0.0; charset=utf-8"]
    for path in ("/v1/generate", "/v1/chat/completions", "/v1/completions"):
        assert set(doc["paths"][path]["post"]["responses"]["200"]["content"]) == {"application/json",
                                                                                   "text/event-stream"}
        assert {"400", "413", "429", "504"} <= set(doc["paths"][path]["post"]["responses"])
    assert "404" in doc["paths"]["/v1/adapters/{adapter_id}"]["get"]["responses"]


def test_auth_on_declares_the_bearer_scheme_and_its_errors(fast_parts, tmp_path):
    from server.auth import new_key

    _, entry = new_key("admin", ("admin",))
    app = fast_app(fast_parts, tmp_path, auth="on", api_keys=entry, metrics_require_admin=True, rate_limit_rps=5)
    doc = app.openapi()
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, method, op in _operations(doc):
        guarded = path.startswith("/v1") or path == "/metrics"
        assert ("security" in op) == guarded and ("401" in op["responses"]) == guarded, (method, path)
        assert ("429" in op["responses"]) == guarded, (method, path)  # T2L_RATE_LIMIT_RPS is on
    plain = fast_app(fast_parts, tmp_path / "plain").openapi()["paths"]
    assert set(plain["/metrics"]["get"]["responses"]) == {"200"}  # neither admin-only nor rate limited
    assert "429" not in plain["/v1/adapters/{adapter_id}"]["get"]["responses"]  # no rate limit, no queue


def test_limits_come_from_the_settings_and_the_served_model(fast_parts, tmp_path):
    import re

    from server.schemas import NON_BLANK

    app = fast_app(fast_parts, tmp_path, max_n=3, max_tokens_limit=50, max_description_chars=300)
    before = app.openapi()["components"]["schemas"]
    with ready_client(app) as client:
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
    chat, completion = schemas["ChatCompletionRequest"], schemas["CompletionRequest"]
    assert chat["properties"]["n"]["maximum"] == 3 == completion["properties"]["n"]["maximum"]
    assert chat["properties"]["max_completion_tokens"]["anyOf"][0]["maximum"] == 50
    assert completion["properties"]["max_tokens"]["anyOf"][0]["maximum"] == 50
    task = schemas["AdapterCreate"]["properties"]["task"]
    assert (task["maxLength"], task["minLength"], task["pattern"]) == (300, 1, NON_BLANK)
    assert schemas["GenerateRequest"]["properties"]["seed"]["anyOf"][0]["maximum"] == 2**63 - 1
    ids = completion["properties"]["prompt"]["anyOf"][1]["items"]
    assert ids == {"type": "integer", "minimum": 0, "maximum": len(fast_parts.tokenizer) - 1}
    assert "maximum" not in before["CompletionRequest"]["properties"]["prompt"]["anyOf"][1]["items"]  # not ready
    # the pattern refuses exactly what normalize_description strips (str.isspace), in any regex dialect
    blank = {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    assert all((re.search(NON_BLANK, chr(c)) is None) == (chr(c) in blank) for c in range(sys.maxunicode + 1))


def test_405_lists_every_method_of_the_resource(fast_parts, tmp_path):
    with ready_client(fast_app(fast_parts, tmp_path)) as client:
        for method in ("OPTIONS", "PUT", "POST"):
            answer = client.request(method, "/v1/adapters/t2l-0123456789abcdef")
            assert answer.status_code == 405 and answer.headers["allow"] == "DELETE, GET", method
            assert answer.json()["error"]["type"] == "invalid_request_error"
        assert client.options("/v1/adapters").headers["allow"] == "POST"
        assert client.put("/v1/adapters/t2l-0123456789abcdef/download").headers["allow"] == "GET"


def test_metrics_while_starting_is_prometheus_text_not_a_500(fast_parts, tmp_path):
    from starlette.testclient import TestClient

    from server.app import create_app

    gate = asyncio.Event()

    async def never_ready(settings, metrics):
        await gate.wait()  # the service stays "starting" for the whole test
        raise RuntimeError("not reached")

    app = create_app(make_settings(tmp_path, fast_parts.folder, redis_url=None), build=never_ready)
    with TestClient(app) as client:
        assert client.get("/ready").status_code == 503
        answer = client.get("/metrics")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
        assert "t2l_" in answer.text


# ---- the schema and the service agree, case by case (edges a bounded fuzzer may not reach) ----------------------
USER = [{"role": "user", "content": "hot"}]
EDGES = [  # (path, body): the schema must admit exactly those the service takes
    *[("/v1/adapters", {"task": task}) for task in
      ("", " ", "\t\n \u3000", "\u2028", "\ufeff", "a", " a ", "x" * 300, "x" * 301)],
    ("/v1/generate", {"task": "\u00a0\u1680", "prompt": "hot"}),
    ("/v1/generate", {"task": "Antonym.", "prompt": "hot", "max_tokens": 64, "seed": 2**63 - 1}),
    ("/v1/generate", {"task": "Antonym.", "prompt": "hot", "max_tokens": 65}),
    ("/v1/generate", {"task": "Antonym.", "prompt": "hot", "max_tokens": 3.0, "chat": 0}),
    ("/v1/generate", {"task": "Antonym.", "prompt": "hot", "stop": ["a", "b", "c", "d"]}),
    ("/v1/generate", {"task": "Antonym.", "prompt": "hot", "stop": ["a", "b", "c", "d", "e"]}),
    ("/v1/chat/completions", {"model": "tiny-base", "messages": USER, "n": 3}),
    ("/v1/chat/completions", {"model": "tiny-base", "messages": USER, "n": 4}),
    ("/v1/chat/completions", {"model": "tiny-base", "messages": USER, "n": "2"}),
    ("/v1/chat/completions", {"model": "tiny-base", "messages": USER, "max_tokens": 999}),
    ("/v1/chat/completions", {"model": "tiny-base", "messages": USER, "max_tokens": 999, "max_completion_tokens": 9}),
    ("/v1/chat/completions", {"model": "tiny-base", "messages": USER, "description_in_prompt": True}),
    ("/v1/chat/completions", {"model": "tiny-base", "messages": USER, "description_in_prompt": True, "task": "A."}),
    ("/v1/chat/completions", {"model": "tiny-base", "messages": [{"role": "system", "content": "x"}], "task": "A.",
                              "description_in_prompt": True}),
    ("/v1/chat/completions", {"model": "tiny-base", "messages": [{"role": "system", "content": "x"}], "task": "A."}),
    ("/v1/chat/completions", {"model": "tiny-base", "messages": USER, "stream_options": {"include_usage": 1}}),
    *[("/v1/completions", {"model": "tiny-base", "prompt": prompt}) for prompt in
      ("hot", ["hot"], ["hot", "cold"], [], [[]], [1, 2], [[1, 2]], [[1], [2]], [1.0, 2], [True], [0, 258], [259])],
    ("/v1/completions", {"model": "tiny-base", "prompt": [1, 2], "task": "A.", "description_in_prompt": True}),
    ("/v1/completions", {"model": "tiny-base", "prompt": "hot", "task": "A.", "description_in_prompt": True}),
]


@pytest.mark.parametrize("default_in_prompt, placement", [(False, "user"), (True, "user"), (True, "system")])
def test_the_schema_admits_exactly_what_the_service_takes(fast_parts, tmp_path, default_in_prompt, placement):
    import jsonschema_rs

    app = fast_app(fast_parts, tmp_path, max_n=3, max_description_chars=300, description_in_prompt=default_in_prompt,
                   description_placement=placement)
    with ready_client(app) as client:
        doc = client.get("/openapi.json").json()
        assert len(fast_parts.tokenizer) == 259  # the token-id edges above
        disagree = []
        for path, body in EDGES:
            ref = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            admitted = jsonschema_rs.Draft202012Validator({"$ref": ref, "components": doc["components"]}).is_valid(body)
            answer = client.post(path, json=body)
            assert answer.status_code in (200, 400), (path, body, answer.text)
            if admitted != (answer.status_code == 200):
                disagree.append((path, body, admitted, answer.json()))
    assert not disagree, "\n".join(map(str, disagree))
