"""AdapterService and caches against real Redis: replicas share adapters, one generation per key across
replicas, corrupt entries are regenerated, a dead Redis degrades to memory and recovers."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest
import torch

from hypernet import Adapter
from server.cache import BLOB_PREFIX, LOCK_PREFIX, META_PREFIX, MemoryCache, RedisCache, TieredCache
from server.metrics import Metrics
from server.service import AdapterService, adapter_id_for
from tests.helpers import HashingEncoder
from tests.server.conftest import REDIS_URL, free_port


@pytest.fixture(scope="module")
def checkpoint(fast_parts):
    return fast_parts.checkpoint  # tiny, seeded, built in process (16-d embeddings)


class _Encoder(HashingEncoder):
    def __init__(self):
        super().__init__(dim=16)


def replica(checkpoint, redis_url=REDIS_URL, metrics=None, **kw) -> AdapterService:
    redis = RedisCache(redis_url) if redis_url else None
    cache = TieredCache(MemoryCache(64 * 2**20), redis, retry_s=0.05,
                        on_error=(lambda op: metrics.count("redis_errors", op)) if metrics else None)
    return AdapterService(checkpoint, _Encoder(), cache, "tiny", metrics=metrics, **kw)


def run(coro):
    return asyncio.run(coro)


def test_key_covers_text_checkpoint_and_base_model(checkpoint):
    a, b = replica(checkpoint, None), replica(checkpoint, None)
    assert a.key_for("Sort  the list.")[1] == b.key_for(" Sort the list.\n")[1]
    assert a.key_for("Sort the list.")[1] != a.key_for("sort the list.")[1]
    b.base_model = "other"
    assert a.key_for("Sort the list.")[1] != b.key_for("Sort the list.")[1]


def test_key_and_embedding_follow_the_checkpoints_pre_processing(tmp_path):
    """An imported reference checkpoint embeds a description as given (no NFKC, inner whitespace kept), so its key
    hashes that same text and the encoder is handed it; the shipped checkpoint keeps today's key (NFKC, collapsed
    whitespace), so caches filled before stay valid."""
    import hashlib
    from pathlib import Path

    from hypernet import EncoderSpec, load_checkpoint, save_checkpoint
    from tests.helpers import tiny_hypernet, tiny_llama

    spec = EncoderSpec.reference("test/gte-tiny")
    save_checkpoint(tmp_path / "ref", tiny_hypernet(tiny_llama()), "tiny", spec.name, encoder_spec=spec)

    class Recording(_Encoder):
        seen: list[str] = []

        def embed_normalized(self, texts):
            self.seen.extend(texts)
            return super().embed_normalized(texts)

    encoder = Recording()
    service = AdapterService(load_checkpoint(tmp_path / "ref"), encoder, TieredCache(MemoryCache(2**24), None), "tiny")
    text, key = service.key_for("  Ｓort the  ﬁles…\n")
    assert text == "Ｓort the  ﬁles…" and key == service.key_for("Ｓort the  ﬁles…")[1]
    assert key != service.key_for("Sort the files...")[1]
    record = run(service.get_or_create("  Ｓort the  ﬁles…\n"))
    assert encoder.seen == ["Ｓort the  ﬁles…"] and record.description == "Ｓort the  ﬁles…"

    shipped = load_checkpoint(Path(__file__).parents[2] / "checkpoints" / "t2l-smollm2-135m-sft-L")
    ours = AdapterService(shipped, _Encoder(), TieredCache(MemoryCache(2**24), None), "base")
    want = hashlib.sha256(f"Sort the files...\x1f{shipped.digest}\x1fbase".encode()).hexdigest()
    assert ours.key_for("  Ｓort the  ﬁles…\n") == ("Sort the files...", want)


def test_second_replica_gets_the_adapter_from_redis(checkpoint, redis_client):
    async def go():
        first, second = replica(checkpoint), replica(checkpoint)
        made = await first.get_or_create("Replica sharing task.")
        await first.shared(made.key)  # the Redis write follows the request; test_background_* cover the window
        got = await second.get_or_create("Replica sharing task.")
        again = await second.get_or_create("Replica sharing task.")
        meta = await second.by_id(made.id)
        return made, got, again, meta

    made, got, again, meta = run(go())
    assert (made.source, got.source, again.source) == ("generated", "redis", "memory")
    assert made.id == got.id == meta.id
    assert all(torch.equal(x, y) for x, y in zip(made.adapter.a + made.adapter.b, got.adapter.a + got.adapter.b))


def test_one_generation_per_key_across_replicas(checkpoint, redis_client):
    async def go():
        replicas = [replica(checkpoint) for _ in range(4)]
        records = await asyncio.gather(*(r.get_or_create("Single flight across replicas.") for r in replicas
                                         for _ in range(3)))
        return replicas, records

    replicas, records = run(go())
    assert sum(r.batches_run for r in replicas) == 1
    assert len({r.id for r in records}) == 1
    assert [r.source for r in records].count("generated") == 1


def _hold_before_acquire(service: AdapterService):
    """Make `service` stop after its cache miss, just before it asks for the Redis lock, until released:
    (arrived, release) events. Orders replicas without timing."""
    arrived, release = asyncio.Event(), asyncio.Event()
    acquire = service.cache.acquire

    async def held(key, owner, ttl_ms):
        arrived.set()
        await release.wait()
        return await acquire(key, owner, ttl_ms)

    service.cache.acquire = held
    return arrived, release


def test_a_replica_that_gets_the_lock_after_the_holder_finished_does_not_generate_again(checkpoint, redis_client):
    """Issue #24: B misses the cache, A generates, stores and releases the lock, then B acquires it: B must
    re-check the cache and take A's adapter, not run the hypernetwork a second time."""
    text = "Single flight: the lock comes free after the value is stored."

    async def go():
        a, b = replica(checkpoint), replica(checkpoint)
        arrived, release = _hold_before_acquire(b)
        late = asyncio.create_task(b.get_or_create(text))
        await arrived.wait()  # B has missed the cache and stands before the lock
        first = await a.get_or_create(text)  # A generates, stores, releases
        release.set()
        return a, b, first, await late

    a, b, first, second = run(go())
    assert (a.batches_run, b.batches_run) == (1, 0)
    assert first.source == "generated" and second.source != "generated" and second.id == first.id


