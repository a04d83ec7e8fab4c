"""AdapterService: task description -> cached adapter, generating on a miss.

key = sha256(normalised description | checkpoint digest | base model id); id = "t2l-" + key[:16]; the description is
normalised as the checkpoint's encoder spec says (hypernet.normalize_description).
A miss joins an in-process single flight per key, then takes the cross-replica Redis lock (SET NX), and its
description joins a micro-batch: misses that arrive within `window_ms` share one encoder call and one HyperLoRA
forward (paper: all tasks in one pass). Torch work runs in one worker thread, never on the event loop.
The new adapter goes into the memory tier and its request goes on; the Redis write and the lock release follow in
a task (`background_publish`), so other replicas wait on the lock until Redis holds it. `shared(key)` waits for that
write (POST /v1/adapters does, before handing out the id; so does a delete), `settle()` for all of them.

Description-quality signal: when the checkpoint carries a description index, every generated adapter gets its
coverage (nearest training tasks, score, in_distribution; hypernet.description_index) computed from the embedding
the hypernetwork already needed, stored in the adapter's metadata: it rides in the cache blob (memory and Redis)
and in the PEFT folder's safetensors header, so a cache hit reports the same signal without recomputing it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from hypernet import Adapter, AdapterFormatError, Checkpoint, TaskEncoder, adapters_from_embeddings
from hypernet import embed_descriptions, normalize_description

from .cache import AdapterCache

log = logging.getLogger("t2l.adapters")


@dataclass(frozen=True)
class Description:
    """A task description as the service uses it: normalised once, hashed once (with the checkpoint and model)."""

    text: str
    key: str


@dataclass(frozen=True)
class AdapterRecord:
    """An adapter and how it was obtained."""

    id: str
    key: str
    adapter: Adapter
    source: str  # memory | redis | generated | shared (joined a generation in flight)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def cached(self) -> bool:
        return self.source in ("memory", "redis")

    @property
    def description(self) -> str:
        return self.adapter.metadata.get("description", "")

    @property
    def coverage(self) -> dict[str, Any] | None:
        """{score, threshold, in_distribution, nearest: [{task, similarity}]}; None without a description index."""
        return self.adapter.metadata.get("coverage")


def adapter_nbytes(adapter: Adapter) -> int:
    return sum(t.numel() * t.element_size() for t in (*adapter.a, *adapter.b))


def adapter_id_for(key: str) -> str:
    return "t2l-" + key[:16]


class AdapterService:
    def __init__(self, checkpoint: Checkpoint, encoder: TaskEncoder, cache: AdapterCache, base_model: str,
                 window_ms: float = 5.0, max_batch: int = 64, max_chars: int = 2000, lock_ttl_ms: int = 30_000,
                 metrics: Any = None, background_publish: bool = True) -> None:
        self.checkpoint, self.encoder, self.cache, self.base_model = checkpoint, encoder, cache, base_model
        # A generated adapter is in the memory tier before its request goes on; with background_publish its Redis
        # write and the lock release follow in a task (bench/results/miss_path.md: off the request's latency).
        self.background_publish = background_publish
        self._publishing: dict[str, asyncio.Task] = {}  # key -> its pending Redis write
        self.window_s, self.max_batch, self.max_chars, self.lock_ttl_ms = window_ms / 1000, max_batch, max_chars, \
            lock_ttl_ms
        self.metrics = metrics
        self._inflight: dict[str, asyncio.Future] = {}
        self._pending: list[tuple[str, asyncio.Future]] = []
        self._runner: asyncio.Task | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="t2l-hypernet")
        self._batches: set[asyncio.Task] = set()  # strong references: the loop keeps only weak ones
        self.batches_run = 0

    # ---- keys ---------------------------------------------------------------------------------------------
    def key_for(self, description: str) -> tuple[str, str]:
        """(normalised text, cache key); DescriptionError for text that cannot be a description. Normalised by the
        checkpoint's encoder spec: the key hashes exactly the text the hypernetwork embeds (for an imported
        reference checkpoint: no NFKC, inner whitespace kept; older checkpoints' specs keep today's rule)."""
        text = normalize_description(description, self.max_chars, self.checkpoint.embedding)
        raw = f"{text}\x1f{self.checkpoint.digest}\x1f{self.base_model}".encode()
        return text, hashlib.sha256(raw).hexdigest()

    def describe(self, description: str) -> Description:
        return Description(*self.key_for(description))

    # ---- lookups ------------------------------------------------------------------------------------------
    async def get_or_create(self, description: str | Description) -> AdapterRecord:
        """The adapter for a description: a raw string is described here, a Description is used as it is."""
        started = time.perf_counter()
        if not isinstance(description, Description):
            description = self.describe(description)
        text, key = description.text, description.key
        record = await self._from_cache(key)
        if record is None:
            flight = self._inflight.get(key)
            if flight is not None:
                shared = await asyncio.shield(flight)
                record = AdapterRecord(shared.id, key, shared.adapter, "shared", dict(shared.timings))
            else:
                flight = asyncio.get_running_loop().create_future()
                self._inflight[key] = flight
                try:
                    record = await self._generate_once(text, key)
                    flight.set_result(record)
                except BaseException as exc:
                    flight.set_exception(exc)
                    flight.exception()  # mark retrieved: joiners re-raise it, nobody logs it twice
                    raise
                finally:
                    del self._inflight[key]
        record.timings["adapter_ms"] = (time.perf_counter() - started) * 1000
        self._count("cache_lookups", record.source)
        return record

    async def by_id(self, adapter_id: str) -> AdapterRecord | None:
        """The adapter behind an id: from cache, or regenerated from the description its record keeps."""
        meta = await self.cache.meta(adapter_id)
        if meta is None:
            return None
        record = await self._from_cache(meta["key"])
        if record is None and meta.get("refined"):
            return None  # made from examples, not from the description alone: it cannot be regenerated here
        return record if record is not None else await self.get_or_create(meta["description"])

    async def cached_record(self, key: str) -> AdapterRecord | None:
        """The adapter cached under `key` (memory, then Redis), or None; never generates."""
        return await self._from_cache(key)

    async def publish(self, record: AdapterRecord) -> None:
        """Store `record` in every cache tier (a refine worker reads its starting adapter from Redis)."""
        await self.cache.put(record.key, record.adapter.to_bytes(), record.id, self._meta(record.key, record.adapter))

    async def delete(self, adapter_id: str) -> bool:
        meta = await self.cache.meta(adapter_id)
        if meta is None:
            return False
        await self.shared(meta["key"])  # a pending Redis write would bring the adapter back after the delete
        return await self.cache.delete(meta["key"], adapter_id)

    async def _from_cache(self, key: str) -> AdapterRecord | None:
        blob, where = await self.cache.get(key)
        if blob is None:
            return None
        started = time.perf_counter()
        adapter = self.cache.decoded(key, blob) if where == "memory" else None
        if adapter is None:
            try:
                adapter = Adapter.from_bytes(blob)  # checks the checksum: Redis and the wire can corrupt bytes
            except AdapterFormatError:
                self._count("cache_corrupt", where)
                await self.cache.delete(key, adapter_id_for(key))  # regenerate below; never serve a bad adapter
                return None
            if where == "redis":
                await self.cache.remember(key, blob, adapter_id_for(key), self._meta(key, adapter))
            self.cache.keep_decoded(key, blob, adapter, adapter_nbytes(adapter))
        return AdapterRecord(adapter_id_for(key), key, adapter, where,
                             {"cache_ms": (time.perf_counter() - started) * 1000})

    def _meta(self, key: str, adapter: Adapter) -> dict[str, Any]:
        meta = {"key": key, "description": adapter.metadata.get("description", ""), "base_model": self.base_model,
                "checkpoint": self.checkpoint.digest, "created": time.time()}
        if "refined" in adapter.metadata:  # made from examples (server/refine.py): by_id must never regenerate it
            meta["refined"] = adapter.metadata["refined"]
        return meta

    # ---- generation ---------------------------------------------------------------------------------------
    async def _generate_once(self, text: str, key: str) -> AdapterRecord:
        """Generate unless another replica holds the key's lock; then wait for its value. A holder that died
        leaves its lock until the lock expires (Redis TTL), and then exactly one waiter acquires it. Whoever holds
        the lock re-checks the cache first: the previous holder may have stored the value and released the lock
        between our miss and our acquire. Only a lock that outlives three TTLs (Redis misbehaving) is ignored."""
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + 3 * self.lock_ttl_ms / 1000
        delay = 0.005
        while not await self.cache.acquire(key, owner, self.lock_ttl_ms):
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
            record = await self._from_cache(key)
            if record is not None:
                return AdapterRecord(record.id, key, record.adapter, "shared", record.timings)
            if time.monotonic() > deadline:
                break
        try:
            record = await self._from_cache(key)
            if record is not None:
                return AdapterRecord(record.id, key, record.adapter, "shared", record.timings)
            adapter, timings = await self._generate_batched(text)
            self._report(adapter_id_for(key), adapter)
            blob, meta = adapter.to_bytes(), self._meta(key, adapter)
            if self.background_publish:
                await self.cache.remember(key, blob, adapter_id_for(key), meta)  # this replica serves it from now
                task = asyncio.get_running_loop().create_task(self._share(key, blob, meta, owner))
                self._publishing[key] = task
                task.add_done_callback(lambda done: self._publishing.pop(key, None) if self._publishing.get(key)
                                       is done else None)
                owner = ""  # the task releases the lock once Redis holds the adapter
            else:
                await self.cache.put(key, blob, adapter_id_for(key), meta)
            self.cache.keep_decoded(key, blob, adapter, adapter_nbytes(adapter))
            return AdapterRecord(adapter_id_for(key), key, adapter, "generated", timings)
        finally:
            if owner:
                await self.cache.release(key, owner)

    async def _share(self, key: str, blob: bytes, meta: dict[str, Any], owner: str) -> None:
        """The Redis half of publishing a generated adapter, after its request: other replicas wait on the lock
        until the value is there (the cache tier turns Redis failures into its degraded state)."""
        try:
            await self.cache.share(key, blob, adapter_id_for(key), meta)
        except Exception:  # never an unretrieved task exception; the adapter is still served from memory
            log.exception("adapter %s: writing it to the shared cache failed", adapter_id_for(key))
        finally:
            await self.cache.release(key, owner)

    async def shared(self, key: str) -> None:
        """Return once the adapter under `key` is in Redis (if it was being written there), so that its id
        resolves on every replica: POST /v1/adapters hands the id out, and a delete must not be undone."""
        task = self._publishing.get(key)
        if task is not None:
            await asyncio.wait([task])

    async def settle(self) -> None:
        """Wait for every background Redis write started so far (tests, benchmarks and shutdown)."""
        while self._publishing:
            await asyncio.wait(list(self._publishing.values()))

    async def _generate_batched(self, text: str) -> tuple[Adapter, dict[str, float]]:
        """Continuous batching for the hypernet: a miss joins the pending list; one runner drains it in passes of
        up to max_batch. When the runner is idle it starts after `window_s` (0: the next loop tick, which still
        merges misses that arrive together); misses that arrive during a pass form the next one, so under load
        batches grow without any added wait."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self._pending.append((text, future))
        if self._runner is None:
            self._runner = loop.create_task(self._drain())
            self._batches.add(self._runner)
            self._runner.add_done_callback(self._batches.discard)
        return await future

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(self.window_s)
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch:]
                await self._run_batch(batch)
        finally:
            self._runner = None

    async def _run_batch(self, batch: list[tuple[str, asyncio.Future]]) -> None:
        loop = asyncio.get_running_loop()
        texts = [t for t, _ in batch]
        try:
            adapters, timings = await loop.run_in_executor(self._worker, self._generate_sync, texts)
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self.batches_run += 1
        if self.metrics is not None:
            self.metrics.observe_generation(len(texts), timings)
        for (_, future), adapter in zip(batch, adapters):
            if not future.done():
                future.set_result((adapter, dict(timings)))

    def _generate_sync(self, texts: list[str]) -> tuple[list[Adapter], dict[str, float]]:
        t0 = time.perf_counter()
        # texts were normalised by describe (and hashed from that same text): not normalised again here
        clean, embeddings = embed_descriptions(self.checkpoint, self.encoder, texts, self.max_chars, normalized=True)
        t1 = time.perf_counter()
        adapters = adapters_from_embeddings(self.checkpoint, clean, embeddings)
        t2 = time.perf_counter()
        timings = {"embed_ms": (t1 - t0) * 1000, "hypernet_ms": (t2 - t1) * 1000, "batch_size": len(texts)}
        index = self.checkpoint.description_index
        if index is not None:
            for adapter, coverage in zip(adapters, index.coverage(embeddings)):
                adapter.metadata["coverage"] = coverage.to_dict()
            timings["coverage_ms"] = (time.perf_counter() - t2) * 1000
        return adapters, timings

    def _report(self, adapter_id: str, adapter: Adapter) -> None:
        """Once per generated adapter: the coverage histogram and a log line."""
        coverage = adapter.metadata.get("coverage")
        if coverage is None:
            log.info("adapter %s generated; description coverage unavailable (the checkpoint has no description "
                     "index)", adapter_id)
            return
        if self.metrics is not None:
            self.metrics.observe_coverage(coverage["score"], coverage["in_distribution"])
        nearest = ", ".join(f"{n['task']} {n['similarity']:.3f}" for n in coverage["nearest"])
        expected = coverage.get("expected_accuracy")
        log.log(logging.INFO if coverage["in_distribution"] else logging.WARNING,
                "adapter %s generated; description coverage %.3f (%s, threshold %.3f); nearest training tasks: %s%s",
                adapter_id, coverage["score"], "in distribution" if coverage["in_distribution"] else
                "OUT OF DISTRIBUTION: the adapter may be noise", coverage["threshold"], nearest,
                f"; expected accuracy {expected['exact']:.1f}%" if expected else "")

    def _count(self, what: str, label: str) -> None:
        if self.metrics is not None:
            self.metrics.count(what, label)

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.settle(), 5)  # adapters generated just before shutdown reach Redis
        except asyncio.TimeoutError:
            log.warning("%d shared-cache writes still pending at shutdown; dropped", len(self._publishing))
        self._worker.shutdown(wait=False, cancel_futures=True)
