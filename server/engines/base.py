"""The Engine protocol and the small value objects engines exchange with the service."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import AsyncContextManager, AsyncIterator, Awaitable, Callable, Protocol

from hypernet import Adapter


@dataclass(frozen=True)
class SamplingSpec:
    """What one completion asks for. temperature 0 means greedy."""

    max_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    ignore_eos: bool = False  # keep going past EOS to exactly max_tokens (benchmarks: equal work per request)

    def for_choice(self, index: int) -> "SamplingSpec":
        """The spec of choice `index` of an n-choice request: seeds seed, seed+1, ... keep every choice
        reproducible and different; unseeded choices differ anyway."""
        return self if self.seed is None or index == 0 else replace(self, seed=self.seed + index)


@dataclass(frozen=True)
class Delta:
    """A piece of generated text; the last one of a stream carries finish_reason and the token counts."""

    text: str
    finish_reason: str | None = None  # "stop" | "length" | "abort"
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Engine(Protocol):
    name: str

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def ensure_loaded(self, adapter_id: str, adapter: Adapter) -> None: ...
    async def unload(self, adapter_id: str) -> bool: ...
    def loaded(self) -> list[str]: ...
    def pin(self, adapter_id: str, adapter: Adapter) -> AsyncContextManager[None]:
        """Load the adapter if needed and keep it loaded until the block ends: loading and pinning happen with no
        await between them, so an unload can never fall in the gap. The service pins once per request."""
        ...
    def generate(self, prompt_ids: list[int], spec: SamplingSpec, adapter_id: str | None = None,
                 adapter: Adapter | None = None) -> AsyncIterator[Delta]:
        """Stream a completion. An adapter id alone must be loaded (pinned by the caller); with the adapter too,
        the engine loads and pins it itself for this stream (callers without a pin: benchmarks)."""
        ...
    async def health(self) -> dict: ...


class EngineError(RuntimeError):
    """The engine failed (not the request): /ready turns 503 and the request gets a 503."""


class AdapterSlots:
    """Which adapters an engine holds, in LRU order, and how many requests use each right now.

    Engines ask `victims()` for what to unload once over capacity: least recently used first, and never an
    adapter with a request in flight.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._order: OrderedDict[str, int] = OrderedDict()  # adapter id -> requests in flight

    def __contains__(self, adapter_id: str) -> bool:
        return adapter_id in self._order

    def __len__(self) -> int:
        return len(self._order)

    def ids(self) -> list[str]:
        return list(self._order)

    def add(self, adapter_id: str) -> None:
        self._order.setdefault(adapter_id, 0)
        self._order.move_to_end(adapter_id)

    def acquire(self, adapter_id: str) -> None:
        self._order[adapter_id] = self._order.get(adapter_id, 0) + 1
        self._order.move_to_end(adapter_id)

    def release(self, adapter_id: str) -> None:
        if adapter_id in self._order:
            self._order[adapter_id] = max(0, self._order[adapter_id] - 1)

    def in_use(self, adapter_id: str) -> bool:
        return self._order.get(adapter_id, 0) > 0

    def victims(self, extra: int = 0) -> list[str]:
        """Idle adapters to unload, oldest first, so that `extra` more fit within capacity."""
        excess = len(self._order) + extra - self.capacity
        return [a for a, users in self._order.items() if users == 0][: max(0, excess)]

    def remove(self, adapter_id: str) -> None:
        self._order.pop(adapter_id, None)

    @contextlib.asynccontextmanager
    async def pinned(self, adapter_id: str, load: Callable[[], Awaitable[None]]):
        """`load()` (an engine's ensure_loaded), then hold the adapter until the block ends. Nothing awaits between
        the load's return and the acquire, so no unload can take the adapter in between."""
        await load()
        self.acquire(adapter_id)
        try:
            yield
        finally:
            self.release(adapter_id)
