"""API keys (bearer), scopes, and per-key token-bucket rate limits.

Keys are random `t2l_...` strings shown once by `t2l keys create`; the service stores only their sha256 (keys
have 190 bits of entropy, so a fast hash is enough), as entries `name:scope[+scope]:sha256:<hex>` in T2L_API_KEYS
(comma separated) or one per line in T2L_API_KEYS_FILE. Scopes: `use` (adapters, generate, chat, models) and
`admin` (delete adapters, flush the cache, metrics when T2L_METRICS_REQUIRE_ADMIN); admin implies use.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request

from .errors import APIError

SCOPES = ("use", "admin")


@dataclass(frozen=True)
class ApiKey:
    name: str
    scopes: frozenset[str]
    digest: str  # sha256 hex of the key

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(name: str, scopes: tuple[str, ...]) -> tuple[str, str]:
    """(the key to hand out once, the entry to configure)."""
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise ValueError(f"scopes must be among {SCOPES}, got {list(scopes)}")
    if not name or ":" in name or "," in name:
        raise ValueError("key name must be non-empty, without ':' or ','")
    key = "t2l_" + secrets.token_urlsafe(24)
    return key, f"{name}:{'+'.join(scopes)}:sha256:{hash_key(key)}"


def parse_entries(text: str) -> list[ApiKey]:
    keys = []
    for raw in text.replace(",", "\n").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 4 or parts[2] != "sha256" or len(parts[3]) != 64:
            raise ValueError(f"bad API key entry {line[:40]!r}: expected name:scope[+scope]:sha256:<64 hex>")
        scopes = frozenset(parts[1].split("+"))
        if not scopes <= set(SCOPES):
            raise ValueError(f"bad scopes in API key entry for {parts[0]!r}: {sorted(scopes)}")
        keys.append(ApiKey(parts[0], scopes, parts[3].lower()))
    return keys


class TokenBucket:
    """`rate` tokens per second up to `burst`; take() says how long to wait when empty."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self) -> float:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class Authenticator:
    def __init__(self, enabled: bool, keys: list[ApiKey], rate: float, burst: int) -> None:
        self.enabled, self.keys, self.rate, self.burst = enabled, keys, rate, burst
        self._buckets: dict[str, TokenBucket] = {}

    @classmethod
    def from_settings(cls, settings) -> "Authenticator":
        text = settings.api_keys or ""
        if settings.api_keys_file:
            text += "\n" + Path(settings.api_keys_file).read_text()
        keys = parse_entries(text)
        enabled = settings.auth == "on"
        if enabled and not keys:
            raise ValueError("auth is on but no API keys are configured: set T2L_API_KEYS or T2L_API_KEYS_FILE "
                             "(create one with `t2l keys create`), or T2L_AUTH=off on a trusted localhost")
        return cls(enabled, keys, settings.rate_limit_rps, settings.rate_limit_burst)

    def identify(self, request: Request) -> ApiKey | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        digest = hash_key(token.strip())
        for key in self.keys:
            if hmac.compare_digest(key.digest, digest):
                return key
        return None

    def caller(self, request: Request) -> str:
        """Who is asking, as limits count it: the key's name when auth is on, else the client's address."""
        key = self.identify(request) if self.enabled else None
        if key is not None:
            return f"key:{key.name}"
        return f"ip:{request.client.host if request.client else 'unknown'}"

    def check(self, request: Request, scope: str) -> str:
        """The caller's identity (key name, or client address when auth is off), or an APIError."""
        if self.enabled:
            key = self.identify(request)
            if key is None:
                raise APIError(401, "missing or invalid API key (send Authorization: Bearer <key>)",
                               "authentication_error", code="invalid_api_key")
            if not key.allows(scope):
                raise APIError(403, f"API key {key.name!r} lacks the {scope!r} scope", "permission_error",
                               code="insufficient_scope")
        who = self.caller(request)
        if self.rate > 0:
            wait = self._buckets.setdefault(who, TokenBucket(self.rate, self.burst)).take()
            if wait > 0:
                raise APIError(429, f"rate limit exceeded for {who}; retry in {wait:.2f} s", "rate_limit_error",
                               code="rate_limit_exceeded", headers={"Retry-After": str(max(1, math.ceil(wait)))})
        return who


def require(scope: str):
    """FastAPI dependency: the request must carry a key with `scope` (when auth is on) and be within its rate."""

    def dependency(request: Request) -> str:
        return request.app.state.auth.check(request, scope)

    return dependency
