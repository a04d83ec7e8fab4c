"""POST /v1/generate: the simple API, {task, prompt} -> text."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request

from ..auth import require
from ..completions import Job
from ..errors import guarded
from ..prompts import ChatPrompt, TextPrompt
from ..schemas import SSE_EVENT, GenerateRequest, GenerateResponse, Usage
from .sse import event_stream

router = APIRouter(tags=["generate"], dependencies=[Depends(require("use"))])


def _timings(record, started: float, generation_ms: float | None = None) -> dict:
    out = {k: round(v, 3) for k, v in record.timings.items()}
    out["cached"] = record.cached
    if generation_ms is not None:
        out["generation_ms"] = round(generation_ms, 3)
    out["total_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return out


@router.post("/v1/generate", response_model=GenerateResponse,
             responses={200: {"content": {"text/event-stream": {"schema": SSE_EVENT}},
                              "description": "JSON; with `stream`, server-sent events: {text, adapter_id, "
                                             "finish_reason}, the last with usage, timings and coverage, then "
                                             "[DONE]"},
                        **guarded(400, 413, 429, 504)})
async def generate(body: GenerateRequest, request: Request):
    started = time.perf_counter()
    svc = request.app.state.runtime.completions
    job = Job(ChatPrompt((("user", body.prompt),)) if body.chat else TextPrompt(body.prompt), task=body.task,
              sampling=body.sampling(body.max_tokens), description_in_prompt=body.description_in_prompt)
    if body.stream:
        run = await svc.stream(job)
        record = run.record

        async def events():
            gen_started = time.perf_counter()
            async for _, delta in run.deltas:
                event = {"text": delta.text, "adapter_id": record.id, "finish_reason": delta.finish_reason}
                if delta.finish_reason is not None:
                    event["usage"] = Usage(prompt_tokens=delta.prompt_tokens, completion_tokens=delta.completion_tokens,
                                           total_tokens=delta.prompt_tokens + delta.completion_tokens).model_dump()
                    event["timings"] = _timings(record, started, (time.perf_counter() - gen_started) * 1000)
                    event["coverage"] = record.coverage
                yield event
        return event_stream(events())
    done = await svc.complete(job)
    out, record = done.choices[0], done.record
    usage = Usage(prompt_tokens=out.prompt_tokens, completion_tokens=out.completion_tokens,
                  total_tokens=out.prompt_tokens + out.completion_tokens)
    return GenerateResponse(text=out.text, adapter_id=record.id, finish_reason=out.finish_reason, usage=usage,
                            timings=_timings(record, started, done.generation_ms), coverage=record.coverage)
