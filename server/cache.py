"""Adapter caches: values are Adapter blobs (safetensors + config + sha256, see hypernet.adapter).

Keys: `t2l:adapter:<sha256 key>` holds the blob, `t2l:meta:<adapter id>` a small JSON record (the key, the
description, ...) so `t2l-<16 hex>` ids resolve on every replica. `TieredCache` is what the service uses (the
`AdapterCache` protocol): an in-process LRU in front of Redis (when configured). Redis errors never fail a
request: the tier marks itself degraded, serves from memory (and regeneration), and probes Redis again after a
short back-off.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from typing import Any, Protocol

log = logging.getLogger("t2l.cache")
BLOB_PREFIX = "t2l:adapter:"
META_PREFIX = "t2l:meta:"
LOCK_PREFIX = "t2l:lock:"


class CacheTier(Protocol):
    """One level of the cache (MemoryCache, RedisCache)."""

    async def get(self, key: str) -> bytes | None: ...
    async def put(self, key: str, blob: bytes, adapter_id: str, meta: dict[str, Any]) -> None: ...
    async def meta(self, adapter_id: str) -> dict[str, Any] | None: ...
    async def delete(self, key: str, adapter_id: str) -> bool: ...


class AdapterCache(Protocol):
    """What the AdapterService uses (TieredCache implements it): blobs by key with the tier that answered, the
    decoded object kept beside a blob, id records, and the cross-replica single-flight lock."""

    async def get(self, key: str) -> tuple[bytes | None, str]: ...
    def decoded(self, key: str, blob: bytes) -> Any | None: ...
    def keep_decoded(self, key: str, blob: bytes, value: Any, size: int) -> None: ...
    async def put(self, key: str, blob: bytes, adapter_id: str, meta: dict[str, Any]) -> None: ...
    async def share(self, key: str, blob: bytes, adapter_id: str, meta: dict[str, Any]) -> None: ...
    async def remember(self, key: str, blob: bytes, adapter_id: str, meta: dict[str, Any]) -> None: ...
    async def meta(self, adapter_id: str) -> dict[str, Any] | None: ...
    async def delete(self, key: str, adapter_id: str) -> bool: ...
    async def acquire(self, key: str, owner: str, ttl_ms: int) -> bool: ...
    async def release(self, key: str, owner: str) -> None: ...


class MemoryCache:
    """LRU over blob bytes; meta records live as long as their blob.

    Beside a blob it can keep the object decoded from it (`keep_decoded`), counted in `used`: a memory hit then
    skips the checksum and deserialisation (2.5 ms -> microseconds for SmolLM2 adapters). The decoded object is
    returned only for the very bytes object it came from, so a blob replaced by `put` is decoded afresh."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes, self.used = max_bytes, 0
        self._blobs: OrderedDict[str, bytes] = OrderedDict()
        self._meta: dict[str, dict[str, Any]] = {}
        self._id_of: dict[str, str] = {}
        self._decoded: dict[str, tuple[bytes, Any, int]] = {}  # key -> (its blob, decoded object, bytes)

    def decoded(self, key: str, blob: bytes) -> Any | None:
        entry = self._decoded.get(key)
        return entry[1] if entry is not None and entry[0] is blob else None

    def keep_decoded(self, key: str, blob: bytes, value: Any, size: int) -> None:
        if self._blobs.get(key) is blob and key not in self._decoded and size <= self.max_bytes:
            self._decoded[key] = (blob, value, size)
            self.used += size
            self._evict()

    def _drop_decoded(self, key: str) -> None:
        entry = self._decoded.pop(key, None)
        if entry is not None:
            self.used -= entry[2]

    def _evict(self) -> None:
        while self.used > self.max_bytes and self._blobs:
            old_key, old = self._blobs.popitem(last=False)
            self.used -= len(old)
            self._drop_decoded(old_key)
            self._meta.pop(self._id_of.pop(old_key, ""), None)

    async def get(self, key: str) -> bytes | None:
        blob = self._blobs.get(key)
        if blob is not None:
            self._blobs.move_to_end(key)
        return blob

    async def put(self, key: str, blob: bytes, adapter_id: str, meta: dict[str, Any]) -> None:
        if len(blob) > self.max_bytes:
            return
        if key in self._blobs:
            self.used -= len(self._blobs.pop(key))
            self._drop_decoded(key)
        self._blobs[key], self.used = blob, self.used + len(blob)
        self._meta[adapter_id], self._id_of[key] = dict(meta), adapter_id
        self._evict()

    async def meta(self, adapter_id: str) -> dict[str, Any] | None:
        return self._meta.get(adapter_id)

    async def delete(self, key: str, adapter_id: str) -> bool:
        blob = self._blobs.pop(key, None)
        if blob is not None:
            self.used -= len(blob)
        self._drop_decoded(key)
        self._id_of.pop(key, None)
        return (self._meta.pop(adapter_id, None) is not None) or blob is not None

    def __len__(self) -> int:
        return len(self._blobs)

    async def flush(self) -> int:
        count = len(self._blobs)
        self._blobs.clear(), self._meta.clear(), self._id_of.clear(), self._decoded.clear()
        self.used = 0
        return count


