"""The operator README's numbers (deploy/README.md): Redis memory per adapter from the code's own shapes."""

from __future__ import annotations

from tests.deploy.helpers import DEPLOY


def lora_bytes(config, rank: int = 8) -> int:
    from hypernet import targets_from_config

    return sum(rank * (t.in_features + t.out_features) for t in targets_from_config(config, ("q_proj", "v_proj"))) * 4


def test_readme_redis_numbers_match_the_code():
    from transformers import LlamaConfig, MistralConfig

    smol = LlamaConfig(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                       num_key_value_heads=3, vocab_size=49152, tie_word_embeddings=True)
    mistral = MistralConfig(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                            num_key_value_heads=8, vocab_size=32000)
    readme = (DEPLOY / "README.md").read_text()
    smol_bytes, mistral_bytes = lora_bytes(smol), lora_bytes(mistral)
    assert smol_bytes == 1_843_200 and f"{smol_bytes:,} B" in readme
    assert mistral_bytes == 32 * (8 * (4096 + 4096) + 8 * (4096 + 1024)) * 4 == 13_631_488
    assert f"{mistral_bytes:,} B" in readme
    for text in ("**2.11 GB (1.96 GiB)**", "**15.0 GB (13.97 GiB)**", "new cache namespace",
                 "prometheus-adapter", "nvidia.com/gpu"):
        assert text in readme, text
