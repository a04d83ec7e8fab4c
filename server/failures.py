"""What can go wrong with a request, as values the service raises; no HTTP here.

The service, the prompt builder and the admission queue raise these; `server.errors` is the one place that turns
them into status codes and OpenAI's error envelope. Each failure names the request field at fault (`param`) and a
machine-readable `code` when a client may want to branch on it; `retry_after` (seconds) says when trying again
makes sense, for failures that pass.
"""

from __future__ import annotations


class Failure(Exception):
    """A request that cannot be served, and why."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message, self.param, self.code, self.retry_after = message, param, code, retry_after


class BadRequest(Failure):
    """The request itself is wrong (a bad description, a prompt over the context, n over the limit, ...)."""


class NotFound(Failure):
    """The model or adapter the request names does not exist."""


class Busy(Failure):
    """Too many requests wait already; refused at once instead of queueing without bound."""


class Unavailable(Failure):
    """The server cannot serve now (no generation slot in time, the engine failed); retrying later may work."""


class TimedOut(Failure):
    """The generation ran past the request timeout."""