class RedisCache:
    """redis-py asyncio; short timeouts so an outage is noticed in milliseconds, not minutes."""

    def __init__(self, url: str, ttl_s: int = 0, max_blob_bytes: int = 64 * 2**20, timeout_s: float = 0.5) -> None:
        import redis.asyncio as redis

        self.url, self.ttl_s, self.max_blob_bytes = url, ttl_s, max_blob_bytes
        self.client = redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                     retry_on_timeout=False, health_check_interval=0)

    async def get(self, key: str) -> bytes | None:
        return await self.client.get(BLOB_PREFIX + key)

    async def put(self, key: str, blob: bytes, adapter_id: str, meta: dict[str, Any]) -> None:
        if len(blob) > self.max_blob_bytes:
            raise ValueError(f"adapter blob of {len(blob)} bytes exceeds the {self.max_blob_bytes}-byte limit")
        ttl = self.ttl_s or None
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(BLOB_PREFIX + key, blob, ex=ttl)
            pipe.set(META_PREFIX + adapter_id, json.dumps(meta), ex=ttl)
            await pipe.execute()

    async def meta(self, adapter_id: str) -> dict[str, Any] | None:
        raw = await self.client.get(META_PREFIX + adapter_id)
        return json.loads(raw) if raw else None

    async def delete(self, key: str, adapter_id: str) -> bool:
        return bool(await self.client.delete(BLOB_PREFIX + key, META_PREFIX + adapter_id))

    async def flush(self) -> int:
        """Delete every adapter blob and id record (locks are left to expire)."""
        deleted = 0
        for prefix in (BLOB_PREFIX, META_PREFIX):
            batch = []
            async for name in self.client.scan_iter(match=prefix + "*", count=500):
                batch.append(name)
                if len(batch) >= 500:
                    deleted += await self.client.delete(*batch)
                    batch = []
            if batch:
                deleted += await self.client.delete(*batch)
        return deleted

    async def acquire(self, key: str, owner: str, ttl_ms: int) -> bool:
        """Cross-replica single flight: SET NX PX; the holder generates, others wait for the value."""
        return bool(await self.client.set(LOCK_PREFIX + key, owner, nx=True, px=ttl_ms))

    async def release(self, key: str, owner: str) -> None:
        # Delete only our own lock (compare-and-delete in one server-side step).
        await self.client.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
                               "else return 0 end", 1, LOCK_PREFIX + key, owner)

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def close(self) -> None:
        await self.client.aclose()


