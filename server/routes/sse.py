"""Server-sent events framing shared by the streaming routes."""

from __future__ import annotations

import json
from typing import Any, AsyncIterator

from fastapi.responses import StreamingResponse

from ..errors import failure_http
from ..failures import Failure


def sse(payload: Any) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n"


def event_stream(events: AsyncIterator[dict], headers: dict[str, str] | None = None) -> StreamingResponse:
    """Frame dicts as `data:` events and end with `data: [DONE]`; an error mid-stream becomes an error event."""

    async def body():
        try:
            async for event in events:
                yield sse(event)
        except Failure as exc:  # the status line is gone already: the error travels as an event
            yield sse(failure_http(exc)[1])
        yield sse("[DONE]")

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **(headers or {})})
