"""OpenAI-compatible /v1/chat/completions, /v1/completions and /v1/models, plus the optional `task` field.

Bodies keep OpenAI's schema; a request that runs an adapter gets t2l's facts as response headers:
    X-T2L-Adapter-Id       t2l-<16 hex>
    X-T2L-Coverage         the description's coverage score (3 decimals), or "unavailable" (no description index)
    X-T2L-In-Distribution  true | false (absent when unavailable)
    X-T2L-Nearest-Tasks    up to 3 "task=similarity" pairs, nearest first, comma separated; task names
                           percent-encoded (RFC 3986 unreserved characters and ":+" kept)
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ..auth import require
from ..schemas import ChatCompletionRequest, CompletionRequest
from .sse import event_stream

router = APIRouter(tags=["openai"], dependencies=[Depends(require("use"))])


def _usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def coverage_headers(record) -> dict[str, str]:
    """The X-T2L-* headers for the adapter a request ran with (empty for the base model)."""
    if record is None:
        return {}
    headers = {"X-T2L-Adapter-Id": record.id}
    coverage = record.coverage
    if coverage is None:
        headers["X-T2L-Coverage"] = "unavailable"
        return headers
    headers["X-T2L-Coverage"] = f"{coverage['score']:.3f}"
    headers["X-T2L-In-Distribution"] = "true" if coverage["in_distribution"] else "false"
    headers["X-T2L-Nearest-Tasks"] = ",".join(f"{quote(n['task'], safe=':+')}={n['similarity']:.3f}"
                                              for n in coverage["nearest"])
    return headers


async def _run(request: Request, body, prompt_ids: list[int], max_tokens: int | None, kind: str):
    """Shared by chat and text completions; `kind` picks the OpenAI object shapes."""
    svc = request.app.state.runtime.completions
    svc.check_task(body.task)
    spec = svc.spec(prompt_ids, max_tokens, body.temperature, body.top_p, body.stop, body.seed, body.n)
    record = await svc.adapter_for(body.task, body.model)
    model = record.id if record is not None else svc.model_name
    rid, created = f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-{uuid.uuid4().hex}", int(time.time())
    obj = "chat.completion" if kind == "chat" else "text_completion"

    def choice(index: int, text: str, finish: str | None, delta: bool) -> dict:
        if kind == "chat":
            key = "delta" if delta else "message"
            content = {"content": text} if delta else {"role": "assistant", "content": text}
            return {"index": index, key: content, "finish_reason": finish, "logprobs": None}
        return {"index": index, "text": text, "finish_reason": finish, "logprobs": None}

    if not body.stream:
        outs = await svc.complete_n(prompt_ids, spec, record, body.n)
        return JSONResponse({"id": rid, "object": obj, "created": created, "model": model,
                             "choices": [choice(i, o.text, o.finish_reason, False) for i, o in enumerate(outs)],
                             "usage": _usage(len(prompt_ids), sum(o.completion_tokens for o in outs))},
                            headers=coverage_headers(record))

    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunk_obj = "chat.completion.chunk" if kind == "chat" else "text_completion"

    async def events():
        completion_tokens = 0
        for i in range(body.n):  # choices stream one after another, each with its own index
            choice_spec = spec if spec.seed is None else type(spec)(spec.max_tokens, spec.temperature, spec.top_p,
                                                                     spec.stop, spec.seed + i)
            if kind == "chat":
                yield {"id": rid, "object": chunk_obj, "created": created, "model": model,
                       "choices": [{"index": i, "delta": {"role": "assistant", "content": ""},
                                    "finish_reason": None, "logprobs": None}]}
            async for d in svc.stream(prompt_ids, choice_spec, record):
                completion_tokens += d.completion_tokens
                yield {"id": rid, "object": chunk_obj, "created": created, "model": model,
                       "choices": [choice(i, d.text, d.finish_reason, True)]}
        if include_usage:
            yield {"id": rid, "object": chunk_obj, "created": created, "model": model, "choices": [],
                   "usage": _usage(len(prompt_ids), completion_tokens)}

    return event_stream(events(), coverage_headers(record))


@router.post("/v1/chat/completions")
async def chat_completions(body: ChatCompletionRequest, request: Request):
    svc = request.app.state.runtime.completions
    ids = svc.chat_prompt_ids([{"role": "system" if m.role == "developer" else m.role, "content": m.text()}
                               for m in body.messages], body.task, body.description_in_prompt)
    return await _run(request, body, ids, body.max_completion_tokens or body.max_tokens, "chat")


@router.post("/v1/completions")
async def completions(body: CompletionRequest, request: Request):
    svc = request.app.state.runtime.completions
    prompt = body.prompt if isinstance(body.prompt, str) else body.prompt[0]
    ids = svc.completion_prompt_ids(prompt, body.task, body.description_in_prompt)
    return await _run(request, body, ids, body.max_tokens, "text")


@router.get("/v1/models")
async def models(request: Request) -> dict:
    rt = request.app.state.runtime
    created = int(rt.started_at)
    data = [{"id": rt.model_name, "object": "model", "created": created, "owned_by": "t2l", "root": rt.model_name}]
    data += [{"id": a, "object": "model", "created": created, "owned_by": "t2l", "root": rt.model_name,
              "parent": rt.model_name} for a in rt.engine.loaded()]
    return {"object": "list", "data": data}