def _hold_share(service: AdapterService) -> asyncio.Event:
    """Hold `service`'s Redis write of a generated adapter (its background publish) until the event is set."""
    release = asyncio.Event()
    share = service.cache.share

    async def held(*args):
        await release.wait()
        return await share(*args)

    service.cache.share = held
    return release


def test_background_publish_serves_first_and_other_replicas_wait_for_the_write(checkpoint, redis_client):
    """Issue #25: the request returns with the adapter in memory while its Redis write is still pending; the lock
    stays held until the write is done, so a replica asking meanwhile waits and takes the value (no second
    generation), and the lock is gone once Redis holds the adapter."""
    text = "Background publish: served first, shared after."

    async def go():
        a, b = replica(checkpoint), replica(checkpoint)
        release = _hold_share(a)
        made = await a.get_or_create(text)
        pending = redis_client.get(BLOB_PREFIX + made.key), redis_client.get(LOCK_PREFIX + made.key)
        hit = await a.get_or_create(text)
        waiting = asyncio.create_task(b.get_or_create(text))
        await asyncio.sleep(0.1)
        blocked = not waiting.done()
        release.set()
        other = await waiting
        await a.settle()
        done = redis_client.get(BLOB_PREFIX + made.key), redis_client.get(LOCK_PREFIX + made.key)
        return a, b, made, pending, hit, blocked, other, done

    a, b, made, pending, hit, blocked, other, done = run(go())
    assert made.source == "generated" and pending[0] is None and pending[1] is not None
    assert hit.source == "memory" and hit.adapter is made.adapter
    assert blocked and other.source == "shared" and other.id == made.id and (a.batches_run, b.batches_run) == (1, 0)
    assert Adapter.from_bytes(done[0]).a[0].equal(made.adapter.a[0]) and done[1] is None


