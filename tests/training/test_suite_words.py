"""Word, country and US-state ops of the description-necessary suite (training/suite/ops_words.py, ops_countries.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("inflect")
pytest.importorskip("lemminflect")
pytest.importorskip("pronouncing")
pytest.importorskip("wordfreq")
pytest.importorskip("countryinfo")
pytest.importorskip("pycountry")
pytest.importorskip("us")

from training.suite import ops_countries, ops_words  # noqa: E402
from training.suite.core import Registry, check_ops  # noqa: E402

from tests.helpers import op_named as _op, suite_registry  # noqa: E402


def _registry() -> Registry:
    return suite_registry(ops_words, ops_countries)


@pytest.fixture(scope="module")
def reg() -> Registry:
    return _registry()


def test_check_ops_clean_and_enough_ops(reg):
    assert check_ops(reg.ops, reg.pools) == []
    assert len(reg.ops) >= 80
    for op in reg.ops:
        assert len(set(op.train)) >= 12 and len(set(op.eval)) >= 4, op.name
        assert all(len(d) < 200 for d in (*op.train, *op.eval)), op.name
        if op.clauses:
            assert len(set(op.clauses)) >= 4 and len(set(op.eval_clauses)) >= 2, op.name
    assert sum(bool(op.clauses) for op in reg.ops) >= len(reg.ops) // 3


def test_pools_sizes_and_lowercase_words(reg):
    words = reg.pools["word"].items
    assert 150 <= len(words) <= 500 and len(set(words)) == len(words)
    assert all(w.isalpha() and w.islower() for w in words)
    assert 150 <= len(reg.pools["country"].items) <= 500
    assert len(reg.pools["us_state"].items) == 51


@pytest.mark.parametrize("name, x, expected", [
    ("word.plural", "mouse", "mice"),
    ("word.plural", "child", "children"),
    ("word.past", "eat", "ate"),
    ("word.present_perfect", "write", "have written"),
    ("word.gerund", "begin", "beginning"),
    ("word.third_person", "teach", "teaches"),
    ("word.comparative", "big", "bigger"),
    ("word.superlative", "happy", "happiest"),
    ("word.comparative", "beautiful", "more beautiful"),
    ("word.with_article", "hour", "an hour"),
    ("word.syllables", "beautiful", "3"),
    ("word.length", "mouse", "5"),
    ("word.vowels", "mouse", "3"),
    ("word.reverse", "mouse", "esuom"),
    ("word.sorted", "mouse", "emosu"),
    ("word.alphabet_position", "mouse", "13"),
    ("word.pos", "eat", "verb"),
    ("word.is_adjective", "happy", "yes"),
    ("word.irregular_verb", "eat", "yes"),
    ("country.capital", "France", "Paris"),
    ("country.alpha3", "Germany", "DEU"),
    ("country.currency", "Japan", "Yen"),
    ("country.calling_code", "France", "+33"),
    ("country.region", "Nigeria", "Africa"),
    ("country.has_neighbours", "Japan", "no"),
    ("country.first_neighbour", "France", "Andorra"),
    ("country.north_south", "Brazil", "southern"),
    ("state.abbr", "Ohio", "OH"),
    ("state.capital", "Texas", "Austin"),
    ("state.statehood_year", "Hawaii", "1959"),
])
def test_known_answers(reg, name, x, expected):
    assert x in reg.pools[_op(reg, name).pool].items
    assert _op(reg, name).answer(x) == expected


def test_undefined_outside_part_of_speech(reg):
    assert _op(reg, "word.plural").answer("eat") is None
    assert _op(reg, "word.past").answer("mouse") is None
    assert _op(reg, "word.superlative").answer("eat") is None


def test_deterministic(reg):
    again = _registry()
    assert again.pools == reg.pools
    assert [op.name for op in again.ops] == [op.name for op in reg.ops]
    for a, b in zip(reg.ops, again.ops):
        items = reg.pools[a.pool].items
        assert [a.answer(x) for x in items] == [b.answer(x) for x in items], a.name
        assert (a.train, a.eval, a.clauses, a.eval_clauses) == (b.train, b.eval, b.clauses, b.eval_clauses)


def test_ops_on_a_pool_differ(reg):
    """Every pair of ops on the same pool gives different answers on most inputs where both are defined
    (except pairs of yes/no or other small-answer-set ops, which may agree by chance)."""
    for pool in reg.pools.values():
        ops = [op for op in reg.ops if op.pool == pool.name]
        answers = {op.name: {x: op.answer(x) for x in pool.items} for op in ops}
        for i, a in enumerate(ops):
            for b in ops[i + 1:]:
                both = [x for x in pool.items if answers[a.name][x] is not None and answers[b.name][x] is not None]
                if len(both) < 8:
                    continue
                values = {v for op in (a, b) for v in answers[op.name].values() if v is not None}
                if len(values) <= 30:  # small answer sets (yes/no, counts, letters) may coincide often
                    continue
                same = sum(answers[a.name][x] == answers[b.name][x] for x in both)
                assert same <= 0.5 * len(both), (a.name, b.name, same, len(both))


def test_inputs_get_several_distinct_answers(reg):
    """The point of the suite: one input, many different answers under different descriptions."""
    for pool_name, x in (("word", "mouse"), ("word", "eat"), ("country", "France"), ("us_state", "Ohio")):
        answers = [op.answer(x) for op in reg.ops if op.pool == pool_name]
        defined = [a for a in answers if a is not None]
        assert len(set(defined)) >= 5, (x, defined)
