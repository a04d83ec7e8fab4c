"""/health (liveness), /ready (engine + cache; 503 until ready, when the engine fails or while draining), /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ..errors import error_responses
from ..schemas import Health, Readiness

router = APIRouter(tags=["health"])
PROMETHEUS = {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
              "description": "Prometheus text exposition format"}


@router.get("/health", response_model=None, responses={
    200: {"model": Health}, 503: {"model": Health, "description": "startup failed for good"}})
async def health(request: Request) -> JSONResponse:
    """Liveness: fails only when startup failed for good (a restart is the fix), never while starting."""
    error = request.app.state.startup_error
    if error:
        return JSONResponse({"status": "failed", "error": error}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/ready", response_model=None, responses={
    200: {"model": Readiness}, 503: {"model": Readiness, "description": "starting, startup failed, the engine "
                                                                        "failed, or draining before a shutdown"}})
async def ready(request: Request) -> JSONResponse:
    rt = getattr(request.app.state, "runtime", None)
    if getattr(request.app.state, "draining", False):
        # out of the balancer's rotation; requests that still arrive are served until the shutdown (server/serve.py)
        return JSONResponse({"status": "draining", "ready": False, "error": None}, status_code=503)
    if rt is None or not rt.ready:
        error = request.app.state.startup_error
        return JSONResponse({"status": "failed" if error else "starting", "ready": False, "error": error},
                            status_code=503)
    engine = await rt.engine.health()
    cache = await rt.cache.health()
    rt.metrics.cache_state.set(1 if cache["state"] == "redis" else 0)
    ok = bool(engine.get("ok"))
    status = "ok" if ok and cache["state"] != "degraded" else ("degraded" if ok else "engine_failed")
    return JSONResponse({"status": status, "ready": ok, "engine": engine, "cache": cache,
                         "model": rt.model_name, "checkpoint": rt.checkpoint_name},
                        status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response, responses={
    200: PROMETHEUS, **error_responses(401, 403, when=("metrics_admin", "auth")),
    **error_responses(429, when=("metrics_admin", "rate_limit"))})
async def metrics(request: Request) -> Response:
    if request.app.state.settings.metrics_require_admin:
        request.app.state.auth.check(request, "admin")
    metrics = request.app.state.metrics  # the runtime's too; served while starting, like /health and /ready
    rt = getattr(request.app.state, "runtime", None)
    if rt is not None:
        metrics.adapters_loaded.set(len(rt.engine.loaded()))
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