class TieredCache:
    """Memory in front of optional Redis. Every Redis call goes through `_redis`, which turns failures into a
    degraded state (logged once, counted) and skips Redis for `retry_s` before probing it again."""

    def __init__(self, memory: MemoryCache, redis: RedisCache | None = None, retry_s: float = 1.0,
                 on_error=None) -> None:
        self.memory, self.redis, self.retry_s = memory, redis, retry_s
        self.degraded_since: float | None = None
        self._skip_until = 0.0
        self._on_error = on_error or (lambda op: None)

    @property
    def state(self) -> str:
        if self.redis is None:
            return "memory"
        return "degraded" if self.degraded_since is not None else "redis"

    async def _redis(self, op: str, call, default=None):
        if self.redis is None or time.monotonic() < self._skip_until:
            return default
        try:
            result = await call()
        except Exception as exc:  # connection refused, timeout, reset, OOM: all mean "serve without Redis"
            self._on_error(op)
            self._skip_until = time.monotonic() + self.retry_s
            if self.degraded_since is None:
                self.degraded_since = time.time()
                log.warning("redis unavailable (%s: %s); serving from memory until it is back", op, exc)
            return default
        if self.degraded_since is not None:
            log.warning("redis is back after %.1f s", time.time() - self.degraded_since)
            self.degraded_since = None
        return result

    async def get(self, key: str) -> tuple[bytes | None, str]:
        """(blob, where): where is 'memory', 'redis' or 'miss'."""
        blob = await self.memory.get(key)
        if blob is not None:
            return blob, "memory"
        blob = await self._redis("get", lambda: self.redis.get(key))
        return (blob, "redis") if blob is not None else (None, "miss")

    async def put(self, key: str, blob: bytes, adapter_id: str, meta: dict[str, Any]) -> None:
        await self.memory.put(key, blob, adapter_id, meta)
        await self.share(key, blob, adapter_id, meta)

    async def share(self, key: str, blob: bytes, adapter_id: str, meta: dict[str, Any]) -> None:
        """Write to the tier other replicas read (Redis) only: memory already holds the blob (`remember`)."""
        await self._redis("put", lambda: self.redis.put(key, blob, adapter_id, meta))

    async def remember(self, key: str, blob: bytes, adapter_id: str, meta: dict[str, Any]) -> None:
        """Keep a blob fetched from Redis in memory too (no write back)."""
        await self.memory.put(key, blob, adapter_id, meta)

    def decoded(self, key: str, blob: bytes) -> Any | None:
        """The object decoded from this very blob, when memory kept one (only memory keeps decoded objects)."""
        return self.memory.decoded(key, blob)

    def keep_decoded(self, key: str, blob: bytes, value: Any, size: int) -> None:
        self.memory.keep_decoded(key, blob, value, size)

    async def meta(self, adapter_id: str) -> dict[str, Any] | None:
        found = await self.memory.meta(adapter_id)
        return found if found is not None else await self._redis("meta", lambda: self.redis.meta(adapter_id))

    async def delete(self, key: str, adapter_id: str) -> bool:
        here = await self.memory.delete(key, adapter_id)
        there = await self._redis("delete", lambda: self.redis.delete(key, adapter_id), False)
        return here or bool(there)

    async def flush(self) -> dict[str, int]:
        return {"memory": await self.memory.flush(),
                "redis": await self._redis("flush", self.redis.flush, 0) if self.redis else 0}

    async def acquire(self, key: str, owner: str, ttl_ms: int) -> bool:
        """True when we may generate: we hold the Redis lock, or there is no (reachable) Redis to coordinate."""
        return bool(await self._redis("lock", lambda: self.redis.acquire(key, owner, ttl_ms), True))

    async def release(self, key: str, owner: str) -> None:
        await self._redis("unlock", lambda: self.redis.release(key, owner))

    async def health(self) -> dict[str, Any]:
        if self.redis is not None:
            await self._redis("ping", self.redis.ping)
        return {"state": self.state, "memory_entries": len(self.memory), "memory_bytes": self.memory.used}

    async def close(self) -> None:
        if self.redis is not None:
            try:
                await asyncio.wait_for(self.redis.close(), 2)
            except Exception:  # closing a dead connection may fail; nothing is lost
                pass
