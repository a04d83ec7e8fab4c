"""The HTTP API end to end, with the real `openai` client, real Redis and a real uvicorn."""

from __future__ import annotations

import asyncio
import io
import zipfile

import httpx
import pytest

TASK = "Answer with the antonym of the given word."
pytestmark = pytest.mark.slow  # a live uvicorn (tests/server/test_request_path.py covers the routes in process)


def post(live, path, **body):
    return httpx.post(live.url + path, json=body, timeout=60)


def test_generate_cold_then_warm(live):
    task = "Reply with the plural form of the noun."
    cold = post(live, "/v1/generate", task=task, prompt="cat", max_tokens=8).json()
    warm = post(live, "/v1/generate", task=task, prompt="cat", max_tokens=8).json()
    assert cold["adapter_id"] == warm["adapter_id"] and cold["adapter_id"].startswith("t2l-")
    assert len(cold["adapter_id"]) == 4 + 16
    assert cold["timings"]["cached"] is False and warm["timings"]["cached"] is True
    assert cold["text"] == warm["text"]  # greedy, same adapter
    assert {"embed_ms", "hypernet_ms", "load_ms", "generation_ms"} <= set(cold["timings"])
    assert cold["usage"]["completion_tokens"] <= 8
    assert cold["usage"]["total_tokens"] == cold["usage"]["prompt_tokens"] + cold["usage"]["completion_tokens"]


def test_curl_style_form_encoded_json_body_is_accepted(live):
    r = httpx.post(live.url + "/v1/generate", content=f'{{"task": "{TASK}", "prompt": "hot", "max_tokens": 4}}',
                   headers={"content-type": "application/x-www-form-urlencoded"}, timeout=60)
    assert r.status_code == 200 and r.json()["adapter_id"].startswith("t2l-")


def test_generate_stream_matches_plain(live):
    plain = post(live, "/v1/generate", task=TASK, prompt="cold", max_tokens=10).json()
    events = []
    with httpx.stream("POST", live.url + "/v1/generate", json={"task": TASK, "prompt": "cold", "max_tokens": 10,
                                                               "stream": True}, timeout=60) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    import json

    parsed = [json.loads(e) for e in events[:-1]]
    assert "".join(p["text"] for p in parsed) == plain["text"]
    assert parsed[-1]["finish_reason"] in ("stop", "length") and parsed[-1]["usage"] == plain["usage"]


def _client(live):
    import openai

    return openai.OpenAI(base_url=live.url + "/v1", api_key="unused", max_retries=0)


def test_openai_chat_with_task_plain_and_streaming(live):
    client = _client(live)
    base_model = client.models.list().data[0].id
    messages = [{"role": "user", "content": "big"}]
    out = client.chat.completions.create(model=base_model, messages=messages, max_tokens=12,
                                         extra_body={"task": TASK})
    assert out.object == "chat.completion" and out.model.startswith("t2l-")
    assert out.choices[0].message.role == "assistant" and out.choices[0].finish_reason in ("stop", "length")
    assert out.usage.completion_tokens >= 1
    chunks = list(client.chat.completions.create(model=base_model, messages=messages, max_tokens=12, stream=True,
                                                 stream_options={"include_usage": True}, extra_body={"task": TASK}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == out.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == out.usage.completion_tokens and chunks[-1].choices == []
    # the adapter id works as the model name, and gives the same greedy answer
    again = client.chat.completions.create(model=out.model, messages=messages, max_tokens=12)
    assert again.choices[0].message.content == out.choices[0].message.content
    listed = {m.id for m in client.models.list().data}
    assert {base_model, out.model} <= listed


def test_openai_n_choices_and_base_model_and_completions(live):
    client = _client(live)
    base_model = client.models.list().data[0].id
    out = client.chat.completions.create(model=base_model, messages=[{"role": "user", "content": "hi"}],
                                         max_completion_tokens=6, n=3, temperature=1.0, seed=7)
    assert [c.index for c in out.choices] == [0, 1, 2] and out.model == base_model
    text = client.completions.create(model=base_model, prompt="Once upon a time", max_tokens=5,
                                     extra_body={"task": TASK})
    assert text.object == "text_completion" and text.model.startswith("t2l-") and text.usage.completion_tokens <= 5


def test_openai_errors_use_the_envelope(live):
    import openai

    client = _client(live)
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="t2l-0000000000000000", messages=[{"role": "user", "content": "x"}])
    assert "not found" in err.value.body["message"]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="x", messages=[{"role": "user", "content": "x"}],
                                       extra_body={"task": "   "})
    assert err.value.body["param"] == "task"


