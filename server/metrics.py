"""Prometheus metrics, one registry per app (no global state: several apps can live in one test process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("t2l_requests_total", "HTTP requests", ["route", "status"], registry=r)
        self.request_latency = Histogram("t2l_request_seconds", "HTTP request latency", ["route"],
                                         buckets=_LATENCY, registry=r)
        self.generation_latency = Histogram("t2l_generation_seconds", "Engine generation latency per completion",
                                            ["engine"], buckets=_LATENCY, registry=r)
        self.completion_tokens = Counter("t2l_completion_tokens_total", "Generated tokens", registry=r)
        self.cache_lookups = Counter("t2l_cache_lookups_total", "Adapter lookups by where they were served from "
                                     "(memory, redis, generated, shared)", ["source"], registry=r)
        self.cache_corrupt = Counter("t2l_cache_corrupt_total", "Corrupt cache entries found and regenerated",
                                     ["where"], registry=r)
        self.redis_errors = Counter("t2l_redis_errors_total", "Failed Redis operations (served without Redis)",
                                    ["op"], registry=r)
        self.hypernet_batch = Histogram("t2l_hypernet_batch_size", "Descriptions per hypernetwork forward",
                                        buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=r)
        self.hypernet_latency = Histogram("t2l_hypernet_seconds", "Embed + hypernetwork time per batch",
                                          buckets=_LATENCY, registry=r)
        self.adapters_loaded = Gauge("t2l_adapters_loaded", "Adapters loaded in the engine", registry=r)
        self.engine_queue = Gauge("t2l_engine_requests_in_flight", "Generation requests in the engine", registry=r)
        self.description_coverage = Histogram(
            "t2l_description_coverage", "Coverage of each generated adapter's description: cosine similarity to the "
            "nearest training description (in distribution at or above the checkpoint's threshold)",
            buckets=tuple(round(x * 0.05, 2) for x in range(-4, 21)), registry=r)
        self.out_of_distribution = Counter("t2l_descriptions_out_of_distribution_total",
                                           "Generated adapters whose description is below the coverage threshold",
                                           registry=r)
        self.cache_state = Gauge("t2l_cache_redis_up", "1 when Redis answers, 0 when degraded to memory", registry=r)

    def count(self, what: str, label: str) -> None:
        {"cache_lookups": self.cache_lookups, "cache_corrupt": self.cache_corrupt,
         "redis_errors": self.redis_errors}[what].labels(label).inc()

    def observe_generation(self, batch_size: int, timings: dict[str, float]) -> None:
        self.hypernet_batch.observe(batch_size)
        self.hypernet_latency.observe((timings["embed_ms"] + timings["hypernet_ms"]) / 1000)

    def observe_coverage(self, score: float, in_distribution: bool) -> None:
        self.description_coverage.observe(score)
        if not in_distribution:
            self.out_of_distribution.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
