"""CompletionService: one request in, one pass through the layers.

    route --Job--> CompletionService.complete / .stream
        describe(task)                  normalise + hash the description, once
        prompt_ids(tokenizer, ...)      the prompt, with the description when asked for
        limits -> SamplingSpec          every 400 before any expensive work
        AdapterService.get_or_create    cache tiers (AdapterCache) or the hypernetwork
        admission slot, engine.pin      one slot and one load+pin per request
        engine.generate x n choices     seeds seed, seed+1, ... (SamplingSpec.for_choice)

Failures are `server.failures` values; `server.errors` maps them to HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, AsyncIterator

from hypernet import DescriptionError
from ground.prompt import Placement, chat_ids as _chat_ids, raw_ids as _text_ids, with_description

from .engines.base import Delta, Engine, EngineError, SamplingSpec
from .failures import BadRequest, Busy, NotFound, TimedOut, Unavailable
from .prompts import ChatPrompt, Prompt, TextPrompt, TokenPrompt, param_of, prompt_ids
from .service import AdapterRecord, AdapterService, Description

__all__ = ["Admission", "Completion", "CompletionService", "Job", "Limits", "Streamed", "with_description"]


class Admission:
    """Bounded generation queue: `slots` requests generate at once, `max_waiting` may wait (for at most
    `timeout_s`); beyond that a request is refused at once (429) instead of waiting without bound."""

    def __init__(self, slots: int, max_waiting: int, timeout_s: float) -> None:
        self.slots, self.max_waiting, self.timeout_s = asyncio.Semaphore(slots), max_waiting, timeout_s
        self.waiting = 0

    @contextlib.asynccontextmanager
    async def slot(self):
        if not self.slots.locked():
            await self.slots.acquire()  # a free slot: taken at once, no suspension, nobody counted as waiting
        elif self.waiting >= self.max_waiting:
            raise Busy(f"server busy: {self.waiting} completions already waiting", code="server_busy",
                       retry_after=1)
        else:
            self.waiting += 1
            try:
                await asyncio.wait_for(self.slots.acquire(), self.timeout_s)
            except TimeoutError as exc:
                raise Unavailable(f"no generation slot within {self.timeout_s:.0f} s", code="queue_timeout",
                                  retry_after=5) from exc
            finally:
                self.waiting -= 1
        try:
            yield
        finally:
            self.slots.release()


@dataclass(frozen=True)
class Limits:
    """Request limits that depend on the model and the settings."""

    max_model_len: int
    max_tokens_limit: int
    max_n: int
    default_max_tokens: int = 256
    request_timeout_s: float = 300.0


@dataclass(frozen=True)
class Job:
    """One completion request, whichever route it came by. `model` None or the base model's name: the base model
    (unless `task` is given); `t2l-...`: that adapter. `description_in_prompt` None: the server default."""

    prompt: Prompt
    task: str | None = None
    model: str | None = None
    sampling: SamplingSpec = SamplingSpec(max_tokens=None)  # max_tokens None: the server's default
    n: int = 1
    description_in_prompt: bool | None = None


@dataclass(frozen=True)
class Completion:
    """A finished request: one Delta per choice (its text, finish_reason and token counts)."""

    model: str  # the adapter id, or the base model's name
    record: AdapterRecord | None
    prompt_tokens: int
    choices: tuple[Delta, ...]
    generation_ms: float


@dataclass(frozen=True)
class Streamed:
    """A request whose adapter is ready and whose limits are checked; `deltas` runs it when iterated, yielding
    (choice index, Delta) with the choices one after another. Failures during it are raised from the iterator."""

    model: str
    record: AdapterRecord | None
    prompt_tokens: int
    n: int
    deltas: AsyncIterator[tuple[int, Delta]] = field(repr=False)


@dataclass(frozen=True)
class _Prepared:
    ids: list[int]
    spec: SamplingSpec
    record: AdapterRecord | None
    model: str


class CompletionService:
    def __init__(self, adapters: AdapterService, engine: Engine, tokenizer: Any, model_name: str, limits: Limits,
                 admission: Admission, metrics: Any = None, description_in_prompt: bool = False,
                 description_placement: Placement = "user") -> None:
        self.adapters, self.engine, self.tokenizer, self.model_name = adapters, engine, tokenizer, model_name
        self.limits, self.admission, self.metrics = limits, admission, metrics
        self.description_in_prompt = description_in_prompt  # the default of the request option
        self.description_placement = description_placement  # where it goes: the user turn or the system message

    # ---- the request path ---------------------------------------------------------------------------------
    async def complete(self, job: Job) -> Completion:
        ready = await self._prepare(job)
        started = time.perf_counter()
        async with self._running(ready.record):
            choices = [asyncio.ensure_future(self._collect(ready, ready.spec.for_choice(i))) for i in range(job.n)]
            try:
                outs = await asyncio.gather(*choices)
            except BaseException:  # one choice failed (or the client left): the others stop too, inside the slot
                for choice in choices:
                    choice.cancel()
                await asyncio.gather(*choices, return_exceptions=True)
                raise
        return Completion(ready.model, ready.record, len(ready.ids), tuple(outs),
                          (time.perf_counter() - started) * 1000)

    async def stream(self, job: Job) -> Streamed:
        ready = await self._prepare(job)

        async def deltas() -> AsyncIterator[tuple[int, Delta]]:
            async with self._running(ready.record):
                for i in range(job.n):
                    async for delta in self._generate(ready.ids, ready.spec.for_choice(i), ready.record):
                        yield i, delta

        return Streamed(ready.model, ready.record, len(ready.ids), job.n, deltas())

    async def _prepare(self, job: Job) -> _Prepared:
        """Everything before generation, cheapest checks first: description, prompt, limits, then the adapter."""
        description = self._describe(job.task)
        ids = self._ids(job.prompt, description, job.description_in_prompt)
        spec = self._spec(ids, job)
        record = await self._adapter(description, job.model)
        return _Prepared(ids, spec, record, record.id if record is not None else self.model_name)

    def _ids(self, prompt: Prompt, description: Description | None, in_prompt: bool | None) -> list[int]:
        """The token ids a request is served with (the description in the prompt when asked for)."""
        return prompt_ids(self.tokenizer, prompt, self._prompt_description(prompt, description, in_prompt),
                          self.description_placement)

    def _describe(self, task: str | None) -> Description | None:
        if task is None:
            return None
        try:
            return Description(*self.adapters.key_for(task))
        except DescriptionError as exc:
            raise BadRequest(str(exc), param="task") from exc

    def _prompt_description(self, prompt: Prompt, description: Description | None, in_prompt: bool | None
                            ) -> str | None:
        """The description to put in the prompt, or None. `in_prompt` None takes the server default, which applies
        only to requests with a task and a text prompt; an explicit true without either is a 400."""
        if description is None or isinstance(prompt, TokenPrompt):
            if in_prompt:
                why = "the request has no `task`" if description is None else "the prompt is token ids"
                raise BadRequest(f"description_in_prompt is true but {why} to put the description in",
                                 param="description_in_prompt")
            return None
        return description.text if (self.description_in_prompt if in_prompt is None else in_prompt) else None

    def _spec(self, ids: list[int], job: Job) -> SamplingSpec:
        """Check the limits that depend on the model and settings; 400 with the offending parameter."""
        lim, where = self.limits, param_of(job.prompt)
        if not ids:  # nothing to condition on: engines cannot start a sequence from no token at all
            raise BadRequest(f"{where} is empty: it must hold at least one token", param=where)
        room = lim.max_model_len - len(ids)
        if room < 1:
            raise BadRequest(f"prompt is {len(ids)} tokens; this model's context is {lim.max_model_len}",
                             param=where, code="context_length_exceeded")
        max_tokens = job.sampling.max_tokens
        if max_tokens is None:
            max_tokens = min(room, lim.max_tokens_limit, lim.default_max_tokens)
        if max_tokens > lim.max_tokens_limit:
            raise BadRequest(f"max_tokens is {max_tokens}; the limit is {lim.max_tokens_limit}", param="max_tokens")
        if max_tokens > room:
            raise BadRequest(f"prompt ({len(ids)} tokens) + max_tokens ({max_tokens}) exceeds the context of "
                             f"{lim.max_model_len}", param="max_tokens", code="context_length_exceeded")
        if job.n > lim.max_n:
            raise BadRequest(f"n is {job.n}; the limit is {lim.max_n}", param="n")
        return replace(job.sampling, max_tokens=max_tokens)

    async def _adapter(self, description: Description | None, model: str | None) -> AdapterRecord | None:
        """The adapter a request runs with, or None for the base model."""
        if description is not None:
            return await self.adapters.get_or_create(description)
        if model is None or model == self.model_name:
            return None
        if model.startswith("t2l-"):
            record = await self.adapters.by_id(model)
            if record is None:
                raise NotFound(f"adapter {model!r} not found (create it with POST /v1/adapters or pass `task`)",
                               param="model", code="model_not_found")
            return record
        raise NotFound(f"model {model!r} not found; use {self.model_name!r} or an adapter id t2l-...",
                       param="model", code="model_not_found")

    # ---- generation ---------------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _running(self, record: AdapterRecord | None):
        """A generation slot, then the adapter loaded and pinned in the engine, both once for the whole request.
        Pinning inside the slot bounds pinned adapters by the slots, so the engine can always make room."""
        async with self.admission.slot(), contextlib.AsyncExitStack() as stack:
            if record is not None:
                started = time.perf_counter()
                try:
                    await stack.enter_async_context(self.engine.pin(record.id, record.adapter))
                except EngineError as exc:
                    raise Unavailable(f"engine could not load the adapter: {exc}", code="engine_error",
                                      retry_after=5) from exc
                record.timings["load_ms"] = (time.perf_counter() - started) * 1000
            yield

    async def _generate(self, ids: list[int], spec: SamplingSpec, record: AdapterRecord | None
                        ) -> AsyncIterator[Delta]:
        """One choice, inside `_running` (the adapter is pinned: only its id goes to the engine)."""
        started = time.perf_counter()
        if self.metrics is not None:
            self.metrics.engine_queue.inc()
        try:
            async with asyncio.timeout(self.limits.request_timeout_s):
                async for delta in self.engine.generate(ids, spec, record.id if record is not None else None):
                    if delta.finish_reason is not None and self.metrics is not None:
                        self.metrics.completion_tokens.inc(delta.completion_tokens)
                    yield delta
        except TimeoutError as exc:
            raise TimedOut(f"generation took longer than {self.limits.request_timeout_s:.0f} s",
                           code="timeout") from exc
        except EngineError as exc:
            raise Unavailable(f"engine error: {exc}", code="engine_error", retry_after=5) from exc
        finally:
            if self.metrics is not None:
                self.metrics.engine_queue.dec()
                self.metrics.generation_latency.labels(self.engine.name).observe(time.perf_counter() - started)

    async def _collect(self, ready: _Prepared, spec: SamplingSpec) -> Delta:
        """One whole choice as one Delta (text, finish_reason, token counts)."""
        parts: list[str] = []
        last = Delta("", None, len(ready.ids), 0)
        async for delta in self._generate(ready.ids, spec, ready.record):
            parts.append(delta.text)
            last = delta
        return Delta("".join(parts), last.finish_reason, last.prompt_tokens or len(ready.ids), last.completion_tokens)

    # ---- adapters -----------------------------------------------------------------------------------------
    async def create_adapter(self, task: str) -> AdapterRecord:
        """POST /v1/adapters: get or make the adapter and load it, so the first completion with it starts at once."""
        description = self._describe(task)
        record = await self.adapters.get_or_create(description)
        started = time.perf_counter()
        try:
            await self.engine.ensure_loaded(record.id, record.adapter)
        except EngineError as exc:
            raise Unavailable(f"engine could not load the adapter: {exc}", code="engine_error",
                              retry_after=5) from exc
        record.timings["load_ms"] = (time.perf_counter() - started) * 1000
        await self.adapters.shared(record.key)  # the id it answers with resolves on every replica (and vLLM's)
        return record

    async def adapter_for(self, task: str | None, adapter_id: str | None) -> AdapterRecord:
        """The adapter a task or an id names (a refine's start): got or generated for a task, 404 for an unknown id."""
        if task is not None:
            return await self.adapters.get_or_create(self._describe(task))
        return await self.find_adapter(adapter_id or "")

    async def find_adapter(self, adapter_id: str) -> AdapterRecord:
        record = await self.adapters.by_id(adapter_id)
        if record is None:
            raise NotFound(f"adapter {adapter_id!r} not found", param="adapter_id")
        return record

    async def delete_adapter(self, adapter_id: str) -> bool:
        """Forget the adapter (every cache tier) and unload it; True when the engine had it loaded."""
        in_cache = await self.adapters.delete(adapter_id)
        unloaded = await self.engine.unload(adapter_id)
        if not (in_cache or unloaded):
            raise NotFound(f"adapter {adapter_id!r} not found", param="adapter_id")
        return unloaded

    def loaded_adapters(self) -> list[str]:
        return self.engine.loaded()

    # ---- warm-up ------------------------------------------------------------------------------------------
    async def warm_up(self, task: str | None = None, text: str = "warm") -> None:
        """One request through the whole path before the service says ready (first calls are slow: the chat
        template compiles, the encoder and the hypernetwork run their first pass, Redis connects, the engine loads
        its first adapter), then a base-model one. Its adapter is forgotten and unloaded afterwards, and metrics are
        detached meanwhile, so it leaves no trace in the cache, /v1/models or /metrics. The description is unique
        per start: it always misses the (shared) cache, so the hypernetwork really runs, and the delete afterwards
        can never evict an adapter a user asked for."""
        task = task or f"Repeat the input word. (warm-up {uuid.uuid4().hex})"
        metrics = self.metrics, self.adapters.metrics
        self.metrics = self.adapters.metrics = None
        try:
            done = await self.complete(Job(ChatPrompt((("user", text),)), task=task, sampling=SamplingSpec(1)))
            await self.complete(Job(TextPrompt(text), sampling=SamplingSpec(1)))
            await self.adapters.delete(done.model)
            await self.engine.unload(done.model)
        finally:
            self.metrics, self.adapters.metrics = metrics

    # ---- prompt previews (the token ids a request is served with; no adapter work) -------------------------
    def prompt_ids_for(self, prompt: Prompt, task: str | None, in_prompt: bool | None) -> list[int]:
        return self._ids(prompt, self._describe(task), in_prompt)

    def chat_prompt_ids(self, messages: list[dict[str, str]], task: str | None, in_prompt: bool | None
                        ) -> list[int]:
        return self.prompt_ids_for(ChatPrompt.of(messages), task, in_prompt)

    def completion_prompt_ids(self, prompt: str, task: str | None, in_prompt: bool | None) -> list[int]:
        return self.prompt_ids_for(TextPrompt(prompt), task, in_prompt)

    def generate_ids(self, task: str, prompt: str, chat: bool, in_prompt: bool | None) -> list[int]:
        """/v1/generate: one user turn (or raw text), the description first when asked for."""
        return self.prompt_ids_for(ChatPrompt((("user", prompt),)) if chat else TextPrompt(prompt), task, in_prompt)

    def chat_ids(self, messages: list[dict[str, str]]) -> list[int]:
        return _chat_ids(self.tokenizer, messages)

    def text_ids(self, text: str) -> list[int]:
        return _text_ids(self.tokenizer, text)
