"""Credentials never reach the logs: uvicorn's access log writes the full request target, so a key sent by mistake
as `?api_key=...` would be stored verbatim. The filter rewrites such query values to `REDACTED` (the request itself
is still rejected by auth: keys are read from headers only)."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode

SECRET_PARAMS = frozenset({"api_key", "apikey", "key", "token", "access_token", "auth", "authorization",
                           "password", "secret"})
ACCESS_LOGGER = "uvicorn.access"


def redact_url(target: str) -> str:
    """"/v1/models?api_key=sk-1&x=2" -> "/v1/models?api_key=REDACTED&x=2"; anything without a secret is unchanged."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(name.lower() in SECRET_PARAMS for name, _ in pairs):
        return target
    return path + "?" + urlencode([(n, "REDACTED" if n.lower() in SECRET_PARAMS else v) for n, v in pairs])


class CredentialRedactor(logging.Filter):
    """Redacts secret query values in uvicorn access records (args: client, method, target, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_url(args[2]), *args[3:])
        return True


def install_access_log_redaction() -> None:
    """Idempotent: one redactor on uvicorn's access logger however many apps are created."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, CredentialRedactor) for f in logger.filters):
        logger.addFilter(CredentialRedactor())
