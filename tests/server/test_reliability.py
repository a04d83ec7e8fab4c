"""Auth, limits and faults over HTTP: every case ends in a clear 4xx/5xx envelope or a success, never a hang."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time

import httpx
import pytest

from server.auth import new_key
from tests.server.conftest import LiveServer, free_port, make_settings

TASK = "Answer with the antonym of the given word."
pytestmark = pytest.mark.slow  # live uvicorn servers (and a `t2l serve` process)
USER_KEY, USER_ENTRY = new_key("alice", ("use",))
ADMIN_KEY, ADMIN_ENTRY = new_key("ops", ("admin",))


def start(tmp_path_factory, checkpoint, **overrides) -> LiveServer:
    from server.app import create_app

    return LiveServer(create_app(make_settings(tmp_path_factory.mktemp("rel"), checkpoint, **overrides)),
                      free_port()).start()


@pytest.fixture(scope="module")
def secured(tiny_checkpoint, redis_client, tmp_path_factory):
    server = start(tmp_path_factory, tiny_checkpoint, auth="on", api_keys=f"{USER_ENTRY},{ADMIN_ENTRY}",
                   metrics_require_admin=True, rate_limit_rps=50, rate_limit_burst=50)
    yield server
    server.stop()


def auth(key):
    return {"Authorization": f"Bearer {key}"}


def test_keys_and_scopes(secured):
    url = secured.url
    body = {"task": TASK, "prompt": "hot", "max_tokens": 2}
    r = httpx.post(url + "/v1/generate", json=body)
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    assert httpx.post(url + "/v1/generate", json=body, headers=auth("t2l_wrong")).status_code == 401
    ok = httpx.post(url + "/v1/generate", json=body, headers=auth(USER_KEY), timeout=60)
    assert ok.status_code == 200
    adapter = ok.json()["adapter_id"]
    denied = httpx.delete(f"{url}/v1/adapters/{adapter}", headers=auth(USER_KEY))
    assert denied.status_code == 403 and "admin" in denied.json()["error"]["message"]
    assert httpx.get(url + "/metrics", headers=auth(USER_KEY)).status_code == 403
    assert httpx.get(url + "/metrics", headers=auth(ADMIN_KEY)).status_code == 200
    assert httpx.delete(f"{url}/v1/adapters/{adapter}", headers=auth(ADMIN_KEY)).status_code == 200
    flushed = httpx.delete(url + "/v1/admin/cache", headers=auth(ADMIN_KEY))
    assert flushed.status_code == 200 and "memory" in flushed.json()["deleted"]
    assert httpx.get(url + "/health").status_code == 200 and httpx.get(url + "/ready").status_code == 200


def test_openai_client_with_a_key(secured):
    import openai

    good = openai.OpenAI(base_url=secured.url + "/v1", api_key=USER_KEY, max_retries=0)
    assert good.models.list().data
    bad = openai.OpenAI(base_url=secured.url + "/v1", api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_auth_on_without_keys_refuses_to_start(tiny_checkpoint, tmp_path):
    from server.app import create_app

    with pytest.raises(ValueError, match="no API keys are configured"):
        create_app(make_settings(tmp_path, tiny_checkpoint, auth="on"))


def test_failed_startup_is_reported_by_health_and_ready(tmp_path, redis_client):
    from server.app import create_app

    server = LiveServer(create_app(make_settings(tmp_path, tmp_path / "no-such-checkpoint")), free_port())
    server.thread.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                health = httpx.get(server.url + "/health", timeout=2)
                if health.status_code == 503:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        ready = httpx.get(server.url + "/ready").json()
        work = httpx.post(server.url + "/v1/generate", json={"task": TASK, "prompt": "x"})
    finally:
        server.stop()
    assert health.status_code == 503 and "not a t2l checkpoint" in health.json()["error"]
    assert ready["status"] == "failed" and work.status_code == 503
    assert "not a t2l checkpoint" in work.json()["error"]["message"]


def test_inconsistent_settings_are_refused(tmp_path, tiny_checkpoint):
    with pytest.raises(ValueError, match=r"max_cpu_loras \(2\) must be >= max_loras \(8\)"):
        make_settings(tmp_path, tiny_checkpoint, max_cpu_loras=2, max_loras=8)


def test_rate_limit_gives_429_with_retry_after(tiny_checkpoint, redis_client, tmp_path_factory):
    server = start(tmp_path_factory, tiny_checkpoint, rate_limit_rps=0.5, rate_limit_burst=2)
    try:
        codes = [httpx.get(server.url + "/v1/models") for _ in range(4)]
    finally:
        server.stop()
    assert [c.status_code for c in codes[:2]] == [200, 200]
    limited = [c for c in codes[2:] if c.status_code == 429]
    assert limited and int(limited[0].headers["retry-after"]) >= 1
    assert limited[0].json()["error"]["type"] == "rate_limit_error"


@pytest.fixture(scope="module")
def tight(tiny_checkpoint, redis_client, tmp_path_factory):
    server = start(tmp_path_factory, tiny_checkpoint, max_body_bytes=2000, max_concurrent_generations=1,
                   max_waiting=1, request_timeout_s=2.0)
    yield server
    server.stop()


def test_body_limit_413_declared_and_chunked(tight):
    big = {"task": TASK, "prompt": "x" * 5000}
    assert httpx.post(tight.url + "/v1/generate", json=big).status_code == 413

    def chunks():
        yield b'{"task": "t", "prompt": "'
        for _ in range(10):
            yield b"y" * 500
        yield b'"}'

    r = httpx.post(tight.url + "/v1/generate", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "exceeds 2000 bytes" in r.json()["error"]["message"]


def slow_engine(engine, delay: float):
    """Fault injection: every completion first sleeps `delay` seconds inside the engine."""
    original = engine.generate

    async def generate(*args, **kwargs):
        await asyncio.sleep(delay)
        async for delta in original(*args, **kwargs):
            yield delta

    engine.generate = generate
    return lambda: setattr(engine, "generate", original)


def test_bounded_queue_rejects_instead_of_waiting_forever(tight):
    restore = slow_engine(tight.runtime.engine, 0.5)

    async def burst():
        async with httpx.AsyncClient(base_url=tight.url, timeout=60) as client:
            return await asyncio.gather(*(client.post("/v1/generate", json={"task": TASK, "prompt": f"p{i}",
                                                                             "max_tokens": 2}) for i in range(6)))

    try:
        codes = sorted(r.status_code for r in asyncio.run(burst()))
    finally:
        restore()
    assert codes.count(200) >= 2 and set(codes) <= {200, 429} and 429 in codes


def test_request_timeout_is_504(tight):
    restore = slow_engine(tight.runtime.engine, 5.0)
    try:
        r = httpx.post(tight.url + "/v1/generate", json={"task": TASK, "prompt": "x", "max_tokens": 2}, timeout=30)
    finally:
        restore()
    assert r.status_code == 504 and r.json()["error"]["code"] == "timeout"


def test_engine_failure_turns_ready_503_and_requests_503(tiny_checkpoint, redis_client, tmp_path_factory):
    server = start(tmp_path_factory, tiny_checkpoint)
    engine = server.runtime.engine
    try:
        def broken(batch):
            raise RuntimeError("simulated device failure")

        engine._decode = broken
        r = httpx.post(server.url + "/v1/generate", json={"task": TASK, "prompt": "x", "max_tokens": 2}, timeout=30)
        assert r.status_code == 503 and "simulated device failure" in r.json()["error"]["message"]
        ready = httpx.get(server.url + "/ready")
        assert ready.status_code == 503 and ready.json()["status"] == "engine_failed"
    finally:
        server.stop()


def test_redis_dying_mid_traffic_loses_nothing(tiny_checkpoint, tmp_path_factory, tmp_path):
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed (make test installs it)"
    port = free_port()

    def redis():
        return subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                 "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)

    def answering() -> None:  # until PING is answered (no guess at how long a start takes)
        import redis as redis_py

        deadline = time.monotonic() + 30
        while True:
            try:
                if redis_py.Redis(port=port, socket_timeout=1).ping():
                    return
            except redis_py.RedisError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    proc = redis()
    answering()
    server = start(tmp_path_factory, tiny_checkpoint, redis_url=f"redis://127.0.0.1:{port}/0")
    states = []

    async def traffic(n: int):
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            async def one(i):
                task = TASK if i % 2 else f"Outage traffic task {i}."
                return await client.post("/v1/generate", json={"task": task, "prompt": "hi", "max_tokens": 2})
            return await asyncio.gather(*(one(i) for i in range(n)))

    try:
        first = asyncio.run(traffic(8))
        states.append(httpx.get(server.url + "/ready").json()["cache"]["state"])
        proc.terminate()
        proc.wait(10)
        during = asyncio.run(traffic(8))
        states.append(httpx.get(server.url + "/ready").json()["status"])
        proc = redis()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and httpx.get(server.url + "/ready").json()["status"] != "ok":
            time.sleep(0.2)
        after = asyncio.run(traffic(8))
        states.append(httpx.get(server.url + "/ready").json()["status"])
    finally:
        server.stop()
        proc.terminate()
        proc.wait(10)
    assert all(r.status_code == 200 for r in first + during + after)
    assert states == ["redis", "degraded", "ok"]


def test_sigterm_drains_in_flight_requests(tiny_checkpoint, tmp_path):
    import os
    import signal
    import sys
    import threading

    port = free_port()
    env = {**os.environ, "T2L_AUTH": "off", "T2L_HOME": str(tmp_path / "home"), "T2L_REDIS_URL": "",
           "T2L_ADAPTERS_DIR": str(tmp_path / "adapters"), "T2L_LOG_LEVEL": "warning"}
    proc = subprocess.Popen([sys.executable, "-m", "t2l.cli", "serve", "--engine", "hf", "--port", str(port),
                             "--checkpoint", str(tiny_checkpoint)], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        result = {}

        def long_request():
            result["r"] = httpx.post(url + "/v1/chat/completions", timeout=120, json={
                "model": "x", "task": TASK, "n": 4, "max_tokens": 400, "messages": [{"role": "user", "content": "go"}]})

        worker = threading.Thread(target=long_request)
        worker.start()
        # SIGTERM only once the engine reports the request decoding (its in-flight gauge), not after a guess
        decoding = time.monotonic() + 60
        while "t2l_engine_requests_in_flight 0.0" in httpx.get(url + "/metrics", timeout=5).text:
            assert time.monotonic() < decoding and worker.is_alive(), "the request never reached the engine"
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        worker.join(120)
        # uvicorn re-raises the captured SIGTERM once it has shut down cleanly, so -15 is a clean exit here
        assert proc.wait(60) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert result["r"].status_code == 200
    assert len(result["r"].json()["choices"]) == 4
