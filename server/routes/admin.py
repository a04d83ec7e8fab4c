"""Admin-only operations (scope `admin`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from ..auth import require
from ..errors import guarded
from ..schemas import CacheFlushed

router = APIRouter(tags=["admin"], dependencies=[Depends(require("admin"))])


@router.delete("/v1/admin/cache", response_model=None, responses={200: {"model": CacheFlushed}, **guarded()})
async def flush_cache(request: Request) -> dict:
    """Drop every cached adapter (memory and Redis). Loaded adapters stay in the engine until evicted."""
    deleted = await request.app.state.runtime.cache.flush()
    return {"object": "cache.flushed", "deleted": deleted}