def test_deleting_during_the_background_write_leaves_nothing_behind(checkpoint, redis_client):
    """A delete waits for the adapter's pending Redis write; otherwise the write would bring it back."""
    text = "Background publish: deleted while its write is pending."

    async def go():
        a = replica(checkpoint)
        release = _hold_share(a)
        made = await a.get_or_create(text)
        deleting = asyncio.create_task(a.delete(made.id))
        await asyncio.sleep(0.1)
        blocked = not deleting.done()
        release.set()
        return made, blocked, await deleting

    made, blocked, deleted = run(go())
    assert blocked and deleted
    assert redis_client.get(BLOB_PREFIX + made.key) is None and redis_client.get(META_PREFIX + made.id) is None


def test_close_finishes_pending_writes_and_inline_publish_writes_before_returning(checkpoint, redis_client):
    async def go():
        a = replica(checkpoint)
        release = _hold_share(a)
        made = await a.get_or_create("Background publish: generated just before shutdown.")
        asyncio.get_running_loop().call_later(0.1, release.set)
        await a.close()
        after_close = redis_client.get(BLOB_PREFIX + made.key)
        inline = replica(checkpoint, background_publish=False)
        direct = await inline.get_or_create("Inline publish: in Redis when the request returns.")
        return after_close, direct, redis_client.get(BLOB_PREFIX + direct.key), dict(inline._publishing)

    after_close, direct, stored, pending = run(go())
    assert after_close is not None
    assert direct.source == "generated" and stored is not None and pending == {}


def test_waiters_on_an_expired_lock_generate_once(checkpoint, redis_client):
    """A holder that died leaves its lock until it expires; of the replicas waiting on it, one generates and the
    others take its value (before the fix each waiter generated once the deadline passed)."""
    text = "Single flight: the holder died and its lock expired."

    async def go():
        probe = replica(checkpoint, lock_ttl_ms=300)
        key = probe.key_for(text)[1]
        redis_client.set(LOCK_PREFIX + key, "a-dead-owner", px=300)
        replicas = [replica(checkpoint, lock_ttl_ms=300) for _ in range(3)]
        records = await asyncio.gather(*(r.get_or_create(text) for r in replicas))
        return replicas, records

    replicas, records = run(go())
    assert sum(r.batches_run for r in replicas) == 1
    assert [r.source for r in records].count("generated") == 1 and len({r.id for r in records}) == 1


def test_micro_batching_puts_concurrent_misses_in_one_pass(checkpoint):
    async def go():
        service = replica(checkpoint, None, window_ms=50)
        records = await asyncio.gather(*(service.get_or_create(f"Batched task {i}.") for i in range(12)))
        return service, records

    service, records = run(go())
    assert service.batches_run == 1 and len({r.id for r in records}) == 12
    assert all(r.timings["batch_size"] == 12 for r in records)


def test_corrupt_redis_entry_is_regenerated(checkpoint, redis_client):
    metrics = Metrics()

    async def go():
        service = replica(checkpoint, metrics=metrics)
        made = await service.get_or_create("Corruption victim.")
        await service.shared(made.key)  # the Redis write follows the request (background_publish)
        blob = redis_client.get(BLOB_PREFIX + made.key)
        redis_client.set(BLOB_PREFIX + made.key, blob[:-10])  # truncated
        fresh = replica(checkpoint, metrics=metrics)
        again = await fresh.get_or_create("Corruption victim.")
        await fresh.settle()
        return made, again

    made, again = run(go())
    assert again.source == "generated" and again.id == made.id
    assert Adapter.from_bytes(redis_client.get(BLOB_PREFIX + made.key))  # healed in place
    assert metrics.cache_corrupt.labels("redis")._value.get() == 1


def test_redis_down_degrades_to_memory_and_recovers(checkpoint, tmp_path):
    server = shutil.which("redis-server")
    assert server, "redis-server is needed (make test installs it)"
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    metrics = Metrics()

    def start():
        return subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                 "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)

    async def go():
        service = replica(checkpoint, url, metrics)  # Redis not started yet: starts degraded
        cold = await service.get_or_create("Outage task one.")
        state_down = service.cache.state
        proc = start()
        try:
            for _ in range(100):
                await asyncio.sleep(0.05)
                health = await service.cache.health()
                if health["state"] == "redis":
                    break
            made = await service.get_or_create("Outage task two.")
            await service.shared(made.key)
            state_up = service.cache.state
            in_redis = await service.cache.redis.get(made.key)
        finally:
            proc.terminate()
            proc.wait(10)  # Redis is gone before the next request (no sleep needed)
        during = await service.get_or_create("Outage task three.")  # Redis died again: still answered
        return cold, state_down, state_up, in_redis, during, service.cache.state

    cold, down, up, in_redis, during, final = run(go())
    assert cold.source == "generated" and down == "degraded"
    assert up == "redis" and in_redis is not None
    assert during.source == "generated" and final == "degraded"
    assert metrics.redis_errors.labels("get")._value.get() >= 1


