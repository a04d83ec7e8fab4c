"""The Engine protocol and the small value objects engines exchange with the service."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import AsyncContextManager, AsyncIterator, Iterator, Protocol

from hypernet import Adapter


@dataclass(frozen=True)
class SamplingSpec:
    """How one completion samples: the one declaration of these fields. A request's schema converts into it once
    (server/schemas.py `sampling`); the service fills in `max_tokens` when the request left it out and checks the
    limits (server/completions.py); engines take it as it is. temperature 0 means greedy."""

    max_tokens: int | None = 128  # None only before the service resolves the server's default; never in an engine
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
    def generate(self, prompt_ids: list[int], spec: SamplingSpec, adapter_id: str | None = None
                 ) -> AsyncIterator[Delta]:
        """Stream a completion, on the base model or on a loaded adapter (the caller pins it first; the engine
        holds it in use for the stream and fails with EngineError if it is not loaded)."""
        ...
    async def health(self) -> dict: ...


class EngineError(RuntimeError):
    """The engine failed (not the request): /ready turns 503 and the request gets a 503."""


class AdapterStore(Protocol):
    """An engine's own half of adapter bookkeeping: load or unload one adapter, nothing else. The registry decides
    when, never calls either twice at once for one id, never unloads what it did not load, and never loads what is
    still loaded."""

    async def load_adapter(self, adapter_id: str, adapter: Adapter) -> None: ...
    async def unload_adapter(self, adapter_id: str) -> None: ...


class AdapterRegistry:
    """Which adapters an engine holds, in LRU order, and how many requests use each right now; the one place that
    decides loads and unloads (the engine supplies `store`).

    Evict before insert: a new adapter first unloads the least recently used idle ones, as many as it takes to fit,
    so it is never its own victim and a pinned adapter is never a victim. When every loaded adapter is pinned the
    registry goes over capacity rather than fail the request (the service pins only inside its generation slots, so
    the excess is bounded by those); the next load trims back. Loads in flight count toward capacity; unloads in
    flight do not (they are on their way out).

    An id is in at most one state: loaded (`_users`) or in transition (`_busy`, a load or an unload in flight, with
    an event set when it ends). Whoever wants an id in transition waits for the event and looks again, so one id is
    never loaded twice nor reloaded while its unload is still running. Every state change happens with no await
    between the check and the change.
    """

    def __init__(self, capacity: int, store: AdapterStore) -> None:
        self.capacity, self.store = capacity, store
        self._users: OrderedDict[str, int] = OrderedDict()  # loaded id -> requests using it; oldest first
        self._busy: dict[str, asyncio.Event] = {}  # id -> set when its load or unload in flight ends
        self._loads = 0  # loads in flight

    def __contains__(self, adapter_id: str) -> bool:
        return adapter_id in self._users

    def __len__(self) -> int:
        return len(self._users)

    def loaded(self) -> list[str]:
        """Loaded adapter ids, least recently used first."""
        return list(self._users)

    def in_use(self, adapter_id: str) -> bool:
        return self._users.get(adapter_id, 0) > 0

    async def ensure_loaded(self, adapter_id: str, adapter: Adapter) -> None:
        """Load the adapter if needed (else mark it most recently used)."""
        await self._acquire(adapter_id, adapter, users=0)

    @contextlib.asynccontextmanager
    async def pin(self, adapter_id: str, adapter: Adapter) -> AsyncIterator[None]:
        """Load the adapter if needed and keep it loaded until the block ends. The load and the pin happen with no
        await between them, so no unload can fall in the gap."""
        await self._acquire(adapter_id, adapter, users=1)
        try:
            yield
        finally:
            self._release(adapter_id)

    @contextlib.contextmanager
    def hold(self, adapter_id: str) -> Iterator[None]:
        """Use an adapter that is already loaded (a caller pinned it) until the block ends: a stream's own guard."""
        if adapter_id not in self._users:
            raise EngineError(f"adapter {adapter_id} is not loaded")
        self._take(adapter_id, 1)
        try:
            yield
        finally:
            self._release(adapter_id)

    async def unload(self, adapter_id: str) -> bool:
        """Unload an idle adapter; False when it is not loaded or a request uses it."""
        while (pending := self._busy.get(adapter_id)) is not None:  # a load or unload in flight: let it end first
            await pending.wait()
        if self._users.get(adapter_id, 1) > 0:
            return False
        del self._users[adapter_id]  # claimed before awaiting: from here no request can pin it
        self._busy[adapter_id] = done = asyncio.Event()
        try:
            await self.store.unload_adapter(adapter_id)
        finally:
            del self._busy[adapter_id]
            done.set()
        return True

    # ---- internals ------------------------------------------------------------------------------------------
    def _take(self, adapter_id: str, users: int) -> None:
        self._users[adapter_id] += users
        self._users.move_to_end(adapter_id)

    def _release(self, adapter_id: str) -> None:
        if adapter_id in self._users:
            self._users[adapter_id] = max(0, self._users[adapter_id] - 1)

    async def _acquire(self, adapter_id: str, adapter: Adapter, users: int) -> None:
        while adapter_id not in self._users:
            pending = self._busy.get(adapter_id)
            if pending is None:
                await self._add(adapter_id, adapter, users)
                return
            await pending.wait()  # another request is loading it (or it is being unloaded): look again after
        self._take(adapter_id, users)

    async def _add(self, adapter_id: str, adapter: Adapter, users: int) -> None:
        """Make room, then load, then insert with `users` already counted (the pin: nothing awaits in between)."""
        excess = len(self._users) + self._loads + 1 - self.capacity
        victims = [a for a, n in self._users.items() if n == 0][:max(0, excess)]
        events = {a: asyncio.Event() for a in (*victims, adapter_id)}
        for victim in victims:  # claimed at once, so concurrent loads pick other victims
            del self._users[victim]
        self._busy.update(events)
        self._loads += 1
        unloaded = 0
        try:
            for victim in victims:
                await self.store.unload_adapter(victim)
                unloaded += 1
            await self.store.load_adapter(adapter_id, adapter)
            self._users[adapter_id] = users
        except BaseException:
            for victim in reversed(victims[unloaded + 1:]):  # never asked to unload: still held, the oldest again
                self._users[victim] = 0
                self._users.move_to_end(victim, last=False)
            raise
        finally:
            self._loads -= 1
            for a, event in events.items():
                del self._busy[a]
                event.set()


class RegisteredAdapters:
    """The Engine's adapter methods, written once: each hands over to the engine's `registry` (an AdapterRegistry
    whose store is the engine itself, supplying load_adapter / unload_adapter). Engines mix this in."""

    registry: AdapterRegistry

    async def ensure_loaded(self, adapter_id: str, adapter: Adapter) -> None:
        await self.registry.ensure_loaded(adapter_id, adapter)

    def pin(self, adapter_id: str, adapter: Adapter) -> AsyncContextManager[None]:
        return self.registry.pin(adapter_id, adapter)

    async def unload(self, adapter_id: str) -> bool:
        return await self.registry.unload(adapter_id)

    def loaded(self) -> list[str]:
        return self.registry.loaded()
