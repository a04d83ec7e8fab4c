import pytest

from hypernet import DescriptionError, generate_adapters, load_checkpoint, normalize_description, save_checkpoint
from tests.helpers import HashingEncoder, tiny_hypernet, tiny_llama


def test_normalisation_collapses_whitespace_and_unicode_forms():
    assert normalize_description("  Answer\twith the\n\nantonym.  ") == "Answer with the antonym."
    assert normalize_description("ﬁnd the café") == "find the café"  # NFKC folds the ligature
    assert normalize_description("Keep CASE!") == "Keep CASE!"


@pytest.mark.parametrize("text, message", [
    ("", "empty"), ("   \n\t ", "empty"), ("x" * 2001, "2001 characters long; the limit is 2000"), (None, "string"),
])
def test_bad_descriptions_are_named(text, message):
    with pytest.raises(DescriptionError, match=message):
        normalize_description(text)


def test_generation_refuses_bad_descriptions_before_any_work(tmp_path):
    save_checkpoint(tmp_path / "c", tiny_hypernet(tiny_llama()), "tiny", "test/hashing")
    ckpt = load_checkpoint(tmp_path / "c")
    with pytest.raises(DescriptionError, match="empty"):
        generate_adapters(ckpt, HashingEncoder(), ["fine", "  "])
    with pytest.raises(DescriptionError, match="limit is 50"):
        generate_adapters(ckpt, HashingEncoder(), ["y" * 51], max_chars=50)
    with pytest.raises(ValueError, match="at least one"):
        generate_adapters(ckpt, HashingEncoder(), [])


def test_full_stop_and_reference_normalisation():
    import math

    import torch

    from hypernet import add_full_stop, normalize_embeddings

    assert add_full_stop(" Sort the list ") == "Sort the list."
    assert add_full_stop("Sort the list.") == "Sort the list."
    assert add_full_stop("Count to 3") == "Count to 3" and add_full_stop("Why?") == "Why?"
    x = torch.randn(4, 9)
    torch.testing.assert_close(normalize_embeddings(x, "l2_sqrt_d").norm(dim=-1), torch.full((4,), 3.0))
    torch.testing.assert_close(normalize_embeddings(x, "l2").norm(dim=-1), torch.ones(4))
    assert torch.equal(normalize_embeddings(x, "none"), x)
    assert math.isclose(float(normalize_embeddings(x, "l2_sqrt_d")[0, 0]), float(x[0, 0] / x[0].norm() * 3),
                        rel_tol=1e-6)


def test_encoder_spec_round_trip_and_reference_choices():
    from hypernet import EncoderSpec

    gte = EncoderSpec.reference("Alibaba-NLP/gte-large-en-v1.5")
    assert (gte.pooling, gte.add_full_stop, gte.normalize, gte.backend) == ("cls", True, "l2_sqrt_d", "transformers")
    assert EncoderSpec.reference("mistralai/Mistral-7B-Instruct-v0.2").pooling == "last_token"
    assert EncoderSpec.from_dict({**gte.to_dict(), "dim": 1024}) == gte
    assert EncoderSpec.from_dict({"name": "old", "dim": 384}) == EncoderSpec("old")  # pre-spec checkpoints
    with pytest.raises(ValueError, match="own \\(mean\\) pooling"):
        EncoderSpec("x", pooling="cls")
    with pytest.raises(ValueError, match="normalize"):
        EncoderSpec("x", normalize="l3")


