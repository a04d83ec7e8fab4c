"""POST /v1/adapters/refine and /v1/jobs through a real rq worker process on the real Redis: the job refines the
generated adapter, the result is served by id and cached by what it was made from, a running job can be stopped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import REDIS_URL, fast_serving, serving

pytestmark = pytest.mark.slow  # a worker process that loads the tiny base for every job
WORKER = "server.refine_worker.RefineWorker"  # what make serve runs
TASK = "Answer with the word reversed."
EXAMPLES = [{"input": w, "output": w[::-1]} for w in ("cat", "dog", "bird", "fish", "lamp", "desk")]


@pytest.fixture(scope="module")
def queue_name():
    return f"t2l-refine-test-{uuid.uuid4().hex[:8]}"  # this module's own queue: no other test's jobs run here


@pytest.fixture(scope="module")
def refining(tiny_checkpoint, redis_client, tmp_path_factory, queue_name):
    with serving(tmp_path_factory.mktemp("refine"), tiny_checkpoint, refine_queue=queue_name,
                 refine_max_steps=400) as server:
        yield server


@pytest.fixture()
def worker(queue_name, tmp_path):
    """`rq worker` as a separate process, as make serve runs it; stopped (and its log shown) after the test."""
    log = tmp_path / "worker.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(log, "w") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "rq"), "worker", "-w", WORKER, "--url", REDIS_URL,
                                 queue_name],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    yield proc
    proc.terminate()
    proc.wait(30)
    print(log.read_text()[-3000:])


def post(server, path, **body):
    return httpx.post(server.url + path, json=body, timeout=60)


def wait_for(server, job_id, done, timeout_s=120.0):
    deadline = time.monotonic() + timeout_s
    while True:
        job = httpx.get(f"{server.url}/v1/jobs/{job_id}", timeout=30).json()
        if done(job):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def test_refine_runs_in_the_worker_and_its_adapter_is_served_and_cached(refining, worker):
    r = post(refining, "/v1/adapters/refine", task=TASK, examples=EXAMPLES, steps=12, lr=1e-2)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running") and job["id"].startswith("refine-") and job["steps"] == 12
    start_info = post(refining, "/v1/adapters", task=TASK).json()
    start = start_info["id"]
    assert job["from"] == start and job["adapter_id"] != start

    with httpx.stream("GET", f"{refining.url}/v1/jobs/{job['id']}/events", timeout=120) as s:
        events = [json.loads(line[6:]) for line in s.iter_lines() if line.startswith("data: {")]
    steps = [e["step"] or 0 for e in events]
    assert events[-1]["status"] == "succeeded" and steps == sorted(steps) and steps[-1] == 12
    done = httpx.get(f"{refining.url}/v1/jobs/{job['id']}", timeout=30).json()
    assert done["examples"] == {"train": 5, "held_out": 1}
    assert set(done["scores"]) == {"exact_base", "exact_base_description", "exact_before", "exact_after",
                                   "loss_first", "loss_last"}
    assert all(0 <= done["scores"][k] <= 100 for k in done["scores"] if k.startswith("exact"))

    refined = done["adapter_id"]
    chat = post(refining, "/v1/chat/completions", model=refined, max_tokens=4,
                messages=[{"role": "user", "content": "cat"}])
    assert chat.status_code == 200 and chat.headers["x-t2l-adapter-id"] == refined
    info = httpx.get(f"{refining.url}/v1/adapters/{refined}", timeout=30).json()
    assert info["description"] == start_info["description"]
    assert httpx.get(f"{refining.url}/v1/adapters/{refined}/download", timeout=30).status_code == 200

    again = post(refining, "/v1/adapters/refine", task=TASK, examples=EXAMPLES, steps=12, lr=1e-2)
    assert again.status_code == 200 and again.json()["cached"] and again.json()["adapter_id"] == refined
    other = post(refining, "/v1/adapters/refine", task=TASK, examples=EXAMPLES[:5], steps=12, lr=1e-2)
    assert other.status_code == 202 and other.json()["adapter_id"] not in (refined, start)  # other examples
    onward = post(refining, "/v1/adapters/refine", adapter_id=refined, examples=EXAMPLES, steps=3)
    assert onward.status_code == 202 and onward.json()["from"] == refined
    for j in (other.json(), onward.json()):
        assert wait_for(refining, j["id"], lambda x: x["status"] == "succeeded")["adapter_id"] == j["adapter_id"]


def test_a_refined_adapter_that_left_the_cache_is_gone_not_regenerated(refining, worker, redis_client):
    """Its id record says it was refined: without its blob it is a 404, never the description's plain adapter."""
    import asyncio

    from server.cache import BLOB_PREFIX, META_PREFIX

    job = post(refining, "/v1/adapters/refine", task=TASK, examples=EXAMPLES[1:], steps=2).json()
    refined = wait_for(refining, job["id"], lambda x: x["status"] == "succeeded")["adapter_id"]
    assert httpx.get(f"{refining.url}/v1/adapters/{refined}", timeout=30).status_code == 200  # now in memory too
    record = json.loads(redis_client.get(META_PREFIX + refined))
    assert record["refined"]["from"] == job["from"]
    asyncio.run(refining.runtime.cache.memory.delete(record["key"], refined))  # gone from this replica's memory
    assert redis_client.delete(BLOB_PREFIX + record["key"]) == 1  # and its blob from Redis (expiry, eviction)
    r = httpx.get(f"{refining.url}/v1/adapters/{refined}", timeout=30)
    assert r.status_code == 404, r.text


