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

    from t2l.assets import prepare_base_model
    from tests.helpers import tiny_llama

    folder = tmp_path_factory.mktemp("tiny-smol")
    tiny_llama(vocab_size=49152, max_position_embeddings=512).save_pretrained(folder)
    AutoTokenizer.from_pretrained(prepare_base_model()).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_base, tmp_path_factory) -> Path:
    from hypernet import HyperConfig, init_checkpoint
    from t2l.assets import DEFAULT_ENCODER

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


@pytest.fixture(scope="session")
def indexed_checkpoint(tiny_checkpoint, tmp_path_factory):
    """The tiny checkpoint plus a description index of TRAINING embedded by the real MiniLM encoder."""
    import shutil

    from hypernet import EncoderSpec, make_encoder, write_description_index
    from t2l.assets import DEFAULT_ENCODER, prepare_encoder

    folder = tmp_path_factory.mktemp("indexed") / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    encoder = make_encoder(prepare_encoder(DEFAULT_ENCODER), EncoderSpec(DEFAULT_ENCODER))
    names = [task for task, texts in TRAINING.items() for _ in texts]
    write_description_index(folder, names, encoder.embed([t for texts in TRAINING.values() for t in texts]))
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
                description_in_prompt=False)  # the served default (off); these tests check the adapter path alone
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
