"""FakeEngine: the Engine protocol without a model, for fast route and service tests.

Its completion is a pure function of (adapter id, prompt ids, sampling), so a test can compute what a request
must answer (`FakeEngine.expected`) and thereby check that the service passed the right prompt, adapter and
per-choice seed. Its adapter bookkeeping is the real engines' (AdapterRegistry: LRU capacity, pins; the fake only
keeps what it is told to load), it records what it was asked (`loads`, `calls`), and it can be slowed down or broken
to drive the service's failure paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import AsyncIterator

from hypernet import Adapter
from server.engines.base import AdapterRegistry, Delta, EngineError, SamplingSpec


@dataclass(frozen=True)
class Call:
    prompt_ids: tuple[int, ...]
    spec: SamplingSpec
    adapter_id: str | None


class FakeEngine:
    name = "fake"

    def __init__(self, capacity: int = 64, delay_s: float = 0.0) -> None:
        self.adapters: dict[str, Adapter] = {}
        self.registry = AdapterRegistry(capacity, self)
        self.loads: Counter[str] = Counter()  # adapter id -> times it was really loaded (not just touched)
        self.calls: list[Call] = []
        self.delay_s = delay_s  # before the first token of every completion
        self.failure: str | None = None  # set: every generation and load fails with it, /ready says so
        self.started = False

    # ---- the completion, as a function -------------------------------------------------------------------
    @staticmethod
    def tokens(prompt_ids, spec: SamplingSpec, adapter_id: str | None) -> tuple[list[str], str]:
        """(token texts, finish reason). Greedy ignores the seed; sampling follows it. The natural length (where
        the fake 'EOS' falls) is 2-7 tokens; ignore_eos runs to max_tokens."""
        sampled = spec.seed if spec.temperature > 0 else "greedy"
        digest = hashlib.sha256(f"{adapter_id}|{list(prompt_ids)}|{sampled}".encode()).digest()
        natural = 2 + digest[0] % 6
        count = spec.max_tokens if spec.ignore_eos else min(natural, spec.max_tokens)
        words = [f" w{digest[1 + i % 31] * (i + 1) % 997}" for i in range(count)]
        text, finish = "", "length" if spec.ignore_eos or natural > spec.max_tokens else "stop"
        for i, word in enumerate(words):
            text += word
            cut = min((text.find(s) for s in spec.stop if s and s in text), default=-1)
            if cut >= 0:  # the stop string and what follows it are cut, as the real engines do
                before = "".join(words[:i])
                return (words[:i] + [text[len(before):cut]] if cut >= len(before) else [text[:cut]]), "stop"
        return words, finish

    @classmethod
    def expected(cls, prompt_ids, spec: SamplingSpec, adapter_id: str | None) -> str:
        return "".join(cls.tokens(prompt_ids, spec, adapter_id)[0])

    # ---- the Engine protocol -----------------------------------------------------------------------------
    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.started = False

    async def load_adapter(self, adapter_id: str, adapter: Adapter) -> None:  # the registry's half
        self.adapters[adapter_id] = adapter
        self.loads[adapter_id] += 1

    async def unload_adapter(self, adapter_id: str) -> None:
        del self.adapters[adapter_id]

    async def ensure_loaded(self, adapter_id: str, adapter: Adapter) -> None:
        if self.failure:
            raise EngineError(self.failure)
        await self.registry.ensure_loaded(adapter_id, adapter)

    @contextlib.asynccontextmanager
    async def pin(self, adapter_id: str, adapter: Adapter):
        if self.failure:
            raise EngineError(self.failure)
        async with self.registry.pin(adapter_id, adapter):
            yield

    async def unload(self, adapter_id: str) -> bool:
        return await self.registry.unload(adapter_id)

    def loaded(self) -> list[str]:
        return self.registry.loaded()

    async def health(self) -> dict:
        return {"engine": self.name, "ok": self.started and self.failure is None, "error": self.failure,
                "queue": 0, "adapters_loaded": len(self.registry)}

    async def generate(self, prompt_ids: list[int], spec: SamplingSpec, adapter_id: str | None = None
                       ) -> AsyncIterator[Delta]:
        with self.registry.hold(adapter_id) if adapter_id is not None else contextlib.nullcontext():
            self.calls.append(Call(tuple(prompt_ids), spec, adapter_id))
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if self.failure:
                raise EngineError(self.failure)
            words, finish = self.tokens(prompt_ids, spec, adapter_id)
            for i, word in enumerate(words):
                await asyncio.sleep(0)  # a real stream yields to the loop between tokens
                last = i == len(words) - 1
                yield Delta(word, finish, len(prompt_ids), len(words)) if last else Delta(word)
            if not words:
                yield Delta("", finish, len(prompt_ids), 0)
