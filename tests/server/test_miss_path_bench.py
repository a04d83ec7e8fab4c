"""bench.miss_path on a tiny checkpoint and the real Redis: every request is a miss, the phases it reports are the
calls each publish mode makes (the Redis write on the request, or after it), and the table is written."""

import asyncio

from bench.miss_path import MissPathConfig, markdown, measure
from hypernet.checkpoint import Checkpoint
from tests.helpers import HashingEncoder, tiny_hypernet, tiny_llama
from tests.server.conftest import REDIS_URL


def test_each_mode_misses_and_makes_its_own_calls(redis_client):
    ckpt = Checkpoint(tiny_hypernet(tiny_llama(), head_noise=0.1), "tiny-llama", "test/hashing", "1" * 64)
    config = MissPathConfig(descriptions=5, redis_url=REDIS_URL)
    result = asyncio.run(measure(config, ckpt, HashingEncoder()))
    inline, background = result["rows"]["inline"], result["rows"]["background"]
    assert len(inline) == len(background) == 3  # the first two per mode are warm-up
    for row in inline:
        assert row["put_calls"] == 1 and "share_calls" not in row and "remember_calls" not in row
        assert row["get_calls"] == 2 and row["acquire_calls"] == row["release_calls"] == row["to_bytes_calls"] == 1
        assert row["request_ms"] >= row["generation_ms"] > 0
    for row in background:
        assert row["remember_calls"] == row["share_calls"] == row["release_calls"] == 1 and "put_calls" not in row
        assert row["settled_ms"] >= row["request_ms"] >= row["generation_ms"] > 0
    summary = {mode: {"request_ms": {"median_ms": 2.0, "p25_ms": 1.0, "p75_ms": 3.0}} for mode in ("inline",
                                                                                                 "background")}
    table = markdown({"checkpoint": "x", "descriptions": 3, "threads": 1, "summary": summary,
                      "request_over_generation": {"inline": 1.5, "background": 1.1}, "background_saves_ms": 1.0})
    assert "| request (what the caller waits) | 2.00 (1.00-3.00) | 2.00 (1.00-3.00) |" in table
