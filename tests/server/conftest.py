"""A real service on a free loopback port: uvicorn in a thread, HF engine on a tiny seeded model that uses the
real SmolLM2 tokenizer (chat template), the packaged MiniLM encoder, and the real Redis at 127.0.0.1:6379."""

from __future__ import annotations

import os
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

REDIS_URL = os.environ.get("T2L_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide Llama with SmolLM2's vocabulary and tokenizer (so chat templates are real)."""
    from transformers import AutoTokenizer

    from ground.assets import prepare_base_model
    from tests.helpers import tiny_llama

    folder = tmp_path_factory.mktemp("tiny-smol")
    tiny_llama(vocab_size=49152, max_position_embeddings=512).save_pretrained(folder)
    AutoTokenizer.from_pretrained(prepare_base_model()).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_base, tmp_path_factory) -> Path:
    from hypernet import HyperConfig, init_checkpoint
    from ground.assets import DEFAULT_ENCODER

    folder = tmp_path_factory.mktemp("ckpt") / "tiny"
    init_checkpoint(folder, str(tiny_base), str(tiny_base), DEFAULT_ENCODER,
                    HyperConfig(latent_size=32, head_in_size=32), seed=1, head_noise=0.05)
    return folder


# Training descriptions of a toy description index (task -> its descriptions) and a string far from all of them.
TRAINING = {
    "toy.antonym": ["Answer with the antonym of the given word.", "Give the opposite of this word."],
    "toy.plural": ["Write the plural form of the noun.", "What is the plural of this noun?"],
    "toy.capital": ["Name the capital city of this country.", "Which city is this country's capital?"],
    "toy.vowels": ["Count the vowels in the word.", "How many vowels does this word have?"],
}
RANDOM = "qx7 zkv0 93jf wpq ll8"
MEASURED = {"toy.capital": 80.0, "toy.plural": 40.0}  # the toy checkpoint's "evaluation" (accuracy.json)


@pytest.fixture(scope="session")
def indexed_checkpoint(tiny_checkpoint, tmp_path_factory):
    """The tiny checkpoint plus a description index of TRAINING embedded by the real MiniLM encoder."""
    import shutil

    from hypernet import EncoderSpec, make_encoder, write_description_index, write_task_accuracy
    from ground.assets import DEFAULT_ENCODER, prepare_encoder

    folder = tmp_path_factory.mktemp("indexed") / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    encoder = make_encoder(prepare_encoder(DEFAULT_ENCODER), EncoderSpec(DEFAULT_ENCODER))
    names = [task for task, texts in TRAINING.items() for _ in texts]
    write_description_index(folder, names, encoder.embed([t for texts in TRAINING.values() for t in texts]))
    write_task_accuracy(folder, MEASURED, {"eval": "toy"})  # two of the four tasks measured (expected accuracy)
    return folder


@pytest.fixture(scope="session")
def redis_client():
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.ping()  # `make test` makes sure one answers; a test that needs Redis fails loudly without it
    client.flushdb()
    return client


class LiveServer:
    def __init__(self, app, port: int) -> None:
        import uvicorn

        self.app, self.port = app, port
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, timeout: float = 120) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/ready", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"service not ready in {timeout} s: {getattr(self.app.state, 'startup_error', None)}")

    @property
    def runtime(self):
        return self.app.state.runtime

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def make_settings(tmp: Path, checkpoint: Path, **overrides):
    from server.settings import Settings

    base = dict(checkpoint=checkpoint, engine="hf", home=tmp / "home", adapters_dir=tmp / "adapters",
                redis_url=REDIS_URL, max_model_len=256, max_tokens_limit=64, batch_window_ms=20.0, auth="off",
                description_in_prompt=False)  # (the served default is on) these tests check the adapter path alone
    return Settings(**{**base, **overrides})


@contextmanager
def serving(tmp: Path, checkpoint: Path, **overrides):
    """The app on make_settings(tmp, checkpoint, **overrides), served by uvicorn on a free port until the block ends."""
    from server.app import create_app

    server = LiveServer(create_app(make_settings(tmp, checkpoint, **overrides)), free_port()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def live(tiny_checkpoint, redis_client, tmp_path_factory):
    with serving(tmp_path_factory.mktemp("live"), tiny_checkpoint) as server:
        yield server


# ---- the fast harness: the real app and service in process, a FakeEngine, tiny in-process parts ----------------
@pytest.fixture(scope="session")
def fast_parts(tmp_path_factory):
    """A tiny seeded checkpoint (for a tiny Llama config: no weights, no files but its own), the hashing encoder's
    width, and the in-process byte-level tokenizer with a chat template. Nothing real is loaded."""
    from types import SimpleNamespace

    from hypernet import HyperConfig, init_checkpoint, load_checkpoint
    from tests.helpers import tiny_llama_config, tiny_tokenizer

    tokenizer = tiny_tokenizer()
    folder = tmp_path_factory.mktemp("fast") / "ckpt"
    init_checkpoint(folder, tiny_llama_config(vocab_size=len(tokenizer)), "tiny-base", "test/hashing",
                    HyperConfig(embed_dim=16, latent_size=16, head_in_size=32), seed=1, head_noise=0.05)
    return SimpleNamespace(folder=folder, checkpoint=load_checkpoint(folder), tokenizer=tokenizer, model="tiny-base")


@contextmanager
def fast_serving(parts, tmp: Path, engine=None, encoder=None, **overrides):
    """The app (create_app: routes, middleware, lifespan with its warm-up) around a FakeEngine and the fast parts,
    driven in process by Starlette's TestClient; real Redis unless redis_url=None. Yields the client."""
    from server.app import assemble_runtime, create_app
    from tests.helpers import HashingEncoder
    from tests.server.fake_engine import FakeEngine

    engine = engine or FakeEngine()
    encoder = encoder or HashingEncoder(dim=16)

    async def build(settings, metrics):
        await engine.start()
        return assemble_runtime(settings, metrics, parts.checkpoint, f"tiny@{parts.checkpoint.digest[:12]}", encoder,
                                parts.tokenizer, parts.model, engine)

    with ready_client(create_app(make_settings(tmp, parts.folder, **overrides), build=build)) as client:
        yield client


def wait_ready(client, app, timeout_s: float = 30) -> None:
    """Poll `client`'s /ready until `app` says it is ready; fail with its start-up error if it never does."""
    deadline = time.monotonic() + timeout_s
    while client.get("/ready").status_code != 200:
        assert time.monotonic() < deadline, app.state.startup_error
        time.sleep(0.01)


@contextmanager
def ready_client(app):
    """Starlette's TestClient on `app`, once the app says it is ready."""
    from starlette.testclient import TestClient

    with TestClient(app) as client:
        wait_ready(client, app)
        yield client


@pytest.fixture(scope="module")
def fast(fast_parts, redis_client, tmp_path_factory):
    """One fast app per test module (its FakeEngine: fast.app.state.runtime.engine)."""
    with fast_serving(fast_parts, tmp_path_factory.mktemp("fast-app")) as client:
        yield client
