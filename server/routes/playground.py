"""The playground: one static page (server/static/, vanilla JS, nothing loaded from elsewhere) at /playground,
and / sends browsers there. The page itself holds no secrets and is served without a key; every API call it makes
carries the key typed into it when auth is on, so it follows the same auth rules as any client."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse

from ..errors import APIError

router = APIRouter(tags=["playground"])
STATIC = Path(__file__).resolve().parents[1] / "static"
ASSETS = {"playground.js": "text/javascript", "playground.css": "text/css"}


@router.get("/", include_in_schema=False)
async def root() -> RedirectResponse:
    return RedirectResponse("/playground", status_code=307)


@router.get("/playground", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "playground.html", media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})


@router.get("/playground/config", include_in_schema=False)
async def config(request: Request) -> JSONResponse:
    """What the page needs before its first call: whether to ask for a key, the base model name, defaults."""
    settings, rt = request.app.state.settings, getattr(request.app.state, "runtime", None)
    return JSONResponse({"auth": request.app.state.auth.enabled, "model": rt.model_name if rt else None,
                         "checkpoint": rt.checkpoint_name if rt else None,
                         "description_index": bool(rt and rt.adapters.checkpoint.description_index is not None),
                         "description_in_prompt": settings.description_in_prompt,
                         "description_placement": settings.description_placement,
                         "refine": bool(rt and rt.refine.queue is not None),
                         "max_tokens_limit": settings.max_tokens_limit})


@router.get("/playground/{name}", include_in_schema=False)
async def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise APIError(404, f"no playground file {name!r}", "not_found_error")
    return FileResponse(STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})