@pytest.mark.parametrize("path, body, status, needle", [
    ("/v1/generate", {"task": "", "prompt": "x"}, 400, "empty"),
    ("/v1/generate", {"task": "y" * 2001, "prompt": "x"}, 400, "limit is 2000"),
    ("/v1/generate", {"task": TASK, "prompt": "x", "max_tokens": 0}, 400, "max_tokens"),
    ("/v1/generate", {"task": TASK, "prompt": "x", "max_tokens": 65}, 400, "limit is 64"),
    ("/v1/generate", {"task": TASK, "prompt": "x " * 300}, 400, "context"),
    ("/v1/generate", {"task": TASK, "prompt": "x", "temperature": 3}, 400, "temperature"),
    ("/v1/generate", {"prompt": "x"}, 400, "task"),
    ("/v1/chat/completions", {"model": "m", "messages": []}, 400, "messages"),
    ("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 99, "task": TASK},
     400, "n is 99"),
    ("/v1/completions", {"model": "m", "prompt": "", "task": TASK}, 400, "empty"),
    ("/v1/generate", {"task": TASK, "prompt": "", "chat": False}, 400, "prompt"),
    ("/v1/completions", {"model": "m", "prompt": [], "task": TASK}, 400, "prompt"),
    ("/v1/adapters", {"task": "\n\t "}, 400, "empty"),
    ("/v1/adapters", {"description": TASK}, 400, "task"),
])
def test_bad_input_is_a_clear_4xx(live, path, body, status, needle):
    r = post(live, path, **body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert needle in error["message"] + str(error["param"]) and error["type"] == "invalid_request_error"


def test_malformed_json_is_400(live):
    r = httpx.post(live.url + "/v1/generate", content=b'{"task": "x", ', headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]


def test_adapter_lifecycle_create_get_download_delete(live, tmp_path):
    from hypernet import Adapter

    created = post(live, "/v1/adapters", task="Classify the sentiment of the review.").json()
    assert created["cached"] is False and created["generation_ms"] > 0 and created["loaded"] is True
    assert post(live, "/v1/adapters", task="Classify  the sentiment of the review. ").json()["cached"] is True
    meta = httpx.get(f"{live.url}/v1/adapters/{created['id']}").json()
    assert meta["description"] == "Classify the sentiment of the review." and meta["id"] == created["id"]
    z = httpx.get(f"{live.url}/v1/adapters/{created['id']}/download")
    assert z.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(z.content)) as zf:
        names = sorted(zf.namelist())
        assert names == [f"{created['id']}/adapter_config.json", f"{created['id']}/adapter_model.safetensors"]
        zf.extractall(tmp_path)
    downloaded = Adapter.from_peft(tmp_path / created["id"])
    assert downloaded.metadata["description"] == meta["description"] and len(downloaded.targets) == 4
    r = httpx.delete(f"{live.url}/v1/adapters/{created['id']}")
    assert r.status_code == 200 and r.json()["deleted"] is True
    assert created["id"] not in live.runtime.engine.loaded()
    assert httpx.get(f"{live.url}/v1/adapters/{created['id']}").status_code == 404
    assert httpx.delete(f"{live.url}/v1/adapters/{created['id']}").status_code == 404


def test_health_ready_metrics(live):
    assert httpx.get(live.url + "/health").json() == {"status": "ok"}
    ready = httpx.get(live.url + "/ready").json()
    assert ready["ready"] is True and ready["cache"]["state"] == "redis" and ready["engine"]["engine"] == "hf"
    text = httpx.get(live.url + "/metrics").text
    for name in ("t2l_requests_total", "t2l_request_seconds_bucket", "t2l_cache_lookups_total",
                 "t2l_generation_seconds_bucket", "t2l_adapters_loaded", "t2l_engine_requests_in_flight"):
        assert name in text
    assert httpx.get(live.url + "/docs").status_code == 200
    assert "/v1/chat/completions" in httpx.get(live.url + "/openapi.json").json()["paths"]


def test_concurrent_new_tasks_share_hypernet_passes_and_one_key_generates_once(live):
    service = live.runtime.adapters
    before = service.batches_run

    async def burst():
        async with httpx.AsyncClient(base_url=live.url, timeout=60) as client:
            distinct = [client.post("/v1/adapters", json={"task": f"Burst task number {i}: count the letters."})
                        for i in range(8)]
            same = [client.post("/v1/adapters", json={"task": "One key, many callers."}) for _ in range(6)]
            return await asyncio.gather(*distinct, *same)

    responses = asyncio.run(burst())
    assert all(r.status_code == 200 for r in responses)
    assert service.batches_run - before < 9  # 9 distinct descriptions, fewer hypernetwork passes
    same = [r.json() for r in responses[8:]]
    assert len({r["id"] for r in same}) == 1
    assert sum(not r["cached"] for r in same) >= 1
    metrics = httpx.get(live.url + "/metrics").text
    generated = [line for line in metrics.splitlines() if line.startswith('t2l_cache_lookups_total{source="generated"')]
    assert generated
