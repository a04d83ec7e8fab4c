"""What the benchmarks measure is what `t2l serve` runs: the service's settings come from the declared defaults of
server/settings.py (this machine's T2L_* variables and .env only say where files go), and the AdapterService and
HF engine are built from them the way server/app.py builds them. Nothing here repeats a number, so the bench cannot
drift from the served defaults; where a benchmark needs another value (more adapters in flight), it passes an
override by name, and the results file lists every value that differs from serving."""

from __future__ import annotations

from typing import Any

from server.cache import MemoryCache, RedisCache, TieredCache
from server.engines.hf_engine import HFEngine
from server.service import AdapterService
from server.settings import Settings

# The settings the AdapterService, its cache and the engines are built from (server/app.py: build_runtime,
# make_engine), recorded in the results.
SERVICE_FIELDS = ("batch_window_ms", "max_batch", "max_description_chars", "lock_ttl_ms", "cache_max_bytes",
                  "cache_ttl_s", "cache_max_blob_bytes")
ENGINE_FIELDS = ("max_loras", "max_cpu_loras", "max_batch", "batch_window_ms", "max_model_len", "device")
# Settings that only say where files go: taken from the environment, as `t2l serve` does.
PLACEMENT = ("home", "adapters_dir")


def served_defaults() -> dict[str, Any]:
    """Every Settings field at its declared default."""
    return {name: field.get_default(call_default_factory=True) for name, field in Settings.model_fields.items()}


def served_settings(**overrides: Any):
    """Settings as served by default, then `overrides`; validated like any Settings. Init arguments outrank the
    environment in pydantic-settings, and every field is passed, so T2L_* variables and .env change nothing but
    where files go (PLACEMENT: T2L_HOME, which make exports, and T2L_ADAPTERS_DIR)."""
    unknown = sorted(set(overrides) - set(Settings.model_fields))
    if unknown:
        raise ValueError(f"not settings of the service: {unknown}")
    here = Settings()
    placement = {name: getattr(here, name) for name in PLACEMENT}
    return Settings(_env_file=None, **{**served_defaults(), **placement, **overrides})


def service_cache(settings=None, redis=None):
    """The service's two-tier cache: the served memory budget, and `redis` (a RedisCache) or none."""
    settings = settings or served_settings()
    return TieredCache(MemoryCache(settings.cache_max_bytes), redis)


def redis_cache(url: str, settings=None):
    """A RedisCache with the served expiry and blob limit."""
    settings = settings or served_settings()
    return RedisCache(url, settings.cache_ttl_s, settings.cache_max_blob_bytes)


def adapter_service(checkpoint, encoder, cache, base_model: str, settings=None):
    """AdapterService with the arguments server/app.py passes it (batch window, batch size, description limit, lock
    expiry), without metrics."""
    settings = settings or served_settings()
    return AdapterService(checkpoint, encoder, cache, base_model, settings.batch_window_ms, settings.max_batch,
                          settings.max_description_chars, settings.lock_ttl_ms)


def hf_engine(model_path: str, settings=None):
    """HFEngine with the arguments server/app.py's make_engine passes it."""
    settings = settings or served_settings()
    return HFEngine(model_path, settings.max_cpu_loras, settings.max_batch, settings.batch_window_ms, settings.device)


def described(settings) -> dict[str, Any]:
    """For the results file: the service and engine settings a benchmark ran with, and those that differ from the
    served defaults (name -> [served, used])."""
    defaults = served_defaults()
    used = {name: getattr(settings, name) for name in dict.fromkeys(SERVICE_FIELDS + ENGINE_FIELDS)}
    return {"settings": used,
            "differs_from_served": {k: [defaults[k], v] for k, v in used.items() if v != defaults[k]}}