def test_a_running_job_stops_on_delete_and_the_worker_goes_on(refining, worker):
    r = post(refining, "/v1/adapters/refine", task="Write the word in capitals.", examples=EXAMPLES, steps=400)
    job = r.json()
    wait_for(refining, job["id"], lambda x: x["status"] == "running" and (x["step"] or 0) >= 2)
    stopped = httpx.delete(f"{refining.url}/v1/jobs/{job['id']}", timeout=30)
    assert stopped.status_code == 200
    final = wait_for(refining, job["id"], lambda x: x["status"] != "running")
    assert final["status"] == "cancelled" and final["step"] < 400
    assert httpx.get(f"{refining.url}/v1/adapters/{job['adapter_id']}", timeout=30).status_code == 404
    after = post(refining, "/v1/adapters/refine", task="Write the word in capitals.", examples=EXAMPLES[:5], steps=2)
    assert wait_for(refining, after.json()["id"], lambda x: x["status"] in ("succeeded", "failed"))["status"] == \
        "succeeded"  # the worker took the next job


def test_a_queued_job_cancels_and_unknown_jobs_are_404(refining, redis_client, queue_name):
    from concurrent.futures import ThreadPoolExecutor

    from rq import Queue

    body = {"task": "Count the letters.", "examples": EXAMPLES, "steps": 5}
    with ThreadPoolExecutor(4) as pool:  # the same request four times at once (retries, replicas): one job
        jobs = list(pool.map(lambda _: post(refining, "/v1/adapters/refine", **body).json(), range(4)))
    job = jobs[0]
    assert {j["id"] for j in jobs} == {job["id"]} and job["status"] == "queued"  # no worker in this test
    assert Queue(queue_name, connection=redis_client).job_ids.count(job["id"]) == 1
    cancelled = httpx.delete(f"{refining.url}/v1/jobs/{job['id']}", timeout=30).json()
    assert cancelled["status"] == "cancelled"
    again = post(refining, "/v1/adapters/refine", **body).json()  # asked again after a cancel: a fresh run
    assert again["id"] == job["id"] and again["status"] == "queued" and again["step"] == 0
    assert httpx.delete(f"{refining.url}/v1/jobs/{job['id']}", timeout=30).json()["status"] == "cancelled"
    for method in ("GET", "DELETE"):
        r = httpx.request(method, f"{refining.url}/v1/jobs/refine-0000000000000000", timeout=30)
        assert r.status_code == 404 and r.json()["error"]["param"] == "job_id"