def test_memory_cache_respects_its_byte_budget(checkpoint):
    async def go():
        cache = MemoryCache(max_bytes=3000)
        for i in range(5):
            await cache.put(f"k{i}", b"x" * 1000, f"t2l-{i}", {"key": f"k{i}"})
        await cache.get("k2")  # touch: k2 survives the next eviction
        await cache.put("k5", b"x" * 1000, "t2l-5", {"key": "k5"})
        return cache, [await cache.get(f"k{i}") is not None for i in range(6)], await cache.meta("t2l-0")

    cache, present, meta0 = run(go())
    assert cache.used <= 3000 and present == [False, False, True, False, True, True] and meta0 is None


def test_adapter_id_is_the_key_prefix():
    assert adapter_id_for("ab" * 32) == "t2l-" + "ab" * 8


def test_memory_hit_reuses_the_decoded_adapter_and_a_replaced_blob_is_decoded_again(checkpoint, monkeypatch):
    decodes = []
    real = Adapter.from_bytes
    monkeypatch.setattr(Adapter, "from_bytes", classmethod(lambda cls, blob: decodes.append(1) or real(blob)))

    async def go():
        service = replica(checkpoint, None)
        made = await service.get_or_create("Decoded cache task.")
        hits = [await service.get_or_create("Decoded cache task.") for _ in range(3)]
        memory = service.cache.memory
        blob = await memory.get(made.key)
        accounted = memory.used == len(blob) + sum(t.numel() * 4 for t in (*made.adapter.a, *made.adapter.b))
        # A different bytes object under the key (a put from elsewhere): decoded and checked again.
        await memory.put(made.key, bytes(blob), made.id, {"key": made.key})
        after = await service.get_or_create("Decoded cache task.")
        corrupt = bytearray(blob)
        corrupt[-5] ^= 0xFF
        await memory.put(made.key, bytes(corrupt), made.id, {"key": made.key})
        regenerated = await service.get_or_create("Decoded cache task.")
        return made, hits, accounted, after, regenerated

    made, hits, accounted, after, regenerated = run(go())
    assert all(h.source == "memory" and h.adapter is made.adapter for h in hits)
    assert accounted
    assert after.source == "memory" and after.adapter is not made.adapter and len(decodes) == 2
    assert regenerated.source == "generated"  # the corrupt bytes were caught, not served
    assert all(torch.equal(x, y) for x, y in zip(after.adapter.a, made.adapter.a))


def test_misses_arriving_during_a_pass_form_the_next_batch_without_a_window(checkpoint):
    """The first pass is held (events, no sleeps) until the other five misses are queued behind it."""
    import threading

    async def go():
        service = replica(checkpoint, None, window_ms=0)
        real = service._generate_sync
        running, release = threading.Event(), threading.Event()

        def held_pass(texts):
            if not running.is_set():  # the first pass: say it runs, then wait for the test
                running.set()
                release.wait(60)
            return real(texts)

        service._generate_sync = held_pass
        loop = asyncio.get_running_loop()
        first = asyncio.ensure_future(service.get_or_create("Continuous batching task 0."))
        assert await loop.run_in_executor(None, running.wait, 60)
        rest = [asyncio.ensure_future(service.get_or_create(f"Continuous batching task {i}.")) for i in range(1, 6)]
        deadline = loop.time() + 30
        while len(service._pending) < 5:  # each miss queues after its (memory) cache lookup
            assert loop.time() < deadline, f"{len(service._pending)} of 5 misses queued"
            await asyncio.sleep(0)
        release.set()
        return service, await first, await asyncio.gather(*rest)

    service, first, rest = run(go())
    assert service.batches_run == 2
    assert first.timings["batch_size"] == 1 and all(r.timings["batch_size"] == 5 for r in rest)
