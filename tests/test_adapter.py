import json

import pytest
import torch

from hypernet import Adapter, AdapterFormatError, inject, lora_scale
from hypernet.adapter import CONFIG_NAME, WEIGHTS_NAME
from tests.helpers import HashingEncoder, tiny_hypernet, tiny_llama

TASKS = ["Answer with the antonym of the given word.", "Count the vowels in the word."]


def _adapters(use_rslora=True, targets=("q_proj", "v_proj")):
    model = tiny_llama()
    net = tiny_hypernet(model, head_noise=0.05, use_rslora=use_rslora, target_modules=targets)
    return model, Adapter.from_batch(net(HashingEncoder().embed(TASKS)), "tiny-llama", [{"description": t}
                                                                                         for t in TASKS])


@pytest.mark.parametrize("use_rslora", [True, False])
def test_peft_loaded_adapter_gives_the_logits_of_inject(tmp_path, use_rslora):
    from peft import PeftModel

    model, adapters = _adapters(use_rslora)
    ids = torch.randint(0, 128, (2, 7))
    with torch.no_grad():
        base = model(ids).logits
        with inject(model, Adapter.stack(adapters[:1])):
            ours = model(ids).logits
    assert not torch.allclose(ours, base, atol=1e-4)  # the adapter does something
    folder = adapters[0].to_peft(tmp_path / "adapter")
    peft_model = PeftModel.from_pretrained(tiny_llama(), folder).eval()
    # The same number scales the update in PEFT, in vLLM (from the same config) and in our maths.
    q = peft_model.base_model.model.model.layers[0].self_attn.q_proj
    assert q.scaling["default"] == pytest.approx(lora_scale(16, 8, use_rslora)) == pytest.approx(adapters[0].scale)
    with torch.no_grad():
        theirs = peft_model(ids).logits
    torch.testing.assert_close(theirs, ours, rtol=1e-5, atol=1e-5)


def test_peft_config_fields(tmp_path):
    _, adapters = _adapters(targets=("q_proj", "v_proj", "o_proj"))
    config = json.loads((adapters[0].to_peft(tmp_path / "a") / CONFIG_NAME).read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 8 and config["lora_alpha"] == 16
    assert config["use_rslora"] is True and config["base_model_name_or_path"] == "tiny-llama"
    assert config["target_modules"] == ["q_proj", "v_proj", "o_proj"]


def _same(x: Adapter, y: Adapter) -> None:
    assert x.targets == y.targets and (x.rank, x.alpha, x.use_rslora, x.base_model) == (
        y.rank, y.alpha, y.use_rslora, y.base_model)
    assert x.metadata == y.metadata
    for p, q in zip(x.a + x.b, y.a + y.b):
        assert torch.equal(p, q)


def test_folder_and_blob_round_trips_are_exact(tmp_path):
    _, adapters = _adapters()
    _same(Adapter.from_peft(adapters[0].to_peft(tmp_path / "a")), adapters[0])
    _same(Adapter.from_bytes(adapters[1].to_bytes()), adapters[1])


def test_corrupt_or_truncated_blob_is_detected():
    _, adapters = _adapters()
    blob = bytearray(adapters[0].to_bytes())
    blob[len(blob) // 2] ^= 0xFF
    with pytest.raises(AdapterFormatError, match="checksum"):
        Adapter.from_bytes(bytes(blob))
    with pytest.raises(AdapterFormatError, match="checksum"):
        Adapter.from_bytes(adapters[0].to_bytes()[:-100])
    with pytest.raises(AdapterFormatError, match="magic"):
        Adapter.from_bytes(b"not an adapter at all, clearly")


def test_broken_folder_is_a_clear_error(tmp_path):
    _, adapters = _adapters()
    folder = adapters[0].to_peft(tmp_path / "a")
    (folder / WEIGHTS_NAME).write_bytes((folder / WEIGHTS_NAME).read_bytes()[:200])
    with pytest.raises(AdapterFormatError, match="adapter"):
        Adapter.from_peft(folder)
    with pytest.raises(AdapterFormatError, match="cannot read"):
        Adapter.from_peft(tmp_path / "missing")


def test_rewriting_a_folder_replaces_it(tmp_path):
    _, adapters = _adapters()
    adapters[0].to_peft(tmp_path / "a")
    adapters[1].to_peft(tmp_path / "a")
    _same(Adapter.from_peft(tmp_path / "a"), adapters[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]  # no staging leftovers


def test_stack_rejects_mixed_adapters():
    _, plain = _adapters(use_rslora=False)
    _, rs = _adapters(use_rslora=True)
    with pytest.raises(ValueError, match="share"):
        Adapter.stack([plain[0], rs[0]])
