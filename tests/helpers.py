"""In-process tiny models for tests: nothing is downloaded."""

from __future__ import annotations

import hashlib
from typing import Sequence

import torch
from torch import Tensor

from hypernet import HyperConfig, HyperLoRA, normalize_description, targets_from_model


def tiny_llama_config(**overrides):
    from transformers import LlamaConfig

    base = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, vocab_size=128, max_position_embeddings=64, tie_word_embeddings=False)
    return LlamaConfig(**{**base, **overrides})


def tiny_llama(seed: int = 0, **overrides):
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    return LlamaForCausalLM(tiny_llama_config(**overrides)).eval()


class HashingEncoder:
    """Deterministic TaskEncoder: word hashes -> fixed random vectors, summed and unit-normalised."""

    def __init__(self, dim: int = 16, name: str = "test/hashing") -> None:
        self.dim, self.name = dim, name

    def _word(self, word: str) -> Tensor:
        seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
        return torch.randn(self.dim, generator=torch.Generator().manual_seed(seed))

    def embed(self, texts: Sequence[str]) -> Tensor:
        return self.embed_normalized([normalize_description(t) for t in texts])

    def embed_normalized(self, texts: Sequence[str]) -> Tensor:
        """For texts normalised by the caller, as the real encoders offer (hypernet.encoder.embed_normalized)."""
        rows = [torch.stack([self._word(w) for w in t.lower().split()]).sum(0) for t in texts]
        out = torch.stack(rows)
        return out / out.norm(dim=-1, keepdim=True)


def tiny_hypernet(model, variant: str = "L", seed: int = 0, head_noise: float = 0.0, **config) -> HyperLoRA:
    """A HyperLoRA for `model`; head_noise > 0 replaces head weights so adapters are non-zero and task-dependent."""
    torch.manual_seed(seed)
    cfg = HyperConfig(**{"variant": variant, "embed_dim": 16, "latent_size": 16, "head_in_size": 32, **config})
    net = HyperLoRA(cfg, targets_from_model(model, cfg.target_modules)).eval()
    if head_noise:
        with torch.no_grad():
            for head in net.heads.values():
                head.weight.normal_(0.0, head_noise)
    return net


CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def tiny_tokenizer():
    """A byte-level tokenizer built in process (one token per byte, no merges) with ChatML-like special tokens and
    chat template: prompts tokenise as the real ones do, without any model files."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tok = Tokenizer(models.BPE({c: i for i, c in enumerate(alphabet)}, []))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>",
                                   additional_special_tokens=["<|im_start|>"])
    fast.chat_template = CHAT_TEMPLATE
    return fast


def suite_registry(*modules):
    """A suite Registry with just these op modules registered (training/suite/ops_*.py, formats)."""
    from training.suite.core import Registry

    reg = Registry()
    for module in modules:
        module.register(reg)
    return reg


def op_named(reg, name: str):
    return next(op for op in reg.ops if op.name == name)
