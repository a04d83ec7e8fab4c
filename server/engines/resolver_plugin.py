"""vLLM LoRAResolver plugin: lets plain `vllm serve` replicas serve t2l adapters from the shared Redis.

A t2l service (or any replica of it) generates adapters and stores them in Redis. A `vllm serve` process with this
plugin, T2L_REDIS_URL set and VLLM_ALLOW_RUNTIME_LORA_UPDATING=1, answers a request for `model: t2l-<16 hex>`
by fetching that adapter (checksum verified), writing it as a PEFT folder and returning a LoRARequest; vLLM then
loads it like any other adapter. Registered through the `vllm.general_plugins` entry point, which vLLM calls in
every one of its processes: registration is cheap and does nothing unless T2L_REDIS_URL is set.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from ..cache import RedisCache

log = logging.getLogger("t2l.resolver")
_ID = re.compile(r"^t2l-[0-9a-f]{16}$")


def _resolver_class():
    from vllm.lora.request import LoRARequest
    from vllm.lora.resolver import LoRAResolver

    # lazy: vLLM imports every general plugin in each of its processes at start; the heavy part waits for a resolve
    from hypernet import Adapter, AdapterFormatError

    class T2LResolver(LoRAResolver):
        """Resolves `t2l-<16 hex>` names to adapters stored by a t2l service in Redis."""

        def __init__(self, redis_url: str, directory: Path) -> None:
            self.cache = RedisCache(redis_url, timeout_s=2.0)
            self.directory = directory

        async def resolve_lora(self, base_model_name: str, lora_name: str):
            if not _ID.match(lora_name):
                return None
            try:
                meta = await self.cache.meta(lora_name)
                blob = await self.cache.get(meta["key"]) if meta else None
            except Exception as exc:  # Redis down: vLLM answers "model not found", nothing crashes
                log.warning("t2l resolver: redis unavailable for %s: %s", lora_name, exc)
                return None
            if blob is None:
                return None
            try:
                adapter = Adapter.from_bytes(blob)
            except AdapterFormatError as exc:
                log.warning("t2l resolver: corrupt adapter %s in redis (%s); not served", lora_name, exc)
                return None
            if not _base_matches(adapter.base_model, meta.get("base_model", ""), base_model_name):
                log.warning("t2l resolver: %s was made for %s, this server runs %s", lora_name,
                            adapter.base_model, base_model_name)
                return None
            path = adapter.to_peft(self.directory / lora_name)
            # vLLM replaces lora_int_id with its own counter; the name is what identifies the adapter.
            return LoRARequest(lora_name, int(lora_name[4:11], 16) + 1, str(path))

    return T2LResolver


def _base_matches(*names: str) -> bool:
    """vLLM passes the served model's path or id; t2l records the HF id. Compare their last path parts."""
    tails = {n.rstrip("/").rsplit("/", 1)[-1] for n in names if n}
    return len(tails) <= 1 or os.environ.get("T2L_RESOLVER_SKIP_BASE_CHECK") == "1"


def make_resolver(redis_url: str, directory: str | os.PathLike):
    return _resolver_class()(redis_url, Path(directory))


def register() -> None:
    """Entry point for `vllm.general_plugins`."""
    url = os.environ.get("T2L_REDIS_URL")
    if not url:
        return
    from vllm.lora.resolver import LoRAResolverRegistry

    if "t2l" in LoRAResolverRegistry.get_supported_resolvers():
        return
    directory = os.environ.get("T2L_RESOLVER_DIR", "/dev/shm/t2l-resolved" if Path("/dev/shm").is_dir()
                               else "/tmp/t2l-resolved")
    LoRAResolverRegistry.register_resolver("t2l", make_resolver(url, directory))
