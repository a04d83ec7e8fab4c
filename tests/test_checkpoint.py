import json

import pytest
import torch

from hypernet import CheckpointError, generate_adapters, load_checkpoint, save_checkpoint
from hypernet.checkpoint import META_FILE, WEIGHTS_FILE
from tests.helpers import HashingEncoder, tiny_hypernet, tiny_llama, tiny_llama_config

TASKS = ["Answer with the antonym of the given word.", "Count the vowels in the word."]


def _saved(tmp_path, **kw):
    net = tiny_hypernet(tiny_llama(), head_noise=0.05, **kw)
    digest = save_checkpoint(tmp_path / "ckpt", net, "tiny-llama", "test/hashing", provenance={"steps": 0})
    return net, digest, tmp_path / "ckpt"


def test_round_trip_gives_identical_adapters_without_a_base_model(tmp_path):
    net, digest, folder = _saved(tmp_path, variant="M")
    ckpt = load_checkpoint(folder)
    assert ckpt.digest == digest and ckpt.base_model == "tiny-llama" and ckpt.encoder == "test/hashing"
    assert ckpt.config == net.config and ckpt.targets == net.targets and ckpt.provenance == {"steps": 0}
    emb = HashingEncoder().embed(TASKS)
    with torch.no_grad():
        want = net(emb)
    got = generate_adapters(ckpt, HashingEncoder(), TASKS)
    for i, adapter in enumerate(got):
        assert adapter.metadata["checkpoint_digest"] == digest
        for x, y in zip(adapter.a + adapter.b, [a[i] for a in want.a] + [b[i] for b in want.b]):
            assert torch.equal(x, y)


def test_digest_depends_on_weights_and_config(tmp_path):
    net, digest, _ = _saved(tmp_path)
    assert save_checkpoint(tmp_path / "again", net, "tiny-llama", "test/hashing", {"steps": 0}) == digest
    assert save_checkpoint(tmp_path / "other", net, "tiny-llama", "test/hashing", {"steps": 1}) != digest
    with torch.no_grad():
        net.task_encoder.mlp[0].bias.add_(1e-3)
    assert save_checkpoint(tmp_path / "moved", net, "tiny-llama", "test/hashing", {"steps": 0}) != digest


def test_half_precision_checkpoint_loads(tmp_path):
    net = tiny_hypernet(tiny_llama(), head_noise=0.05)
    save_checkpoint(tmp_path / "half", net, "tiny-llama", "test/hashing", dtype="bfloat16")
    ckpt = load_checkpoint(tmp_path / "half")
    w = ckpt.model.heads["q_proj"].weight
    assert w.dtype == torch.float32
    torch.testing.assert_close(w, net.heads["q_proj"].weight.detach(), rtol=1e-2, atol=1e-3)


def test_tampered_or_missing_checkpoint_is_refused(tmp_path):
    _, _, folder = _saved(tmp_path)
    raw = bytearray((folder / WEIGHTS_FILE).read_bytes())
    raw[-1] ^= 0x01
    (folder / WEIGHTS_FILE).write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="digest mismatch"):
        load_checkpoint(folder)
    with pytest.raises(CheckpointError, match="not a t2l checkpoint"):
        load_checkpoint(tmp_path / "nowhere")
    (folder / META_FILE).write_text("{broken")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(folder)


def test_wrong_base_model_is_refused_with_the_difference(tmp_path):
    _, _, folder = _saved(tmp_path)
    ckpt = load_checkpoint(folder)
    ckpt.check_base_model(tiny_llama_config())  # the right one passes
    with pytest.raises(CheckpointError, match=r"made for 'tiny-llama'.*v_proj.*32->16.*32->32"):
        ckpt.check_base_model(tiny_llama_config(num_key_value_heads=4))
    with pytest.raises(CheckpointError, match="4 target layers expected, the model has 6"):
        ckpt.check_base_model(tiny_llama_config(num_hidden_layers=3))


def test_encoder_width_mismatch_is_named(tmp_path):
    _, _, folder = _saved(tmp_path)
    with pytest.raises(ValueError, match="gives 8-d embeddings; the checkpoint expects 16-d"):
        generate_adapters(load_checkpoint(folder), HashingEncoder(dim=8), TASKS)


def test_meta_is_readable_json(tmp_path):
    _, digest, folder = _saved(tmp_path)
    meta = json.loads((folder / META_FILE).read_text())
    assert meta["digest"] == digest and meta["encoder"] == {
        "name": "test/hashing", "dim": 16, "pooling": "mean", "add_full_stop": False, "normalize": "l2",
        "backend": "sentence-transformers"}
    assert meta["peft_key_template"] == "base_model.model.{path}.lora_{AB}.weight"
    assert len(meta["targets"]) == 4 and meta["config"]["variant"] == "L"


def test_checkpoint_of_an_older_architecture_is_refused_clearly(tmp_path):
    _, _, folder = _saved(tmp_path)
    meta = json.loads((folder / META_FILE).read_text())
    meta["config"].update({"hidden": 256, "n_blocks": 2})
    from hypernet.checkpoint import _digest

    meta["digest"] = _digest((folder / WEIGHTS_FILE).read_bytes(), meta)
    (folder / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"unknown HyperConfig fields: \['hidden', 'n_blocks'\].*retrained"):
        load_checkpoint(folder)