@pytest.mark.parametrize("pooling", ["cls", "last_token", "mean"])
def test_transformers_encoder_pools_and_scales_like_the_reference(tmp_path, pooling):
    import math

    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from hypernet import EncoderSpec, make_encoder

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "sort", "the", "list", "count", "words"]
    (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n")
    BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt")).save_pretrained(tmp_path / "enc")
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(tmp_path / "enc")
    spec = EncoderSpec("test/bert", pooling=pooling, add_full_stop=True, normalize="l2_sqrt_d",
                       backend="transformers")
    encoder = make_encoder(str(tmp_path / "enc"), spec)
    assert encoder.dim == 16 and encoder.name == "test/bert"
    texts = ["Sort the list", "count  words."]
    emb = encoder.embed(texts)
    torch.testing.assert_close(emb.norm(dim=-1), torch.full((2,), 4.0))
    tok, model = encoder.tokenizer, encoder.model
    batch = tok(["Sort the list.", "count words."], padding=True, return_tensors="pt")  # full stop, normalised
    with torch.no_grad():
        states = model(**batch).last_hidden_state
    lengths = batch["attention_mask"].sum(1)
    pooled = {"cls": states[:, 0], "last_token": states[torch.arange(2), lengths - 1],
              "mean": (states * batch["attention_mask"][..., None]).sum(1) / lengths[:, None]}[pooling]
    want = torch.nn.functional.normalize(pooled, dim=-1) * math.sqrt(16)
    torch.testing.assert_close(emb, want, rtol=1e-5, atol=1e-5)


def test_pre_processing_follows_the_spec_and_old_specs_keep_ours():
    from hypernet import EncoderSpec

    raw = "  Ｓort\tthe  ﬁles…\n"
    reference = EncoderSpec.reference("Alibaba-NLP/gte-large-en-v1.5")
    assert (reference.unicode_form, reference.collapse_whitespace) == ("none", False)
    assert normalize_description(raw, spec=reference) == "Ｓort\tthe  ﬁles…"  # as given, ends stripped
    old = EncoderSpec.from_dict({"name": "old", "pooling": "mean", "add_full_stop": False, "normalize": "l2",
                                 "backend": "sentence-transformers", "dim": 384})  # written before the fields
    assert (old.unicode_form, old.collapse_whitespace) == ("NFKC", True)
    assert normalize_description(raw, spec=old) == normalize_description(raw) == "Sort the files..."
    assert EncoderSpec.from_dict(reference.to_dict()) == reference
    with pytest.raises(DescriptionError, match="empty"):
        normalize_description(" \n ", spec=reference)
    with pytest.raises(ValueError, match="unicode_form must be NFKC or none"):
        EncoderSpec("x", unicode_form="NFC")


def test_the_shipped_checkpoint_keeps_its_pre_processing_and_digest():
    import json
    from pathlib import Path

    folder = Path(__file__).parents[1] / "checkpoints" / "t2l-smollm2-135m-sft-L"
    ckpt = load_checkpoint(folder)  # verifies the digest its hypernet.json records
    assert ckpt.digest == json.loads((folder / "hypernet.json").read_text())["digest"]
    assert "unicode_form" not in json.loads((folder / "hypernet.json").read_text())["encoder"]
    raw = "  Ｓort\tthe  ﬁles…\n"
    assert normalize_description(raw, spec=ckpt.embedding) == normalize_description(raw) == "Sort the files..."


def test_generation_refuses_an_encoder_that_embeds_differently_from_the_checkpoint(tmp_path):
    from hypernet import EncoderSpec, embed_descriptions

    save_checkpoint(tmp_path / "c", tiny_hypernet(tiny_llama()), "tiny", "test/hashing")
    ckpt = load_checkpoint(tmp_path / "c")

    class Spec(HashingEncoder):
        spec = EncoderSpec("elsewhere/hashing", add_full_stop=True)

    with pytest.raises(ValueError, match="embeds differently from the checkpoint \\(add_full_stop True vs False\\)"):
        embed_descriptions(ckpt, Spec(), ["Sort the list."])
    Spec.spec = EncoderSpec("elsewhere/hashing")  # a local copy under another name is the same encoder
    assert embed_descriptions(ckpt, Spec(), ["Sort the list."])[1].shape == (1, 16)


def test_reference_spec_embeds_the_text_as_the_reference_does(tmp_path):
    """The reference's path (utils.embed_texts with preprocessing.add_full_stop, cls pooling, L2 x sqrt(d)) on the
    raw description, written out here; NFKC would give other tokens and so another embedding."""
    import math
    import unicodedata

    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    from hypernet import EncoderSpec, make_encoder

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "sort", "the", "list", "count", "words", "ｓort"]
    BertTokenizer(vocab={w: i for i, w in enumerate(words)}).save_pretrained(tmp_path / "enc")  # 'ｓort' != 'sort'
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(tmp_path / "enc")
    encoder = make_encoder(str(tmp_path / "enc"), EncoderSpec.reference("test/gte-tiny"))
    raw = ["  Ｓort the list ", "count\u3000words"]

    def reference(texts):
        def add_full_stop(s):  # the reference's rule, as its preprocessing.py writes it
            s = s.strip()
            return s + "." if s[-1].isalpha() else s

        batch = encoder.tokenizer([add_full_stop(t) for t in texts], truncation=True, padding=True,
                                  max_length=2**13, return_tensors="pt")
        with torch.no_grad():
            pooled = encoder.model(**batch).last_hidden_state[:, 0].float()
        return torch.nn.functional.normalize(pooled) * math.sqrt(pooled.shape[-1])

    got = encoder.embed(raw)
    torch.testing.assert_close(got, reference(raw), rtol=1e-5, atol=1e-5)
    folded = reference([unicodedata.normalize("NFKC", t) for t in raw])
    assert not torch.allclose(got[0], folded[0], rtol=1e-5, atol=1e-5)  # the check tells the two apart
