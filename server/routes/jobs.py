"""POST /v1/adapters/refine (an adapter fine-tuned on examples, as a job) and /v1/jobs/{id}: status, an SSE
progress stream, cancel. HTTP only: server/refine.py owns the jobs."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ..auth import require
from ..errors import guarded
from ..failures import BadRequest, NotFound
from ..refine import TERMINAL, RefineSettings
from ..schemas import SSE_EVENT, RefineJob, RefineRequest
from .sse import event_stream

router = APIRouter(tags=["refine"], dependencies=[Depends(require("use"))])
POLL_S = 0.5  # how often the progress stream reads the job (a step takes longer on CPU)
JOB = "#/paths/~1v1~1jobs~1{job_id}"
LINKS = {name: {"operationRef": f"{JOB}{tail}", "parameters": {"job_id": "$response.body#/id"}}
         for name, tail in (("GetJob", "/get"), ("JobEvents", "~1events/get"), ("CancelJob", "/delete"))}


def _job(job: dict, status: int = 200) -> JSONResponse:
    return JSONResponse(RefineJob.model_validate(job).model_dump(mode="json"), status_code=status)


async def _known(request: Request, job_id: str) -> dict:
    job = await request.app.state.runtime.refine.status(job_id)
    if job is None:
        raise NotFound(f"job {job_id!r} not found", param="job_id")
    return job


@router.post("/v1/adapters/refine", response_model=None, responses={
    202: {"model": RefineJob, "description": "queued (or already queued or running: the same job)", "links": LINKS},
    200: {"model": RefineJob, "description": "the refined adapter exists already (cached: true)"},
    **guarded(400, 404, 413, 429)})
async def refine(body: RefineRequest, request: Request) -> JSONResponse:
    rt = request.app.state.runtime
    limit = rt.settings
    if len(body.examples) > limit.refine_max_examples:
        raise BadRequest(f"{len(body.examples)} examples; the limit is {limit.refine_max_examples}", param="examples")
    if body.steps > limit.refine_max_steps:
        raise BadRequest(f"steps is {body.steps}; the limit is {limit.refine_max_steps}", param="steps")
    rt.refine.available()  # 503 before generating anything when there is no queue
    examples = [(tuple({"role": "system" if m.role == "developer" else m.role, "content": m.text()}
                       for m in e.messages) if e.messages is not None else ({"role": "user", "content": e.input},),
                 e.output) for e in body.examples]
    rt.refine.check(examples)
    start = await rt.completions.adapter_for(body.task, body.adapter_id)
    settings = RefineSettings(steps=body.steps, lr=body.lr, holdout_fraction=body.holdout_fraction, seed=body.seed)
    job = await rt.refine.submit(start, examples, settings, request.app.state.auth.caller(request),
                                 limit.refine_max_jobs_per_caller)
    return _job(job, 200 if job.get("cached") else 202)


@router.get("/v1/jobs/{job_id}", response_model=None, responses={200: {"model": RefineJob}, **guarded(404)})
async def get_job(job_id: str, request: Request) -> JSONResponse:
    return _job(await _known(request, job_id))


@router.get("/v1/jobs/{job_id}/events", response_class=JSONResponse, responses={
    200: {"content": {"text/event-stream": {"schema": SSE_EVENT}},
          "description": "the job (RefineJob) each time it changes, until it ends (or for T2L_REQUEST_TIMEOUT_S: "
                         "reconnect to follow on), then [DONE]"}, **guarded(404)})
async def job_events(job_id: str, request: Request):
    first = await _known(request, job_id)
    until = time.monotonic() + request.app.state.runtime.settings.request_timeout_s

    async def events():
        job, last = first, None
        while True:
            if job != last:
                yield RefineJob.model_validate(job).model_dump(mode="json")
                last = job
            if job["status"] in TERMINAL or time.monotonic() > until or await request.is_disconnected():
                return
            await asyncio.sleep(POLL_S)
            job = await request.app.state.runtime.refine.status(job_id) or job

    return event_stream(events())


@router.delete("/v1/jobs/{job_id}", response_model=None, responses={200: {"model": RefineJob}, **guarded(404)})
async def cancel_job(job_id: str, request: Request) -> JSONResponse:
    job = await request.app.state.runtime.refine.cancel(job_id)
    if job is None:
        raise NotFound(f"job {job_id!r} not found", param="job_id")
    return _job(job)
