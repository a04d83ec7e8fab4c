"""The suite's number, list, sentence and multiple-choice ops and the output formats (training/suite)."""

from __future__ import annotations

import pytest

from training.suite import formats, ops_bigbench, ops_lists, ops_numbers, ops_sentences
from training.suite.core import Registry, check_ops
from training.tasks import bigbench_ready

from tests.helpers import op_named as _op, suite_registry

PLAIN = (ops_numbers, ops_lists, ops_sentences, formats)


def _registry(modules=PLAIN) -> Registry:
    return suite_registry(*modules)


needs_bigbench = pytest.mark.skipif(not bigbench_ready(), reason="no BIG-bench cache under $T2L_HOME/data: PyPI no "
                                    "longer serves the sdist (`t2l data prepare --sdist PATH` with a copy)")


@pytest.fixture(scope="module")
def reg() -> Registry:
    return _registry()


def test_check_ops_plain(reg):
    assert check_ops(reg.ops, reg.pools) == []
    assert len(reg.ops) >= 60
    for pool in reg.pools.values():
        assert 150 <= len(pool.items) <= 600 and len(set(pool.items)) == len(pool.items)


def test_descriptions_short_and_clauses_lowercase(reg):
    for op in reg.ops:
        assert all(len(d) < 200 for d in (*op.train, *op.eval)), op.name
        assert len(op.eval) >= 4, op.name
        if op.clauses:
            assert len(op.clauses) >= 4 and len(op.eval_clauses) >= 2, op.name
            assert all(c == c.lower() and not c.endswith(".") for c in (*op.clauses, *op.eval_clauses)), op.name


@needs_bigbench
def test_check_ops_with_bigbench():
    full = _registry((*PLAIN, ops_bigbench))
    assert check_ops(full.ops, full.pools) == []
    mc = full.pools["mc"]
    assert 150 <= len(mc.items) <= ops_bigbench.MAX_ITEMS
    assert sum(op.pool == "mc" for op in full.ops) >= 12
    assert sum(op.pool != "mc" for op in full.ops) >= 75


@pytest.mark.parametrize("name, x, expected", [
    ("number.in_words", "17", "seventeen"),
    ("number.in_words", "121", "one hundred and twenty-one"),
    ("number.ordinal_words", "21", "twenty-first"),
    ("number.ordinal_words", "12", "twelfth"),
    ("number.ordinal_suffix", "113", "113th"),
    ("number.ordinal_suffix", "22", "22nd"),
    ("number.roman", "14", "XIV"),
    ("number.roman", "999", "CMXCIX"),
    ("number.double", "17", "34"),
    ("number.half", "17", None),
    ("number.digit_sum", "482", "14"),
    ("number.is_prime", "97", "yes"),
    ("number.round_ten", "45", "50"),
    ("number.hexadecimal", "255", "FF"),
    ("number.pad_three", "7", "007"),
    ("list.num_sort_asc", "3, 1, 2", "1, 2, 3"),
    ("list.num_dedupe", "4, 9, 4, 2", "4, 9, 2"),
    ("list.num_range", "4, 9, 2", "7"),
    ("list.num_position_of_max", "4, 9, 2", "2"),
    ("list.word_join_and", "cat, dog, owl", "cat, dog and owl"),
    ("list.word_longest", "cat, elephant, dog", "elephant"),
    ("sentence.word_count", "Tom found the key.", "4"),
    ("sentence.acronym", "Tom found the key.", "TFTK"),
    ("sentence.reverse_words", "Tom found the key.", "key the found Tom"),
])
def test_hand_checked(reg, name, x, expected):
    assert _op(reg, name).answer(x) == expected


def test_sentence_slots(reg):
    x = next(s for s in reg.pools["sentence"].items if s.startswith("Did "))
    assert _op(reg, "sentence.kind").answer(x) == "question"
    assert _op(reg, "sentence.tense").answer(x) == "past"
    assert _op(reg, "sentence.first_word").answer(x) == "Did"


def test_number_words_match_num2words_if_installed():
    num2words = pytest.importorskip("num2words").num2words
    for n in range(1, 1000):
        assert ops_numbers.number_words(n) == num2words(n)
        assert ops_numbers.ordinal_words(n) == num2words(n, to="ordinal")


def test_mc_answers_on_a_rendered_item():
    text = ops_bigbench.render("Which is a fruit?", ("chair", "apple", "stone"))
    items = {text: (("chair", "apple", "stone"), 1)}
    got = {k: ops_bigbench._answer(items, fn)(text) for k, fn in ops_bigbench.ANSWERS.items()}
    assert text == "Which is a fruit?\nA) chair\nB) apple\nC) stone"
    assert got == {"letter": "B", "letter_lower": "b", "letter_paren": "(B)", "text": "apple", "text_upper": "APPLE",
                   "number": "2", "line": "B) apple", "is_a": "no", "first_wrong": "A", "count_options": "3",
                   "first_option": "chair", "last_option": "stone", "last_letter": "C", "longest_option": None}


def test_formats(reg):
    by = {f.name: f for f in reg.formats}
    assert len(by) >= 6
    expected = {"quotes": '"34"', "brackets": "[34]", "parentheses": "(34)", "upper": "34", "exclaim": "34!",
                "answer_prefix": "Answer: 34", "angle": "<34>", "stars": "*34*"}
    assert {k: by[k].apply("34") for k in expected} == expected
    assert by["upper"].apply("seventeen") == "SEVENTEEN"
    clauses = [c for f in reg.formats for c in (*f.clauses, *f.eval_clauses)]
    assert len(set(clauses)) == len(clauses)
    for f in reg.formats:
        assert len(f.clauses) >= 5 and len(f.eval_clauses) >= 2
        assert not set(f.clauses) & set(f.eval_clauses)


def test_deterministic():
    a, b = _registry(), _registry()
    assert a.pools == b.pools
    assert [(o.name, o.train, o.eval, o.clauses) for o in a.ops] == [(o.name, o.train, o.eval, o.clauses) for o in b.ops]
    for op in a.ops:
        xs = a.pools[op.pool].items[:50]
        assert [op.answer(x) for x in xs] == [_op(b, op.name).answer(x) for x in xs]


@needs_bigbench
def test_mc_pool_deterministic():
    assert ops_bigbench.load_items() == ops_bigbench.load_items()
