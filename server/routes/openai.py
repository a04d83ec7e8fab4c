"""OpenAI-compatible /v1/chat/completions, /v1/completions and /v1/models, plus the optional `task` field.

Bodies keep OpenAI's schema; a request that runs an adapter gets t2l's facts as response headers:
    X-T2L-Adapter-Id       t2l-<16 hex>
    X-T2L-Coverage         the description's coverage score (3 decimals), or "unavailable" (no description index)
    X-T2L-In-Distribution  true | false (absent when unavailable)
    X-T2L-Nearest-Tasks    up to 3 "task=similarity" pairs, nearest first, comma separated; task names
                           percent-encoded (RFC 3986 unreserved characters and ":+" kept)
    X-T2L-Expected-Accuracy  the checkpoint's measured exact match (%, 1 decimal) of the nearest evaluated training
                           tasks (hypernet.description_index); absent when the checkpoint carries no accuracy.json
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ..auth import require
from ..completions import Job
from ..errors import guarded
from ..prompts import ChatPrompt, Prompt, TextPrompt, TokenPrompt
from ..schemas import (SSE_EVENT, ChatCompletionRequest, ChatCompletionResponse, CompletionRequest,
                       CompletionResponse, ModelList)
from .sse import event_stream

router = APIRouter(tags=["openai"], dependencies=[Depends(require("use"))])
# The X-T2L-* headers of the module docstring, for the OpenAPI schema (present when an adapter ran).
T2L_HEADERS = {name: {"description": text, "schema": {"type": "string"}} for name, text in (
    ("X-T2L-Adapter-Id", "the adapter the request ran with"),
    ("X-T2L-Coverage", "the description's coverage score (3 decimals), or \"unavailable\""),
    ("X-T2L-In-Distribution", "true or false (absent when the coverage is unavailable)"),
    ("X-T2L-Nearest-Tasks", "up to 3 task=similarity pairs, nearest first, task names percent-encoded"),
    ("X-T2L-Expected-Accuracy", "measured exact match (%) of the nearest evaluated training tasks (absent when "
                                "the checkpoint has no accuracy.json)"))}


def _responses(body: type) -> dict:
    stream = "server-sent events: OpenAI's chunks (with stream_options.include_usage, a last one with usage), then " \
             "[DONE]; a failure midway arrives as an error envelope event"
    return {200: {"model": body, "content": {"text/event-stream": {"schema": SSE_EVENT}}, "headers": T2L_HEADERS,
                  "description": f"JSON; with `stream`, {stream}"}, **guarded(400, 404, 413, 429, 504)}


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
    if coverage.get("expected_accuracy"):
        headers["X-T2L-Expected-Accuracy"] = f"{coverage['expected_accuracy']['exact']:.1f}"
    return headers


def _job(body, prompt: Prompt, max_tokens: int | None) -> Job:
    return Job(prompt, task=body.task, model=body.model, sampling=body.sampling(max_tokens), n=body.n,
               description_in_prompt=body.description_in_prompt)


async def _run(request: Request, body, job: Job, kind: str):
    """Shared by chat and text completions: one service call, then OpenAI's object shapes (`kind` picks them)."""
    svc = request.app.state.runtime.completions
    rid, created = f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-{uuid.uuid4().hex}", int(time.time())

    def choice(index: int, text: str, finish: str | None, delta: bool) -> dict:
        if kind == "chat":
            key = "delta" if delta else "message"
            content = {"content": text} if delta else {"role": "assistant", "content": text}
            return {"index": index, key: content, "finish_reason": finish, "logprobs": None}
        return {"index": index, "text": text, "finish_reason": finish, "logprobs": None}

    if not body.stream:
        done = await svc.complete(job)
        return JSONResponse({"id": rid, "object": "chat.completion" if kind == "chat" else "text_completion",
                             "created": created, "model": done.model,
                             "choices": [choice(i, o.text, o.finish_reason, False) for i, o in enumerate(done.choices)],
                             "usage": _usage(done.prompt_tokens, sum(o.completion_tokens for o in done.choices))},
                            headers=coverage_headers(done.record))

    run = await svc.stream(job)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    head = {"id": rid, "object": "chat.completion.chunk" if kind == "chat" else "text_completion",
            "created": created, "model": run.model}

    async def events():
        completion_tokens, current = 0, None
        async for i, d in run.deltas:  # choices stream one after another, each with its own index
            if kind == "chat" and i != current:
                current = i
                yield {**head, "choices": [{"index": i, "delta": {"role": "assistant", "content": ""},
                                            "finish_reason": None, "logprobs": None}]}
            completion_tokens += d.completion_tokens
            yield {**head, "choices": [choice(i, d.text, d.finish_reason, True)]}
        if include_usage:
            yield {**head, "choices": [], "usage": _usage(run.prompt_tokens, completion_tokens)}

    return event_stream(events(), coverage_headers(run.record))


@router.post("/v1/chat/completions", response_model=None, responses=_responses(ChatCompletionResponse))
async def chat_completions(body: ChatCompletionRequest, request: Request):
    prompt = ChatPrompt(tuple(("system" if m.role == "developer" else m.role, m.text()) for m in body.messages))
    return await _run(request, body, _job(body, prompt, body.max_completion_tokens or body.max_tokens), "chat")


def _text_prompt(prompt: str | list) -> Prompt:
    """The schema allows one prompt: a string or token ids, alone or as a list's only item."""
    one = prompt[0] if isinstance(prompt, list) and not isinstance(prompt[0], int) else prompt
    return TextPrompt(one) if isinstance(one, str) else TokenPrompt(tuple(one))


@router.post("/v1/completions", response_model=None, responses=_responses(CompletionResponse))
async def completions(body: CompletionRequest, request: Request):
    return await _run(request, body, _job(body, _text_prompt(body.prompt), body.max_tokens), "text")


@router.get("/v1/models", response_model=None, responses={200: {"model": ModelList}, **guarded()})
async def models(request: Request) -> dict:
    rt = request.app.state.runtime
    created = int(rt.started_at)
    data = [{"id": rt.model_name, "object": "model", "created": created, "owned_by": "t2l", "root": rt.model_name}]
    data += [{"id": a, "object": "model", "created": created, "owned_by": "t2l", "root": rt.model_name,
              "parent": rt.model_name} for a in rt.completions.loaded_adapters()]
    return {"object": "list", "data": data}
