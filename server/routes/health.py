"""/health (liveness), /ready (engine + cache; 503 until ready or when the engine fails), /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """Liveness: fails only when startup failed for good (a restart is the fix), never while starting."""
    error = request.app.state.startup_error
    if error:
        return JSONResponse({"status": "failed", "error": error}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    rt = getattr(request.app.state, "runtime", None)
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


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    if request.app.state.settings.metrics_require_admin:
        request.app.state.auth.check(request, "admin")
    rt = request.app.state.runtime
    rt.metrics.adapters_loaded.set(len(rt.engine.loaded()))
    return Response(rt.metrics.render(), media_type=CONTENT_TYPE_LATEST)
