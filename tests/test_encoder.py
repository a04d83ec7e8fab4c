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
