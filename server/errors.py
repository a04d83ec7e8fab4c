"""Errors in OpenAI's envelope: {"error": {"message", "type", "param", "code"}}.

The one place where failures become HTTP: the service raises `server.failures` values, the handlers here (and
`failure_response` for errors in the middle of a stream) give each its status, type and headers.
"""

from __future__ import annotations

import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .engines.base import EngineError
from .failures import BadRequest, Busy, Failure, NotFound, TimedOut, Unavailable


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
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return JSONResponse(error_body(str(exc.detail), kind), status_code=exc.status_code, headers=exc.headers)
