"""Refine jobs: an adapter fine-tuned on a user's examples, off the serving path, through rq on the service's Redis.

Why rq: refining is CPU/GPU-bound work of seconds to minutes, one job at a time per worker. rq's worker runs each
job in a forked child (a crashed or cancelled job cannot take the worker down, and `send_stop_job_command` stops a
running job at once), keeps progress in `job.meta` on the same Redis, and needs nothing but Redis, which the
service already runs. arq and saq are asyncio workers (a training loop would block their loop), Celery and
Dramatiq bring a broker abstraction and more moving parts for no gain here.

    service (POST /v1/adapters/refine)        Redis                            worker (`rq worker t2l-refine`)
    start adapter -> cache (Redis) ---------> t2l:adapter:<start key>
    RefineQueue.submit(payload) ------------> rq job "refine-<16 hex>" -----> refine_job.run_refine: load the base,
    GET /v1/jobs/{id} <---------------------- job status + meta (progress)     score, refine, score, put the result
    model=t2l-<refined id> <----------------- t2l:adapter:<refined key> <----- (RedisCache.put, like the service)

The refined adapter's key covers everything it was made from: the starting adapter's key (description, checkpoint,
base model), the examples and the settings (`refine_key`); the same request again finds it cached.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import time
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from ground.prompt import chat_ids, token_ids

from .failures import BadRequest, Busy, Unavailable
from .service import adapter_id_for

QUEUE = "t2l-refine"
FORMAT = "t2l-refine/2"  # part of every refined key: a change to how refining works must change the keys
JOB_PREFIX = "refine-"
JOB_ID = re.compile(r"refine-[0-9a-f]{16}")

Message = dict[str, str]
Example = tuple[tuple[Message, ...], str]  # (the request's messages, the answer the adapter should give)


@dataclass(frozen=True)
class RefineSettings:
    """What a refine request may set (bounded by the server's limits before it is queued)."""

    steps: int = 40
    lr: float = 1e-3
    holdout_fraction: float = 0.2  # examples kept out of training to score before vs after (none below 5 examples)
    seed: int = 0
    batch_size: int = 8


def refine_key(start_key: str, examples: Sequence[Example], settings: RefineSettings) -> str:
    """sha256 over the format, the starting adapter's key, the examples and the settings."""
    body = json.dumps({"format": FORMAT, "start": start_key, "settings": asdict(settings),
                       "examples": [[list(messages), answer] for messages, answer in examples]}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def job_id_for(key: str) -> str:
    return JOB_PREFIX + key[:16]


def holdout_split(examples: Sequence[Example], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train indices, held-out indices): a seeded fraction held out, none below 5 examples, never all of them."""
    import random

    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    held = int(len(examples) * fraction) if len(examples) >= 5 else 0
    held = min(held, len(examples) - 1)
    return sorted(order[held:]), sorted(order[:held])


# ---- the queue, as the service sees it --------------------------------------------------------------------------
STATUS = {"queued": "queued", "deferred": "queued", "scheduled": "queued", "created": "queued",
          "ready_to_enqueue": "queued", "started": "running", "finished": "succeeded", "failed": "failed",
          "stopped": "cancelled", "canceled": "cancelled"}
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


class RefineQueue:
    """rq on the service's Redis (sync redis-py; the service calls it through asyncio.to_thread)."""

    def __init__(self, redis_url: str, name: str = QUEUE, job_timeout_s: int = 1800, keep_s: int = 86_400) -> None:
        import redis
        from rq import Queue

        self.redis_url = redis_url
        self.connection = redis.Redis.from_url(redis_url, socket_timeout=10)
        self.queue = Queue(name, connection=self.connection)
        self.job_timeout_s, self.keep_s = job_timeout_s, keep_s

    def submit(self, payload: dict[str, Any]) -> str:
        """Queue the job unless the same one (same id) is queued or running; returns its id."""
        from rq.exceptions import DuplicateJobError
        from rq.job import Job

        job_id = payload["job_id"]
        current = self.status(job_id)
        if current is not None and current["status"] not in TERMINAL:
            return job_id
        if current is not None:  # the same request ran before and ended (failed, cancelled): run it afresh
            Job.fetch(job_id, connection=self.connection).delete()
        try:  # unique: an atomic check, so two submits at once (a retry, two replicas) queue it once
            self.queue.enqueue_call("server.refine_job.run_refine", args=(payload,), job_id=job_id, unique=True,
                                    timeout=self.job_timeout_s, result_ttl=self.keep_s, failure_ttl=self.keep_s,
                                    ttl=self.keep_s, meta={"steps": payload["settings"]["steps"], "step": 0,
                                                           "adapter_id": payload["id"], "from": payload["start_id"],
                                                           "owner": payload.get("owner"), "submitted": time.time()})
        except DuplicateJobError:
            pass  # another submit of the same request got there first: that job is this one
        return job_id

    def active(self, owner: str) -> int:
        """Jobs of `owner` queued or running now (their meta names the owner)."""
        from rq.job import Job
        from rq.registry import StartedJobRegistry

        ids = [*self.queue.job_ids, *StartedJobRegistry(queue=self.queue).get_job_ids()]
        jobs = Job.fetch_many(ids, connection=self.connection)
        return sum(1 for job in jobs if job is not None and job.meta.get("owner") == owner
                   and STATUS.get(job.get_status(refresh=False).value) in ("queued", "running"))

    def status(self, job_id: str) -> dict[str, Any] | None:
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        if not JOB_ID.fullmatch(job_id):
            return None  # not one of ours (rq refuses some ids outright)
        try:
            job = Job.fetch(job_id, connection=self.connection)
        except NoSuchJobError:
            return None
        meta, state = job.get_meta(refresh=True), STATUS.get(job.get_status(refresh=False).value, "queued")
        out = {"id": job_id, "object": "refine.job", "status": state, **{k: _finite(meta.get(k)) for k in (
            "step", "steps", "loss", "eta_s", "scores", "adapter_id", "from", "examples")}}
        if state == "failed":
            out["error"] = meta.get("error") or "the refine job failed (see the worker's log)"
        return out

    def cancel(self, job_id: str) -> dict[str, Any] | None:
        """Cancel a queued job or stop a running one; a finished job is left as it is. None: no such job."""
        from rq.command import send_stop_job_command
        from rq.job import Job

        from rq.exceptions import InvalidJobOperation, NoSuchJobError

        current = self.status(job_id)
        if current is None or current["status"] in TERMINAL:
            return current
        try:
            if current["status"] == "running":
                send_stop_job_command(self.connection, job_id)
            else:
                Job.fetch(job_id, connection=self.connection).cancel()
        except (InvalidJobOperation, NoSuchJobError):
            pass  # it ended, started or was cancelled meanwhile: report what it is now
        return self.status(job_id)

    def close(self) -> None:
        self.connection.close()


def _finite(value: Any) -> Any:
    """JSON cannot carry NaN or infinity (a diverged loss): they read as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


# ---- the service side -----------------------------------------------------------------------------------------
class RefineService:
    """Turns a refine request into a job (or the cached result) and answers for jobs; never refines itself."""

    def __init__(self, adapters: Any, queue: RefineQueue | None, cache_ttl_s: int = 0,
                 cache_max_blob_bytes: int = 64 * 2**20, tokenizer: Any = None, max_len: int = 2048) -> None:
        self.adapters, self.queue, self.tokenizer, self.max_len = adapters, queue, tokenizer, max_len
        self.cache_limits = {"ttl_s": cache_ttl_s, "max_blob_bytes": cache_max_blob_bytes}  # as the service's

    def available(self) -> RefineQueue:
        """The queue, or a 503 saying what refine needs (checked before any work for the request)."""
        if self.queue is None:
            raise Unavailable("refine needs Redis and a worker: set T2L_REDIS_URL and run `rq worker --url "
                              "REDIS_URL t2l-refine` (make serve does both)", code="refine_unavailable")
        return self.queue

    def check(self, examples: Sequence[Example]) -> None:
        """A 400 naming the first example that does not fit the context (prompt + answer + EOS > max_len tokens)."""

        if self.tokenizer is None:
            return
        for i, (messages, answer) in enumerate(examples):
            n = len(chat_ids(self.tokenizer, list(messages))) + len(token_ids(self.tokenizer, answer)) + 1
            if n > self.max_len:
                raise BadRequest(f"example {i} is {n} tokens (prompt + output); the limit is {self.max_len}",
                                 param=f"examples.{i}", code="context_length_exceeded")

    async def _call(self, method, *args):
        """A queue call off the event loop; Redis down is a 503 to retry, not a 500."""
        import redis

        try:
            return await asyncio.to_thread(method, *args)
        except redis.exceptions.RedisError as exc:
            raise Unavailable(f"the job queue (Redis) is not answering: {exc}", code="refine_unavailable",
                              retry_after=5) from exc

    async def submit(self, start: Any, examples: Sequence[Example], settings: RefineSettings, owner: str = "",
                     max_jobs: int = 0) -> dict[str, Any]:
        """The job for refining `start` (an AdapterRecord) on `examples`; status "succeeded" and cached when the
        result exists already. A new job beyond `max_jobs` of `owner`'s queued or running ones is a 429."""
        key = refine_key(start.key, examples, settings)
        adapter_id, job_id = adapter_id_for(key), job_id_for(key)
        done = await self.adapters.cached_record(key)
        if done is not None:
            refined = done.adapter.metadata.get("refined", {})
            return {"id": job_id, "object": "refine.job", "status": "succeeded", "cached": True,
                    "adapter_id": adapter_id, "from": refined.get("from", start.id), "scores": refined.get("scores")}
        queue = self.available()
        current = await self.status(job_id)
        if max_jobs and (current is None or current["status"] in TERMINAL) and \
                await self._call(queue.active, owner) >= max_jobs:
            raise Busy(f"{owner} has {max_jobs} refine jobs queued or running (T2L_REFINE_MAX_JOBS_PER_CALLER); "
                       "wait for one to end or cancel one", code="too_many_jobs", retry_after=5)
        await self.adapters.publish(start)  # the worker reads the starting adapter from Redis
        payload = {"job_id": job_id, "key": key, "id": adapter_id, "start_key": start.key, "start_id": start.id,
                   "description": start.description, "base_model": self.adapters.base_model,
                   "checkpoint": self.adapters.checkpoint.digest, "owner": owner,
                   "redis_url": queue.redis_url, "cache": self.cache_limits, "settings": asdict(settings),
                   "examples": [[list(messages), answer] for messages, answer in examples]}
        await self._call(queue.submit, payload)
        return await self.status(job_id) or {"id": job_id, "object": "refine.job", "status": "queued"}

    async def status(self, job_id: str) -> dict[str, Any] | None:
        if self.queue is None:
            return None
        return await self._call(self.queue.status, job_id)

    async def cancel(self, job_id: str) -> dict[str, Any] | None:
        if self.queue is None:
            return None
        return await self._call(self.queue.cancel, job_id)

    async def close(self) -> None:
        if self.queue is not None:
            await asyncio.to_thread(self.queue.close)
