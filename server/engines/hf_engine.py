"""HFEngine: the transformers reference engine. Concurrent requests are decoded together in one batch, each
sample with its own generated adapter (hypernet.inject, batched einsum), with a KV cache and left padding.

Requests that arrive while a batch decodes wait for the next batch (static batching): simple and exact, and the
vLLM engine is the fast path.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from typing import AsyncIterator

import torch

from hypernet import Adapter, inject

from .base import AdapterRegistry, Delta, EngineError, RegisteredAdapters, SamplingSpec


@dataclass(eq=False)
class _Request:
    prompt_ids: list[int]
    spec: SamplingSpec
    adapter_id: str | None
    queue: asyncio.Queue
    loop: asyncio.AbstractEventLoop
    cancelled: threading.Event = field(default_factory=threading.Event)


class HFEngine(RegisteredAdapters):
    name = "hf"

    def __init__(self, model_path: str, max_cpu_loras: int = 64, max_batch: int = 32, window_ms: float = 5.0,
                 device: str = "cpu") -> None:
        self.model_path, self.device = model_path, device
        self.max_batch, self.window_s = max_batch, window_ms / 1000
        self.adapters: dict[str, Adapter] = {}  # what the decode loop reads; the registry decides what is in it
        self.registry = AdapterRegistry(max_cpu_loras, self)
        self.model = None
        self.failed: str | None = None
        self._queue: asyncio.Queue[_Request] | None = None
        self._worker: asyncio.Task | None = None

    async def start(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        def load():
            model = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=torch.float32).to(self.device).eval()
            return model, AutoTokenizer.from_pretrained(self.model_path)

        self.model, self.tokenizer = await asyncio.to_thread(load)
        eos = self.model.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos]) | {self.tokenizer.eos_token_id} - {None}
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else min(self.eos_ids)
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._serve())

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    # ---- adapters: the registry decides; these two are all it asks of this engine ---------------------------
    async def load_adapter(self, adapter_id: str, adapter: Adapter) -> None:
        self.adapters[adapter_id] = adapter

    async def unload_adapter(self, adapter_id: str) -> None:
        self.adapters.pop(adapter_id, None)

    async def health(self) -> dict:
        return {"engine": self.name, "ok": self.model is not None and self.failed is None, "error": self.failed,
                "queue": self._queue.qsize() if self._queue else 0, "adapters_loaded": len(self.registry)}

    async def generate(self, prompt_ids: list[int], spec: SamplingSpec, adapter_id: str | None = None
                       ) -> AsyncIterator[Delta]:
        if self._queue is None:
            raise EngineError("engine not started")
        request = _Request(list(prompt_ids), spec, adapter_id, asyncio.Queue(), asyncio.get_running_loop())
        # Held in use until the stream ends: the decode thread reads the adapter for the whole batch.
        with self.registry.hold(adapter_id) if adapter_id is not None else contextlib.nullcontext():
            try:
                await self._queue.put(request)
                while True:
                    item = await request.queue.get()
                    if isinstance(item, BaseException):
                        raise EngineError(f"generation failed: {item}") from item
                    yield item
                    if item.finish_reason is not None:
                        return
            finally:
                request.cancelled.set()

    async def _serve(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            await asyncio.sleep(self.window_s)  # let concurrent requests join this batch
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await asyncio.to_thread(self._decode, batch)
                self.failed = None  # health reports the last batch: one failure is not a dead engine
            except Exception as exc:  # report to every waiter; the engine stays up for the next batch
                self.failed = None if isinstance(exc, ValueError) else repr(exc)
                for r in batch:
                    r.loop.call_soon_threadsafe(r.queue.put_nowait, exc)

    # ---- the decode loop (worker thread) ------------------------------------------------------------------
    def _decode(self, batch: list[_Request]) -> None:
        n, model = len(batch), self.model
        width = max(len(r.prompt_ids) for r in batch)
        ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        for i, r in enumerate(batch):  # left padding keeps every sample's last token in the last column
            ids[i, width - len(r.prompt_ids):] = torch.tensor(r.prompt_ids)
            mask[i, width - len(r.prompt_ids):] = 1
        lora, index = self._batch_lora(batch)
        generators = [torch.Generator().manual_seed(r.spec.seed if r.spec.seed is not None
                                                    else int(torch.randint(0, 2**31, ()))) for r in batch]
        out_ids: list[list[int]] = [[] for _ in batch]
        texts = [""] * n
        done = [r.cancelled.is_set() for r in batch]
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        past = None
        step_ids, step_pos = ids, positions
        with torch.inference_mode(), (inject(model, lora, index=index) if lora is not None
                                      else contextlib.nullcontext()):
            for _ in range(max(r.spec.max_tokens for r in batch)):
                out = model(input_ids=step_ids, attention_mask=mask, position_ids=step_pos, past_key_values=past,
                            use_cache=True)
                past = out.past_key_values
                logits = out.logits[:, -1, :].float()
                next_ids = [self._pick(logits[i], batch[i].spec, generators[i]) if not done[i] else self.pad_id
                            for i in range(n)]
                for i, r in enumerate(batch):
                    if done[i]:
                        continue
                    if r.cancelled.is_set():
                        done[i] = True
                        continue
                    finish = None
                    if next_ids[i] in self.eos_ids and not r.spec.ignore_eos:
                        finish, new_text = "stop", ""
                    else:
                        out_ids[i].append(next_ids[i])
                        full = self.tokenizer.decode(out_ids[i], skip_special_tokens=True)
                        cut = min((full.find(s) for s in r.spec.stop if s and s in full), default=-1)
                        if cut >= 0:
                            full, finish = full[:cut], "stop"
                        elif len(out_ids[i]) >= r.spec.max_tokens:
                            finish = "length"
                        if full.endswith("\ufffd") and finish is None:
                            continue  # half of a multi-byte character: wait for the rest
                        new_text, texts[i] = full[len(texts[i]):], full
                    delta = Delta(new_text, finish, len(r.prompt_ids), len(out_ids[i])) if finish else Delta(new_text)
                    if finish:
                        done[i] = True
                    if new_text or finish:
                        r.loop.call_soon_threadsafe(r.queue.put_nowait, delta)
                if all(done):
                    return
                step_ids = torch.tensor(next_ids)[:, None]
                mask = torch.cat([mask, torch.ones((n, 1), dtype=torch.long)], dim=1)
                step_pos = step_pos[:, -1:] + 1

    def _batch_lora(self, batch: list[_Request]):
        used = list(dict.fromkeys(r.adapter_id for r in batch if r.adapter_id is not None))
        if not used:
            return None, None
        adapters = [self.adapters[a] for a in used]
        zero = Adapter(adapters[0].targets, tuple(torch.zeros_like(a) for a in adapters[0].a),
                       tuple(torch.zeros_like(b) for b in adapters[0].b), adapters[0].rank, adapters[0].alpha,
                       adapters[0].use_rslora, adapters[0].base_model)  # slot for requests on the base model
        lora = Adapter.stack(adapters + [zero])
        index = torch.tensor([used.index(r.adapter_id) if r.adapter_id is not None else len(used) for r in batch])
        return lora, index

    @staticmethod
    def _pick(logits: torch.Tensor, spec: SamplingSpec, generator: torch.Generator) -> int:
        if spec.temperature <= 0:
            return int(logits.argmax())
        # In float64 (a float32 temperature of 1e-300 is 0) and shifted first: the top logit becomes exactly 0, so
        # a tiny temperature sends the rest to -inf (probability 0) instead of inf - inf = NaN.
        logits = logits.double()
        probs = torch.softmax((logits - logits.max()) / spec.temperature, dim=-1)
        if spec.top_p < 1.0:
            sorted_probs, order = probs.sort(descending=True)
            keep = sorted_probs.cumsum(-1) - sorted_probs < spec.top_p
            keep[0] = True  # the nucleus always holds the top token, however small top_p (rounding in cumsum)
            probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
        return int(torch.multinomial(probs, 1, generator=generator))
