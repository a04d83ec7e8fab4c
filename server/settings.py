"""Service settings from the environment (prefix T2L_) or a .env file; built once in `create_app`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service. Defaults are the embedded default: SmolLM2-135M on CPU, in-process cache."""

    model_config = SettingsConfigDict(env_prefix="T2L_", env_file=".env", extra="ignore")

    host: str = Field("127.0.0.1", description="Address uvicorn binds to.")
    port: int = Field(8000, description="Port uvicorn listens on.")
    home: Path = Field(Path.home() / ".cache" / "t2l", description="Assets, adapters and untrained checkpoints.")
    checkpoint: Path | None = Field(None, description="Hypernetwork checkpoint folder, or a shipped checkpoint's "
                                                      "name (variants L, M, S: `t2l checkpoint list`); default: the "
                                                      "shipped L, else an untrained one made under home.")
    base_model: str | None = Field(None, description="HF id or path of the base model; default: the checkpoint's.")
    encoder: str | None = Field(None, description="encoder id or path (pooling, full stop and normalisation stay "
                                                  "the checkpoint's); default: the checkpoint's.")
    engine: Literal["auto", "vllm", "hf"] = Field("auto", description="auto: vLLM when installed, else HF.")
    device: str = Field("cpu", description="torch device for the hypernetwork, encoder and HF engine.")
    redis_url: str | None = Field(None, description="redis://host:port/db; unset: in-process LRU cache only.")
    cache_ttl_s: int = Field(7 * 24 * 3600, description="Expiry of adapters in Redis (0: never).")
    cache_max_bytes: int = Field(512 * 2**20, description="Memory cache budget (LRU beyond it).")
    cache_max_blob_bytes: int = Field(64 * 2**20, description="Largest adapter blob the cache accepts.")
    lock_ttl_ms: int = Field(30_000, description="Redis single-flight lock expiry (a crashed holder frees it).")
    adapters_dir: Path | None = Field(None, description="Where adapter folders are written for the engine; "
                                                        "default /dev/shm/t2l-adapters (tmpfs) or home/adapters.")
    max_loras: int = Field(8, description="Adapters the engine runs in one batch (vLLM max_loras).")
    # No value of this and max_concurrent_generations can deadlock: a request never waits for a free adapter slot.
    # With every loaded adapter pinned, the registry (server/engines/base.py) goes over this by the adapters in use
    # (at most max_concurrent_generations) and trims back on the next load.
    max_cpu_loras: int = Field(64, description="Adapters kept loaded in the engine (LRU unload beyond; exceeded, "
                                               "never waited on, while more than this are in use at once).")
    max_model_len: int = Field(2048, description="Context length (prompt + completion) the engine accepts.")
    gpu_memory_utilization: float = Field(0.85, description="vLLM on GPU: fraction of device memory to use.")
    vllm_kv_cache_gib: int = Field(2, description="vLLM on CPU: KV cache size (VLLM_CPU_KVCACHE_SPACE).")
    batch_window_ms: float = Field(0.0, description="Extra wait (ms) for more misses before an idle hypernetwork "
                                   "pass starts; misses arriving during a pass always join the next one.")
    max_batch: int = Field(64, description="Largest hypernetwork batch and HF engine decode batch.")
    max_description_chars: int = Field(2000, description="Longest accepted task description.")
    max_tokens_limit: int = Field(1024, description="Largest max_tokens a request may ask for.")
    default_max_tokens: int = Field(256, description="max_tokens when a request gives none (capped by the context).")
    max_n: int = Field(8, description="Largest n (choices per chat/completion request).")
    description_in_prompt: bool = Field(True, description="Default of the request option description_in_prompt: "
                                        "with `task`, also put the description in the prompt (where "
                                        "description_placement says). On by default: on the everyday set "
                                        "(training/everyday, what people type) the default checkpoint's adapter "
                                        "scores 41.5% with the description as the system message, 37.2% in the "
                                        "user turn, 39.2% alone (docs/everyday.md).")
    description_placement: Literal["user", "system"] = Field("system", description="Where a description that goes "
                                                            "into the prompt goes: `system`, as the system message "
                                                            "(above the chat's own system message if it has one), "
                                                            "the default by the everyday set; `user`, above the "
                                                            "input in the (last) user message.")
    log_level: str = Field("info", description="uvicorn / service log level.")
    auth: Literal["on", "off"] = Field("on", description="Bearer API keys required; `off` only on a trusted "
                                                          "localhost (make serve sets it).")
    api_keys: str | None = Field(None, description="Comma-separated hashed key entries (see `t2l keys create`).")
    api_keys_file: Path | None = Field(None, description="File with one hashed key entry per line.")
    metrics_require_admin: bool = Field(False, description="Serve /metrics only to admin keys.")
    rate_limit_rps: float = Field(0.0, description="Per-key (or per-client when auth is off) requests per second; "
                                                   "0 disables.")
    rate_limit_burst: int = Field(20, description="Token-bucket burst size for the rate limit.")
    max_body_bytes: int = Field(1 << 20, description="Largest request body (413 beyond).")
    max_concurrent_generations: int = Field(64, description="Requests generating in the engine at once (a "
                                            "request's n choices share its slot).")
    max_waiting: int = Field(256, description="Requests waiting for a generation slot; more get 429 at once.")
    queue_timeout_s: float = Field(60.0, description="Longest wait for a generation slot (503 beyond).")
    request_timeout_s: float = Field(300.0, description="Longest generation of one completion (504 beyond).")
    shutdown_grace_s: int = Field(30, description="On SIGTERM, how long in-flight requests may finish.")
    drain_s: float = Field(0.0, ge=0, description="On SIGTERM, how long /ready answers 503 (draining) while requests "
                                                 "are still served, before the graceful shutdown (behind a balancer).")
    refine_queue: str = Field("t2l-refine", description="rq queue of refine jobs on redis_url (workers: `rq worker "
                                                        "--url REDIS_URL t2l-refine`); refine needs redis_url.")
    refine_max_examples: int = Field(256, description="Most examples one refine request may send.")
    refine_max_steps: int = Field(500, description="Most optimizer steps one refine request may ask for.")
    refine_threads: int = Field(1, description="torch threads of a refine job in the worker (0: torch's default); "
                                               "1 leaves the other cores to serving on a shared machine.")
    refine_job_timeout_s: int = Field(1800, description="A refine job running longer is stopped (failed).")
    refine_max_jobs_per_caller: int = Field(2, description="Refine jobs one API key (or client, auth off) may have "
                                                           "queued or running at once (429 beyond).")
    refine_nice: int = Field(10, description="CPU niceness the refine worker adds to itself, so serving on the same "
                                             "cores comes first (0: none, e.g. a worker machine of its own).")

    @model_validator(mode="after")
    def _consistent(self) -> "Settings":
        if self.max_cpu_loras < self.max_loras:
            raise ValueError(f"max_cpu_loras ({self.max_cpu_loras}) must be >= max_loras ({self.max_loras})")
        return self

    def resolved_adapters_dir(self) -> Path:
        if self.adapters_dir is not None:
            return self.adapters_dir
        shm = Path("/dev/shm")
        return shm / "t2l-adapters" if shm.is_dir() else self.home / "adapters"