@pytest.mark.parametrize("body, param", [
    ({"examples": EXAMPLES}, None),  # neither task nor adapter_id
    ({"task": TASK, "adapter_id": "t2l-0123456789abcdef", "examples": EXAMPLES}, None),
    ({"task": TASK, "examples": []}, "examples"),
    ({"task": TASK, "examples": [{"input": "a", "messages": [{"role": "user", "content": "a"}], "output": "b"}]},
     None),
    ({"task": TASK, "examples": [{"input": "a", "output": "  "}]}, None),
    ({"task": TASK, "examples": EXAMPLES, "steps": 401}, "steps"),
    ({"task": TASK, "examples": EXAMPLES, "lr": 0}, None),
    ({"task": TASK, "examples": [EXAMPLES[0], {"input": "word " * 300, "output": "x"}]}, "examples.1"),
])
def test_bad_refine_requests_are_a_clear_400(refining, body, param):
    r = post(refining, "/v1/adapters/refine", **body)
    assert r.status_code == 400, r.text
    if param:
        assert param in (r.json()["error"]["param"] or "") + r.json()["error"]["message"]


def test_an_unknown_starting_adapter_is_404(refining):
    r = post(refining, "/v1/adapters/refine", adapter_id="t2l-0123456789abcdef", examples=EXAMPLES)
    assert r.status_code == 404 and r.json()["error"]["param"] == "adapter_id"


def test_without_redis_refine_says_what_it_needs(fast_parts, tmp_path):
    with fast_serving(fast_parts, tmp_path, redis_url=None) as client:
        r = client.post("/v1/adapters/refine", json={"task": TASK, "examples": EXAMPLES})
        assert r.status_code == 503 and "T2L_REDIS_URL" in r.json()["error"]["message"]
        assert client.get("/v1/jobs/refine-0000000000000000").status_code == 404


def test_t2l_train_refine_does_the_same_offline(tiny_base, tmp_path, capsys):
    """The CLI refines a PEFT folder on a JSONL of examples with the worker's code and writes a loadable folder."""
    from hypernet import Adapter, HyperConfig, generate_adapters, init_checkpoint, load_checkpoint
    from t2l.cli import main
    from tests.helpers import HashingEncoder

    init_checkpoint(tmp_path / "ckpt", str(tiny_base), str(tiny_base), "test/hashing",
                    HyperConfig(embed_dim=16, latent_size=16, head_in_size=32), seed=1, head_noise=0.05)
    start = generate_adapters(load_checkpoint(tmp_path / "ckpt"), HashingEncoder(dim=16), [TASK])[0]
    start.to_peft(tmp_path / "start")
    (tmp_path / "ex.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EXAMPLES))
    assert main(["train", "refine", "--adapter", str(tmp_path / "start"), "--examples", str(tmp_path / "ex.jsonl"),
                 "--out", str(tmp_path / "out"), "--steps", "3"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["examples"] == 6 and printed["scores"]["exact_after"] is not None  # 6 examples: 1 held out
    refined = Adapter.from_peft(tmp_path / "out")
    assert refined.targets == start.targets and any((a != b).any() for a, b in zip(start.b, refined.b))
    (tmp_path / "bad.jsonl").write_text('{"input": "x"}\n')
    with pytest.raises(SystemExit):
        main(["train", "refine", "--adapter", str(tmp_path / "start"), "--examples", str(tmp_path / "bad.jsonl"),
              "--out", str(tmp_path / "no")])
    assert "bad.jsonl:1" in capsys.readouterr().err


def test_a_caller_over_its_job_limit_gets_429_until_one_ends(fast_parts, tmp_path, redis_client):
    from rq import Queue

    queue = f"t2l-refine-limit-{uuid.uuid4().hex[:8]}"
    try:
        with fast_serving(fast_parts, tmp_path, refine_queue=queue, refine_max_jobs_per_caller=2) as client:
            submit = lambda n: client.post("/v1/adapters/refine", json={  # noqa: E731
                "task": TASK, "examples": EXAMPLES, "steps": n})
            first, second = submit(1), submit(2)
            assert first.status_code == second.status_code == 202
            assert submit(1).status_code == 202  # the same request again is the same job, not a new one
            third = submit(3)
            assert third.status_code == 429 and third.headers["retry-after"] == "5"
            assert third.json()["error"]["code"] == "too_many_jobs"
            assert client.delete(f"/v1/jobs/{first.json()['id']}").json()["status"] == "cancelled"
            assert submit(3).status_code == 202
    finally:
        Queue(queue, connection=redis_client).empty()
