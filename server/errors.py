"""Errors in OpenAI's envelope: {"error": {"message", "type", "param", "code"}}.

The one place where failures become HTTP: the service raises `server.failures` values, the handlers here (and
`failure_response` for errors in the middle of a stream) give each its status, type and headers, and
`error_responses` documents them for the OpenAPI schema (the routes list which statuses each operation can give).
"""

from __future__ import annotations

import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from .engines.base import EngineError
from .failures import BadRequest, Busy, Failure, NotFound, TimedOut, Unavailable
from .schemas import ErrorResponse


class APIError(Exception):
    """An HTTP error raised by the HTTP layer itself (auth, rate limits, static files)."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code
        self.headers = headers


# failure type -> (status, OpenAI error type); a subclass not listed maps as its nearest listed base
STATUS: dict[type[Failure], tuple[int, str]] = {
    BadRequest: (400, "invalid_request_error"),
    NotFound: (404, "not_found_error"),
    Busy: (429, "rate_limit_error"),
    Unavailable: (503, "server_error"),
    TimedOut: (504, "server_error"),
    Failure: (500, "server_error"),
}


# What each error status means in this service: the description of its response in the OpenAPI schema.
MEANING: dict[int, str] = {
    400: "Bad input (`param` names the field): a body that is not JSON or not as the schema says, or a limit the "
         "schema cannot state: a description over T2L_MAX_DESCRIPTION_CHARS once normalised, prompt + max_tokens "
         "over the model's context (code context_length_exceeded).",
    401: "No or an unknown API key (code invalid_api_key).",
    403: "The API key lacks the scope this operation needs (code insufficient_scope).",
    404: "No such adapter or model (code model_not_found for `model`).",
    413: "The body is over T2L_MAX_BODY_BYTES (code body_too_large).",
    429: "Refused at once: too many requests wait for a generation slot (code server_busy), the caller is over "
         "its rate limit (code rate_limit_exceeded), or has T2L_REFINE_MAX_JOBS_PER_CALLER refine jobs queued or "
         "running (code too_many_jobs).",
    503: "Not now: the service is starting or failed to start (type service_unavailable), no generation slot came "
         "free within T2L_QUEUE_TIMEOUT_S (code queue_timeout), the engine failed (code engine_error), or the "
         "refine queue is missing or not answering (code refine_unavailable).",
    504: "The generation ran past T2L_REQUEST_TIMEOUT_S (code timeout).",
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again", "required": True,
                               "schema": {"type": "integer", "minimum": 1}}}


def error_responses(*statuses: int, when: tuple[str, ...] = ()) -> dict[int | str, dict]:
    """`responses=` entries for an operation's error statuses, each with the error envelope. `when` names the
    settings under which they happen at all (server/routes/docs.py keeps them only then): "auth" (T2L_AUTH=on),
    "rate_limit" (T2L_RATE_LIMIT_RPS > 0), "metrics_admin" (T2L_METRICS_REQUIRE_ADMIN)."""
    out: dict[int | str, dict] = {}
    for status in statuses:
        out[status] = {"model": ErrorResponse, "description": MEANING[status]}
        if status in (429, 503):
            out[status]["headers"] = RETRY_AFTER
        if when:
            out[status]["x-t2l-when"] = list(when)
    return out


def guarded(*statuses: int) -> dict[int | str, dict]:
    """The error responses of a /v1 operation: its own `statuses` and what any /v1 request can get before its route
    runs: 401/403 from the auth dependency, 429 over the rate limit, 503 from the start-up gate (create_app)."""
    around = {**error_responses(401, 403, when=("auth",)), **error_responses(429, when=("rate_limit",)),
              **error_responses(503)}
    return dict(sorted({**around, **error_responses(*statuses)}.items()))


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at this path (a resource's GET and DELETE are separate routes). A path that a
    route names literally (POST /v1/adapters/refine) is that resource alone, not also an id of /v1/adapters/{id}."""
    routes = [r for r in request.app.router.routes if getattr(r, "methods", None)
              and r.matches(request.scope)[0] is not Match.NONE]
    literal = [r for r in routes if "{" not in r.path]
    return sorted({m for route in literal or routes for m in route.methods})


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def failure_http(exc: Failure) -> tuple[int, dict, dict[str, str] | None]:
    """(status, body, headers) of a failure."""
    status, kind = next(STATUS[t] for t in type(exc).__mro__ if t in STATUS)
    headers = None if exc.retry_after is None else {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    return status, error_body(exc.message, kind, exc.param, exc.code), headers


def failure_response(exc: Failure) -> JSONResponse:
    status, body, headers = failure_http(exc)
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Failure)
    async def _failure(_: Request, exc: Failure) -> JSONResponse:
        return failure_response(exc)

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(error_body(exc.message, exc.type, exc.param, exc.code), status_code=exc.status,
                            headers=exc.headers)

    @app.exception_handler(EngineError)
    async def _engine(_: Request, exc: EngineError) -> JSONResponse:
        # An engine fault the service did not turn into a Failure is still the engine's, never a bare 500.
        return failure_response(Unavailable(f"engine error: {exc}", code="engine_error", retry_after=5))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request", "loc": ()}
        loc = [str(p) for p in first.get("loc", ()) if p != "body"]
        if first.get("type") == "json_invalid":
            message, param = f"request body is not valid JSON: {first.get('ctx', {}).get('error', '')}".strip(), None
        else:
            message = f"{'.'.join(loc) or 'body'}: {first.get('msg')}"
            param = ".".join(loc) or None
        return JSONResponse(error_body(message, "invalid_request_error", param), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        headers = exc.headers
        if exc.status_code == 405:  # Starlette names only the methods of the first route that matched the path
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return JSONResponse(error_body(str(exc.detail), kind), status_code=exc.status_code, headers=headers)
