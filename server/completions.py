"""CompletionService: (task or model) + prompt -> adapter -> engine. Owns the tokenizer and the request limits."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator

from hypernet import DescriptionError

from .engines.base import Delta, Engine, EngineError, SamplingSpec
from .errors import APIError
from .service import AdapterRecord, AdapterService


class Admission:
    """Bounded generation queue: `slots` completions run at once, `max_waiting` may wait (for at most
    `timeout_s`); beyond that a request is refused at once (429) instead of waiting without bound."""

    def __init__(self, slots: int, max_waiting: int, timeout_s: float) -> None:
        self.slots, self.max_waiting, self.timeout_s = asyncio.Semaphore(slots), max_waiting, timeout_s
        self.waiting = 0

    @contextlib.asynccontextmanager
    async def slot(self):
        if not self.slots.locked():
            await self.slots.acquire()  # a free slot: taken at once, no suspension, nobody counted as waiting
        elif self.waiting >= self.max_waiting:
            raise APIError(429, f"server busy: {self.waiting} completions already waiting", "rate_limit_error",
                           code="server_busy", headers={"Retry-After": "1"})
        else:
            self.waiting += 1
            try:
                await asyncio.wait_for(self.slots.acquire(), self.timeout_s)
            except TimeoutError as exc:
                raise APIError(503, f"no generation slot within {self.timeout_s:.0f} s", "server_error",
                               code="queue_timeout", headers={"Retry-After": "5"}) from exc
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


def with_description(description: str | None, text: str) -> str:
    """The user turn as training and evaluation write it when the description is in the prompt too."""
    return text if description is None else f"{description}\n\n{text}"


class CompletionService:
    def __init__(self, adapters: AdapterService, engine: Engine, tokenizer: Any, model_name: str, limits: Limits,
                 admission: Admission, metrics: Any = None, description_in_prompt: bool = False) -> None:
        self.adapters, self.engine, self.tokenizer, self.model_name = adapters, engine, tokenizer, model_name
        self.limits, self.admission, self.metrics = limits, admission, metrics
        self.description_in_prompt = description_in_prompt  # the default of the request option

    # ---- adapters -----------------------------------------------------------------------------------------
    def check_task(self, task: str | None) -> None:
        """Refuse a bad description before any other work (400, param `task`)."""
        if task is not None:
            try:
                self.adapters.key_for(task)
            except DescriptionError as exc:
                raise APIError(400, str(exc), param="task") from exc

    async def adapter_for(self, task: str | None, model: str | None = None) -> AdapterRecord | None:
        """The adapter a request runs with (loaded in the engine), or None for the base model."""
        if task is not None:
            self.check_task(task)
            record = await self.adapters.get_or_create(task)
        elif model is None or model == self.model_name:
            return None
        elif model.startswith("t2l-"):
            record = await self.adapters.by_id(model)
            if record is None:
                raise APIError(404, f"adapter {model!r} not found (create it with POST /v1/adapters or pass "
                                    f"`task`)", "not_found_error", "model", "model_not_found")
        else:
            raise APIError(404, f"model {model!r} not found; use {self.model_name!r} or an adapter id t2l-...",
                           "not_found_error", "model", "model_not_found")
        started = time.perf_counter()
        try:
            await self.engine.ensure_loaded(record.id, record.adapter)
        except EngineError as exc:
            raise APIError(503, f"engine could not load the adapter: {exc}", "server_error") from exc
        record.timings["load_ms"] = (time.perf_counter() - started) * 1000
        return record

    # ---- prompts ------------------------------------------------------------------------------------------
    def prompt_description(self, task: str | None, in_prompt: bool | None) -> str | None:
        """The description to put in the prompt (normalised: the text the adapter is generated from), or None.
        `in_prompt` None takes the server default, which applies only to requests with a task; an explicit true
        without a task is a 400."""
        if task is None:
            if in_prompt:
                raise APIError(400, "description_in_prompt is true but the request has no `task` to put in the "
                                    "prompt", param="description_in_prompt")
            return None
        if not (self.description_in_prompt if in_prompt is None else in_prompt):
            return None
        try:
            return self.adapters.key_for(task)[0]
        except DescriptionError as exc:
            raise APIError(400, str(exc), param="task") from exc

    def generate_ids(self, task: str, prompt: str, chat: bool, in_prompt: bool | None) -> list[int]:
        """/v1/generate: one user turn (or raw text), the description first when asked for."""
        text = with_description(self.prompt_description(task, in_prompt), prompt)
        return self.chat_ids([{"role": "user", "content": text}]) if chat else self.text_ids(text)

    def chat_prompt_ids(self, messages: list[dict[str, str]], task: str | None, in_prompt: bool | None
                        ) -> list[int]:
        """Chat completions: the description goes before the content of the last user message."""
        description = self.prompt_description(task, in_prompt)
        if description is not None:
            last = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=None)
            if last is None:
                raise APIError(400, "description_in_prompt: the messages have no user message to put the "
                                    "description in (send \"description_in_prompt\": false to leave it out)",
                               param="messages")
            messages = [*messages[:last], {**messages[last], "content": with_description(description,
                                                                                     messages[last]["content"])},
                        *messages[last + 1:]]
        return self.chat_ids(messages)

    def completion_prompt_ids(self, prompt: str, task: str | None, in_prompt: bool | None) -> list[int]:
        """Text completions: the description goes before the prompt string."""
        return self.text_ids(with_description(self.prompt_description(task, in_prompt), prompt))

    def chat_ids(self, messages: list[dict[str, str]]) -> list[int]:
        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)

    def text_ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def spec(self, prompt_ids: list[int], max_tokens: int | None, temperature: float, top_p: float,
             stop: str | list[str] | None, seed: int | None, n: int = 1) -> SamplingSpec:
        """Check the limits that depend on the model and settings; 400 with the offending parameter."""
        lim = self.limits
        room = lim.max_model_len - len(prompt_ids)
        if room < 1:
            raise APIError(400, f"prompt is {len(prompt_ids)} tokens; this model's context is {lim.max_model_len}",
                           param="messages", code="context_length_exceeded")
        if max_tokens is None:
            max_tokens = min(room, lim.max_tokens_limit, lim.default_max_tokens)
        if max_tokens > lim.max_tokens_limit:
            raise APIError(400, f"max_tokens is {max_tokens}; the limit is {lim.max_tokens_limit}",
                           param="max_tokens")
        if max_tokens > room:
            raise APIError(400, f"prompt ({len(prompt_ids)} tokens) + max_tokens ({max_tokens}) exceeds the "
                                f"context of {lim.max_model_len}", param="max_tokens",
                           code="context_length_exceeded")
        if n > lim.max_n:
            raise APIError(400, f"n is {n}; the limit is {lim.max_n}", param="n")
        stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
        return SamplingSpec(max_tokens, temperature, top_p, stops, seed)

    # ---- generation ---------------------------------------------------------------------------------------
    async def stream(self, prompt_ids: list[int], spec: SamplingSpec, record: AdapterRecord | None
                     ) -> AsyncIterator[Delta]:
        lora = (record.id, record.adapter) if record is not None else (None, None)
        async with self.admission.slot():
            started = time.perf_counter()
            if self.metrics is not None:
                self.metrics.engine_queue.inc()
            try:
                async with asyncio.timeout(self.limits.request_timeout_s):
                    async for delta in self.engine.generate(prompt_ids, spec, *lora):
                        if delta.finish_reason is not None and self.metrics is not None:
                            self.metrics.completion_tokens.inc(delta.completion_tokens)
                        yield delta
            except TimeoutError as exc:
                raise APIError(504, f"generation took longer than {self.limits.request_timeout_s:.0f} s",
                               "server_error", code="timeout") from exc
            except EngineError as exc:
                raise APIError(503, f"engine error: {exc}", "server_error") from exc
            finally:
                if self.metrics is not None:
                    self.metrics.engine_queue.dec()
                    self.metrics.generation_latency.labels(self.engine.name).observe(time.perf_counter() - started)

    async def complete(self, prompt_ids: list[int], spec: SamplingSpec, record: AdapterRecord | None) -> Delta:
        """The whole completion as one Delta (text, finish_reason, token counts)."""
        parts: list[str] = []
        last = Delta("", None, len(prompt_ids), 0)
        async for delta in self.stream(prompt_ids, spec, record):
            parts.append(delta.text)
            last = delta
        return Delta("".join(parts), last.finish_reason, last.prompt_tokens or len(prompt_ids), last.completion_tokens)

    async def complete_n(self, prompt_ids: list[int], spec: SamplingSpec, record: AdapterRecord | None, n: int
                         ) -> list[Delta]:
        """n choices run concurrently (the engine batches them); seeds seed, seed+1, ... keep them reproducible."""
        specs = [spec if spec.seed is None else SamplingSpec(spec.max_tokens, spec.temperature, spec.top_p,
                                                            spec.stop, spec.seed + i) for i in range(n)]
        return list(await asyncio.gather(*(self.complete(prompt_ids, s, record) for s in specs)))
