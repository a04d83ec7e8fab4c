"""The checkpoints shipped with the package: L trained longer (the default, issue #21), L at 800 steps and the
optional M and S trained as that one was (issue #26, docs/variants.md).
Each loads with the digest its hypernet.json records, is the variant its name says, keeps every file under 25 MB,
carries its description index and measured accuracy, is chosen by name through T2L_CHECKPOINT, and serves one
adapter through the service (FakeEngine, the real MiniLM encoder and SmolLM2 tokenizer) that equals a direct
generation."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from ground.assets import (DEFAULT_CHECKPOINT, AssetError, checkpoint_folder, prepare_base_model, prepare_encoder,
                           shipped_checkpoint, shipped_checkpoints)
from hypernet import count_parameters, generate_adapters, load_checkpoint, make_encoder
from server.app import resolve_checkpoint
from server.settings import Settings
from tests.server.conftest import fast_serving
from tests.server.fake_engine import FakeEngine

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {"t2l-smollm2-135m-sft-L-long": "L", "t2l-smollm2-135m-sft-L": "L", "t2l-smollm2-135m-sft-M": "M",
           "t2l-smollm2-135m-sft-S": "S"}


def test_the_shipped_checkpoints_and_the_long_trained_l_is_the_default(tmp_path):
    assert set(shipped_checkpoints()) == set(SHIPPED)
    assert DEFAULT_CHECKPOINT == "t2l-smollm2-135m-sft-L-long" and shipped_checkpoint().name == DEFAULT_CHECKPOINT
    assert resolve_checkpoint(Settings(_env_file=None, home=tmp_path)).name == DEFAULT_CHECKPOINT


@pytest.mark.parametrize("name, variant", SHIPPED.items())
def test_shipped_checkpoint_loads_is_its_variant_and_is_chosen_by_name(name, variant, tmp_path):
    folder = checkpoint_folder(name)
    assert folder.resolve() == (ROOT / "checkpoints" / name).resolve()
    assert resolve_checkpoint(Settings(_env_file=None, checkpoint=name, home=tmp_path)) == folder
    meta = json.loads((folder / "hypernet.json").read_text())
    ckpt = load_checkpoint(folder)  # verifies the digest over weights, index and accuracy.json
    assert ckpt.digest == meta["digest"] and ckpt.config.variant == variant
    assert count_parameters(ckpt.model) == meta["parameters"]
    assert all(f.stat().st_size < 25 * 2**20 for f in folder.iterdir())
    assert ckpt.description_index is not None and ckpt.description_index.accuracy
    assert (folder / "eval.json").is_file() and (folder / "README.md").is_file()


def test_a_name_that_is_neither_a_folder_nor_shipped_is_refused_with_the_names(tmp_path):
    with pytest.raises(AssetError, match="t2l-smollm2-135m-sft-S"):
        checkpoint_folder("t2l-smollm2-135m-sft-XL")
    with pytest.raises(AssetError, match="neither a folder nor a shipped checkpoint"):
        resolve_checkpoint(Settings(_env_file=None, checkpoint="sft-S", home=tmp_path))
    assert checkpoint_folder(tmp_path) == tmp_path  # a path is taken as given, existing or not (loading it says why)
    assert checkpoint_folder(tmp_path / "absent") == tmp_path / "absent"


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(prepare_base_model())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoint_serves_its_adapter_through_the_service(name, tokenizer, tmp_path):
    folder = checkpoint_folder(name)
    ckpt = load_checkpoint(folder)
    encoder = make_encoder(prepare_encoder(ckpt.encoder), ckpt.embedding)
    parts = SimpleNamespace(folder=folder, checkpoint=ckpt, tokenizer=tokenizer, model=ckpt.base_model)
    task = "Write the plural form of the noun."
    engine = FakeEngine()
    with fast_serving(parts, tmp_path, engine, encoder=encoder, redis_url=None) as client:
        r = client.post("/v1/generate", json={"task": task, "prompt": "child", "max_tokens": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    served = engine.adapters[body["adapter_id"]]
    direct = generate_adapters(ckpt, encoder, [task])[0]
    assert served.rank == direct.rank == ckpt.config.rank and len(served.targets) == len(ckpt.targets)
    for got, want in zip(served.a + served.b, direct.a + direct.b):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    assert body["coverage"]["in_distribution"] and body["coverage"]["expected_accuracy"] is not None
