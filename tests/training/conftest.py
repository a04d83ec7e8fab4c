"""Tiny in-process pieces for the training tests: a 2-layer Llama with SmolLM2's tokenizer, toy tasks."""

from __future__ import annotations

from pathlib import Path

import pytest


def toy_task(name: str, family: str, pairs, choices=None, kind: str | None = None):
    """A Task with 8 distinct phrasings (5 train + 3 eval) and examples from (input, target) pairs."""
    from training.tasks import Example, Task

    examples = tuple(Example(i, (t,), tuple(choices) if choices else None,
                             tuple(float(c == t) for c in choices) if choices else None) for i, t in pairs)
    descriptions = tuple(f"{name} phrasing {k}: map each input of the {family} family" for k in range(8))
    return Task(name, family, kind or ("multiple_choice" if choices else "generative"),
                "multiple_choice_grade" if choices else "exact_str_match", ("toy",), descriptions, examples, name)


@pytest.fixture(scope="session")
def toy_tasks():
    """Three toy tasks in two families: two generative, one multiple choice."""
    words = ["cat", "dog", "box", "fox", "hat", "pen", "cup", "map", "bus", "jar", "kit", "log"]
    return [
        toy_task("upper", "casing", [(w, w.upper()) for w in words]),
        toy_task("double", "casing", [(w, w + w) for w in words]),
        toy_task("animal", "judging", [(f"Is {w} an animal?", "yes" if w in ("cat", "dog", "fox") else "no")
                                       for w in words], choices=("yes", "no")),
    ]


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory):
    """(folder, model, tokenizer): a seeded 2-layer, 32-wide Llama with a byte-level tokenizer built in process
    (ChatML-like chat template, <|im_end|> as EOS), so these tests need no prepared base model.
    initializer_range 0.3 (HF: 0.02) gives logits room to move, so "the hypernet learns" is testable at this size."""
    from transformers import AutoTokenizer

    from tests.helpers import tiny_llama, tiny_tokenizer

    folder = Path(tmp_path_factory.mktemp("tiny-lm"))
    tokenizer = tiny_tokenizer()
    vocab = len(tokenizer)
    tiny_llama(vocab_size=vocab, max_position_embeddings=1024, initializer_range=0.3).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    model = tiny_llama(vocab_size=vocab, max_position_embeddings=1024, initializer_range=0.3).requires_grad_(False)
    return folder, model, AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="session")
def smol_lm(tmp_path_factory):
    """tiny_lm's model with the real SmolLM2 tokenizer and chat template (needs the prepared base model: tests using
    it are `slow`), for the properties that depend on that tokenizer (its default system prompt, its merges)."""
    from transformers import AutoTokenizer

    from ground.assets import prepare_base_model
    from tests.helpers import tiny_llama

    folder = Path(tmp_path_factory.mktemp("smol-lm"))
    tiny_llama(vocab_size=49152, max_position_embeddings=512, initializer_range=0.3).save_pretrained(folder)
    AutoTokenizer.from_pretrained(prepare_base_model()).save_pretrained(folder)
    model = tiny_llama(vocab_size=49152, max_position_embeddings=512, initializer_range=0.3).requires_grad_(False)
    return folder, model, AutoTokenizer.from_pretrained(folder)
