"""bench.reference_path: the reference's per-request path (PEFT folder + PeftModel) on a tiny Llama, and the table."""

import torch

from bench.reference_path import ReferencePathConfig, markdown, reference_request, summarise
from hypernet import generate_adapters
from hypernet.checkpoint import Checkpoint
from hypernet.refine import greedy_answers
from tests.helpers import HashingEncoder, tiny_hypernet, tiny_llama


def test_the_reference_path_answers_as_our_injection_does_and_leaves_the_base_as_it_was(tmp_path):
    """PEFT folder -> PeftModel.from_pretrained -> generate gives the greedy tokens our own injection gives for the
    same adapter (an independent path to the same LoRA), and unloading restores the base's logits."""
    base = tiny_llama(eos_token_id=127)
    ckpt = Checkpoint(tiny_hypernet(base, head_noise=0.5), "tiny-llama", "test/hashing", "0" * 64)
    encoder, ids = HashingEncoder(), [5, 9, 17, 3, 40]
    probe = torch.tensor([ids])
    with torch.no_grad():
        before = base(probe).logits.clone()
    row = reference_request(base, encoder, ckpt, "Repeat the last token.", ids, 6, tmp_path / "peft")
    adapter = generate_adapters(ckpt, encoder, ["Repeat the last token."])[0]
    ours = greedy_answers(base, adapter, [ids], 6, stop_ids=[127])[0]
    plain = greedy_answers(base, None, [ids], 6, stop_ids=[127])[0]
    assert len(ours) == 6 and row["ids"] == ours and ours != plain  # the LoRA mattered, and PEFT applied it alike
    with torch.no_grad():
        torch.testing.assert_close(base(probe).logits, before, rtol=0, atol=0)
    assert not any("lora" in name for name, _ in base.named_modules())
    assert 0 < row["first_token_ms"] < row["last_token_ms"] and (tmp_path / "peft" / "adapter_config.json").is_file()


def test_the_summary_gives_medians_per_side_and_phase_and_their_ratios():
    def rows(scale):
        return [{"phase": phase, "first_token_ms": scale * (10 + i), "last_token_ms": scale * (100 + i),
                 "adapter_ms": 1.0, "load_ms": 2.0} for phase in ("new", "repeated") for i in range(3)]

    result = summarise(ReferencePathConfig(n=3), rows(4.0), {"engine": "hf", "settings": {},
                                                             "differs_from_served": {}, "rows": rows(1.0)})
    assert result["table"]["ours"]["new"]["first_token_ms"]["median_ms"] == 11.0
    assert result["reference_over_ours"] == {"new": {"first_token_ms": 4.0, "last_token_ms": 4.0},
                                             "repeated": {"first_token_ms": 4.0, "last_token_ms": 4.0}}
    text = markdown(result)
    assert "| new | reference | 44 (40-48) | 404 (400-408) |" in text and "| repeated | 4.0x | 4.0x |" in text
