"""create_app: settings -> FastAPI app. The lifespan builds the runtime (checkpoint, encoder, cache, engine) in the
background, so /health answers at once and /ready says 503 until everything is up (vLLM takes ~40 s on CPU) and one
warm-up request has gone through the whole path (CompletionService.warm_up)."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ground.assets import (DEFAULT_BASE_MODEL, DEFAULT_ENCODER, checkpoint_folder, prepare_base_model, prepare_encoder,
                          shipped_checkpoint)
from hypernet import HyperConfig, init_checkpoint, load_checkpoint, make_encoder

from .auth import Authenticator
from .cache import MemoryCache, RedisCache, TieredCache
from .completions import Admission, CompletionService, Limits
from .engines.base import Engine
from .engines.hf_engine import HFEngine
from .engines.vllm_engine import VLLMEngine
from .errors import error_body, install_error_handlers
from .logfilter import install_access_log_redaction
from .metrics import Metrics
from .refine import RefineQueue, RefineService
from .routes import adapters, admin, docs, generate, health, jobs, openai, playground
from .service import AdapterService
from .settings import Settings

log = logging.getLogger("t2l.server")


@dataclass
class Runtime:
    """Everything a request needs, built once per app."""

    settings: Settings
    metrics: Metrics
    cache: TieredCache
    adapters: AdapterService
    completions: CompletionService
    engine: Engine
    model_name: str
    checkpoint_name: str
    started_at: float
    refine: RefineService
    ready: bool = False


def resolve_checkpoint(settings: Settings) -> Path:
    """The configured checkpoint; else the one shipped with the package (ground/checkpoints); else an UNTRAINED one
    made once under settings.home (its adapters have delta W = 0, i.e. the base model's behaviour) so the service
    runs anyway."""
    if settings.checkpoint is not None:  # a folder, or a shipped checkpoint's name (t2l-smollm2-135m-sft-S)
        return checkpoint_folder(settings.checkpoint)
    shipped = shipped_checkpoint()
    if shipped is not None:
        return shipped

    folder = settings.home / "checkpoints" / "untrained-default"
    if not (folder / "hypernet.json").is_file():
        log.warning("no trained checkpoint found: creating an UNTRAINED one at %s (adapters will not change the "
                    "model until a trained checkpoint is configured with T2L_CHECKPOINT)", folder)
        init_checkpoint(folder, prepare_base_model(DEFAULT_BASE_MODEL, settings.home), DEFAULT_BASE_MODEL,
                        DEFAULT_ENCODER, HyperConfig())
    return folder


def make_engine(settings: Settings, model_path: str, rank: int, target_modules: tuple[str, ...]) -> Engine:
    import importlib.util

    kind = settings.engine
    if kind == "auto":
        kind = "vllm" if importlib.util.find_spec("vllm") is not None else "hf"
    if kind == "vllm":  # (vllm_engine imports vllm itself only when it starts)
        return VLLMEngine(model_path, settings, rank, target_modules)
    return HFEngine(model_path, settings.max_cpu_loras, settings.max_batch, settings.batch_window_ms, settings.device)


def assemble_runtime(settings: Settings, metrics: Metrics, checkpoint: Any, checkpoint_name: str, encoder: Any,
                     tokenizer: Any, model_name: str, engine: Engine) -> Runtime:
    """The service around its parts (a started engine): caches, adapter service, admission, completion service,
    refine jobs (with Redis). Tests assemble the same runtime around small parts (a tiny checkpoint, a fake
    engine)."""
    redis = RedisCache(settings.redis_url, settings.cache_ttl_s, settings.cache_max_blob_bytes) \
        if settings.redis_url else None
    cache = TieredCache(MemoryCache(settings.cache_max_bytes), redis,
                        on_error=lambda op: metrics.count("redis_errors", op))
    service = AdapterService(checkpoint, encoder, cache, model_name, settings.batch_window_ms, settings.max_batch,
                             settings.max_description_chars, settings.lock_ttl_ms, metrics)
    limits = Limits(settings.max_model_len, settings.max_tokens_limit, settings.max_n, settings.default_max_tokens,
                    settings.request_timeout_s)
    admission = Admission(settings.max_concurrent_generations, settings.max_waiting, settings.queue_timeout_s)
    completions = CompletionService(service, engine, tokenizer, model_name, limits, admission, metrics,
                                    settings.description_in_prompt, settings.description_placement)
    queue = RefineQueue(settings.redis_url, settings.refine_queue, settings.refine_job_timeout_s) \
        if settings.redis_url else None
    refine = RefineService(service, queue, settings.cache_ttl_s, settings.cache_max_blob_bytes, tokenizer,
                           settings.max_model_len)
    return Runtime(settings, metrics, cache, service, completions, engine, model_name, checkpoint_name, time.time(),
                   refine)


async def build_runtime(settings: Settings, metrics: Metrics) -> Runtime:
    """The runtime from the configured assets: checkpoint, base model, encoder, tokenizer, engine."""
    from transformers import AutoTokenizer

    from dataclasses import replace

    ckpt_dir = await asyncio.to_thread(resolve_checkpoint, settings)
    checkpoint = await asyncio.to_thread(load_checkpoint, ckpt_dir, settings.device)
    model_name = settings.base_model or checkpoint.base_model
    model_path = await asyncio.to_thread(prepare_base_model, model_name, home=settings.home)
    await asyncio.to_thread(checkpoint.check_base_model, model_path)
    encoder_name = settings.encoder or checkpoint.encoder
    spec = replace(checkpoint.embedding, name=encoder_name)  # pooling, full stop, normalisation as in training
    encoder_path = await asyncio.to_thread(prepare_encoder, encoder_name, home=settings.home)
    encoder = await asyncio.to_thread(make_encoder, encoder_path, spec, settings.device,
                                      settings.max_description_chars)
    tokenizer = await asyncio.to_thread(AutoTokenizer.from_pretrained, model_path)
    engine = make_engine(settings, model_path, checkpoint.config.rank, checkpoint.config.target_modules)
    await engine.start()
    return assemble_runtime(settings, metrics, checkpoint, f"{ckpt_dir.name}@{checkpoint.digest[:12]}", encoder,
                            tokenizer, model_name, engine)


RuntimeBuilder = Callable[[Settings, Metrics], Awaitable[Runtime]]


def create_app(settings: Settings | None = None, build: RuntimeBuilder = build_runtime) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()
    install_access_log_redaction()  # a key sent as ?api_key=... must not be written to the access log

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async def start() -> None:
            try:
                runtime = await build(settings, metrics)
                app.state.built = runtime  # closed on shutdown, even when the warm-up fails
                started = time.perf_counter()
                await runtime.completions.warm_up()  # before ready: the first request must not pay for first calls
                runtime.ready = True
                app.state.runtime = runtime
                log.info("ready: model %s, checkpoint %s, engine %s, cache %s (warm-up %.0f ms)", runtime.model_name,
                         runtime.checkpoint_name, runtime.engine.name, runtime.cache.state,
                         (time.perf_counter() - started) * 1000)
            except Exception as exc:
                app.state.startup_error = f"{type(exc).__name__}: {exc}"
                log.exception("startup failed")

        app.state.starting = asyncio.create_task(start())
        try:
            yield
        finally:
            app.state.starting.cancel()
            rt: Runtime | None = getattr(app.state, "built", None)
            if rt is not None:
                rt.ready = False
                await rt.engine.close()
                await rt.adapters.close()
                await rt.refine.close()
                await rt.cache.close()

    app = FastAPI(title="t2l", version="0.1.0", lifespan=lifespan,
                  description="Text-to-LoRA: a task description becomes a LoRA adapter, served by a multi-LoRA "
                              "engine. OpenAI-compatible, with an optional `task` field.")
    app.state.settings, app.state.metrics, app.state.startup_error = settings, metrics, None
    app.state.draining = False  # set by server.serve on the first SIGTERM when drain_s > 0
    app.state.auth = Authenticator.from_settings(settings)
    install_error_handlers(app)

    @app.middleware("http")
    async def observe(request: Request, call_next: Any):
        path = request.url.path
        if path != "/" and not path.startswith(("/health", "/ready", "/metrics", "/docs", "/openapi", "/playground")) \
                and getattr(request.app.state, "runtime", None) is None:
            problem = request.app.state.startup_error or "the service is starting"
            return JSONResponse(error_body(problem, "service_unavailable"), status_code=503,
                                headers={"Retry-After": "5"})
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        metrics.requests.labels(route, str(response.status_code)).inc()
        metrics.request_latency.labels(route).observe(time.perf_counter() - started)
        return response

    for module in (jobs, adapters, admin, generate, openai, health, playground):
        app.include_router(module.router)
    docs.install(app, settings)  # /openapi.json: FastAPI's schema made true for these settings and the model
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes)
    return app


class RequestGuard:
    """Pure ASGI middleware for request bodies: refuse bodies over `max_body_bytes` (413, before any parsing), and
    read every body as JSON, treating a form-encoded or untyped one as JSON so that `curl -d '{...}'` (which says
    application/x-www-form-urlencoded) works as users type it."""

    def __init__(self, app: Any, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        too_big = declared.isdigit() and int(declared) > self.max_body_bytes
        chunks, size, more = [], 0, not too_big
        while more:  # bodies are small (<= max_body_bytes): buffer, so chunked uploads are bounded too
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_body_bytes:
                too_big = True
                break
        if too_big:
            response = JSONResponse(error_body(f"request body exceeds {self.max_body_bytes} bytes",
                                               "invalid_request_error", code="body_too_large"), status_code=413)
            return await response(scope, receive, send)
        kind = headers.get(b"content-type", b"")
        if not kind or kind.startswith(b"application/x-www-form-urlencoded"):
            rest = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            scope = {**scope, "headers": rest + [(b"content-type", b"application/json")]}
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
