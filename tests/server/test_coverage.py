"""The description-quality signal on every response path, with a checkpoint that carries a description index
embedded by the real MiniLM encoder, a real uvicorn and the real Redis."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from tests.server.conftest import RANDOM, TRAINING, serving

pytestmark = pytest.mark.slow  # a live uvicorn and the real MiniLM encoder


@pytest.fixture(scope="module")
def indexed(indexed_checkpoint, redis_client, tmp_path_factory):
    with serving(tmp_path_factory.mktemp("indexed-live"), indexed_checkpoint) as server:
        yield server


def post(live, path, **body):
    return httpx.post(live.url + path, json=body, timeout=60)


def test_a_training_description_is_in_distribution_with_its_own_task_nearest(indexed):
    for task, texts in TRAINING.items():
        info = post(indexed, "/v1/adapters", task=texts[1]).json()
        cov = info["coverage"]
        assert cov["in_distribution"] is True and cov["score"] > 0.99, cov
        assert cov["nearest"][0]["task"] == task and len(cov["nearest"]) == 3
        assert len({n["task"] for n in cov["nearest"]}) == 3
        sims = [n["similarity"] for n in cov["nearest"]]
        assert sims == sorted(sims, reverse=True) and sims[0] == cov["score"]


def test_a_random_string_is_out_of_distribution(indexed):
    cov = post(indexed, "/v1/adapters", task=RANDOM).json()["coverage"]
    assert cov["in_distribution"] is False and cov["score"] < cov["threshold"]


def test_signal_is_cached_with_the_adapter_in_memory_and_in_redis(indexed, redis_client):
    from hypernet import Adapter
    from server.cache import BLOB_PREFIX

    task = "Give the opposite meaning of the word."  # a new wording, near toy.antonym
    first = post(indexed, "/v1/adapters", task=task).json()
    assert first["cached"] is False and first["coverage"]["nearest"][0]["task"] == "toy.antonym"
    again = post(indexed, "/v1/adapters", task=task).json()
    fetched = httpx.get(f"{indexed.url}/v1/adapters/{first['id']}", timeout=30).json()
    assert again["cached"] is True and again["coverage"] == first["coverage"] == fetched["coverage"]
    key = indexed.runtime.adapters.key_for(task)[1]
    stored = Adapter.from_bytes(redis_client.get(BLOB_PREFIX + key))
    assert stored.metadata["coverage"] == first["coverage"]
    asyncio_run(indexed.runtime.cache.memory.flush())  # only Redis has it now
    from_redis = post(indexed, "/v1/adapters", task=task).json()
    assert from_redis["cached"] is True and from_redis["coverage"] == first["coverage"]


def asyncio_run(coro):
    import asyncio

    return asyncio.run(coro)


def test_generate_plain_and_streaming_carry_the_signal(indexed):
    task = TRAINING["toy.plural"][0]
    plain = post(indexed, "/v1/generate", task=task, prompt="cat", max_tokens=4).json()
    assert plain["coverage"]["nearest"][0]["task"] == "toy.plural" and plain["coverage"]["in_distribution"]
    expected = plain["coverage"]["expected_accuracy"]
    assert [n["task"] for n in expected["from"]] == ["toy.plural", "toy.capital"] and 40.0 <= expected["exact"] < 60
    with httpx.stream("POST", indexed.url + "/v1/generate", json={"task": task, "prompt": "dog", "max_tokens": 4,
                                                                  "stream": True}, timeout=60) as r:
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
    assert events[-1]["coverage"] == plain["coverage"] and "timings" in events[-1]


def test_openai_routes_carry_the_signal_in_headers_and_keep_the_body(indexed):
    task = TRAINING["toy.capital"][0]
    r = post(indexed, "/v1/chat/completions", model="ignored-with-task", task=task, max_tokens=3,
             messages=[{"role": "user", "content": "France"}])
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"id", "object", "created", "model", "choices", "usage"}
    assert r.headers["x-t2l-adapter-id"] == body["model"]
    assert r.headers["x-t2l-in-distribution"] == "true" and float(r.headers["x-t2l-coverage"]) > 0.99
    nearest = [pair.split("=") for pair in r.headers["x-t2l-nearest-tasks"].split(",")]
    assert nearest[0][0] == "toy.capital" and len(nearest) == 3
    # measured tasks only, weighted by similarity: the capital task's own description sits nearest its 80%
    assert 60.0 < float(r.headers["x-t2l-expected-accuracy"]) <= 80.0
    with httpx.stream("POST", indexed.url + "/v1/completions", json={
            "model": body["model"], "prompt": "Peru", "max_tokens": 3, "stream": True}, timeout=60) as s:
        assert s.headers["x-t2l-adapter-id"] == body["model"]
        assert s.headers["x-t2l-nearest-tasks"] == r.headers["x-t2l-nearest-tasks"]
        list(s.iter_lines())
    random = post(indexed, "/v1/completions", model="x", task=RANDOM, prompt="hi", max_tokens=2)
    assert random.headers["x-t2l-in-distribution"] == "false"
    base = post(indexed, "/v1/completions", model=indexed.runtime.model_name, prompt="hi", max_tokens=2)
    assert base.status_code == 200 and not any(h.startswith("x-t2l-") for h in base.headers)


def test_histogram_and_log_line_per_generated_adapter(indexed, caplog):
    def count() -> float:
        text = httpx.get(indexed.url + "/metrics", timeout=30).text
        line = next(x for x in text.splitlines() if x.startswith("t2l_description_coverage_count"))
        return float(line.split()[-1])

    before = count()
    with caplog.at_level(logging.INFO, logger="t2l.adapters"):
        info = post(indexed, "/v1/adapters", task="Swap every vowel in the text for a star symbol.").json()
        post(indexed, "/v1/adapters", task="Swap every vowel in the text for a star symbol.")  # cached: no new
    assert count() == before + 1
    lines = [r.getMessage() for r in caplog.records if info["id"] in r.getMessage()]
    assert len(lines) == 1 and f"{info['coverage']['score']:.3f}" in lines[0]
    assert info["coverage"]["nearest"][0]["task"] in lines[0]
    assert f"expected accuracy {info['coverage']['expected_accuracy']['exact']:.1f}%" in lines[0]


def test_without_an_index_the_signal_is_reported_unavailable(live):
    info = post(live, "/v1/adapters", task="Answer with the antonym of the given word.").json()
    assert "coverage" in info and info["coverage"] is None
    r = post(live, "/v1/chat/completions", model="x", task="Answer with the antonym of the given word.",
             max_tokens=2, messages=[{"role": "user", "content": "hot"}])
    assert r.headers["x-t2l-coverage"] == "unavailable" and "x-t2l-in-distribution" not in r.headers
    assert "x-t2l-expected-accuracy" not in r.headers
