"""The everyday evaluation set (training/everyday): structure, answers recomputed independently, and no overlap with
the suite's training data or the published showcase rows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from training.everyday import FAMILY, TASKS_PATH, load_everyday, read_everyday

ROOT = Path(__file__).resolve().parents[2]
SUITE_DESCRIPTIONS = ROOT / "training" / "suite" / "descriptions"
DOCS_EXAMPLES = ROOT / "docs" / "examples.json"


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return read_everyday()


@pytest.fixture(scope="module")
def by_name(records) -> dict[str, dict]:
    return {r["name"]: r for r in records}


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


# ---- structure ---------------------------------------------------------------------------------------------------
def test_file_loads_with_enough_tasks_and_inputs(records):
    raw = json.loads(TASKS_PATH.read_text(encoding="utf-8"))
    assert raw == records
    assert len(records) >= 20
    names = [r["name"] for r in records]
    assert len(set(names)) == len(names), "a task name repeats"
    for r in records:
        assert set(r) == {"name", "wordings", "examples"}, r["name"]
        wordings = r["wordings"]
        assert len(wordings) == 2 and len(set(wordings)) == 2, r["name"]
        assert all(w == w.strip() and w for w in wordings), r["name"]
        inputs = [e["input"] for e in r["examples"]]
        assert len(inputs) >= 10 and len(set(inputs)) == len(inputs), r["name"]
        for e in r["examples"]:
            assert set(e) == {"input", "targets"}, (r["name"], e)
            assert e["input"].strip() == e["input"] and e["input"], (r["name"], e)
            targets = e["targets"]
            assert targets and all(isinstance(t, str) and t.strip() for t in targets), (r["name"], e)
            assert all(t == t.strip() for t in targets) and len(set(targets)) == len(targets), (r["name"], e)
    wordings = [w for r in records for w in r["wordings"]]
    assert len(set(map(_norm, wordings))) == len(wordings), "two tasks share a wording"


def test_load_everyday_builds_evaluation_tasks(records):
    tasks = load_everyday()
    assert [t.name for t in tasks] == [f"everyday:{r['name']}" for r in records]
    for task, r in zip(tasks, records):
        assert task.family == FAMILY == "everyday"
        assert task.kind == "generative" and task.metric == "exact_str_match"
        assert task.train_descriptions == () and task.eval_descriptions == tuple(r["wordings"])
        want = [(e["input"], tuple(e["targets"])) for e in r["examples"]]
        assert [(e.input, e.targets) for e in task.examples] == want
        assert all(e.choices is None for e in task.examples)
        assert task.chance() == 0.0


def test_bad_files_are_refused(tmp_path):
    good = {"name": "x", "wordings": ["Do x.", "Please do x."], "examples": [{"input": "a", "targets": ["b"]}]}
    for bad in ([good, good], [{**good, "wordings": ["Do x.", "Do x."]}],
                [{**good, "examples": [{"input": "a", "targets": [""]}]}], [{**good, "examples": []}]):
        path = tmp_path / "tasks.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(ValueError):
            load_everyday(path)


# ---- answers, recomputed here ------------------------------------------------------------------------------------
_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
         "seventeen eighteen nineteen").split()
_TENS = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty", 6: "sixty", 7: "seventy", 8: "eighty", 9: "ninety"}


def _in_words(n: int) -> str:
    assert 0 <= n < 1000
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("-" + _ONES[n % 10] if n % 10 else "")
    return _ONES[n // 100] + " hundred" + (" and " + _in_words(n % 100) if n % 100 else "")


def _roman(n: int) -> str:
    """Digit by digit from a table (not the suite's greedy loop)."""
    assert 0 < n < 4000
    tables = (("", "M", "MM", "MMM"), ("", "C", "CC", "CCC", "CD", "D", "DC", "DCC", "DCCC", "CM"),
              ("", "X", "XX", "XXX", "XL", "L", "LX", "LXX", "LXXX", "XC"),
              ("", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX"))
    digits = f"{n:04d}"
    return "".join(table[int(d)] for table, d in zip(tables, digits))


def _items(x: str) -> list[str]:
    return x.split(", ")


def _year(s: str) -> str:
    numbers = re.findall(r"\d+", s)
    assert len(numbers) == 1 and len(numbers[0]) == 4, s  # exactly one number in the sentence, a year
    return numbers[0]


COMPUTED = {  # task -> the canonical (first) target, computed from the input
    "uppercase": str.upper,
    "lowercase": str.lower,
    "first_letter": lambda w: w[0],
    "reverse_word": lambda w: w[::-1],
    "letter_count": lambda w: str(len(w)),
    "word_count": lambda s: str(len(s.split())),
    "number_in_words": lambda x: _in_words(int(x)),
    "roman_numeral": lambda x: _roman(int(x)),
    "add_one": lambda x: str(int(x) + 1),
    "double": lambda x: str(int(x) * 2),
    "is_even": lambda x: "yes" if int(x) % 2 == 0 else "no",
    "sort_ascending": lambda x: ", ".join(map(str, sorted(int(v) for v in _items(x)))),
    "reverse_list": lambda x: ", ".join(_items(x)[::-1]),
    "first_item": lambda x: _items(x)[0],
    "last_item": lambda x: _items(x)[-1],
    "count_items": lambda x: str(len(_items(x))),
    "year_in_sentence": _year,
}


def test_roman_and_words_helpers_themselves():
    assert [_roman(n) for n in (1, 4, 9, 14, 40, 90, 400, 944, 1994, 2024, 3999)] == \
        ["I", "IV", "IX", "XIV", "XL", "XC", "CD", "CMXLIV", "MCMXCIV", "MMXXIV", "MMMCMXCIX"]
    assert [_in_words(n) for n in (0, 13, 40, 99, 100, 105, 342)] == \
        ["zero", "thirteen", "forty", "ninety-nine", "one hundred", "one hundred and five",
         "three hundred and forty-two"]


@pytest.mark.parametrize("name", sorted(COMPUTED))
def test_mechanical_answers_are_right(by_name, name):
    assert name in by_name, f"the set lost its {name} task"
    wrong = [(e["input"], e["targets"][0], COMPUTED[name](e["input"])) for e in by_name[name]["examples"]
             if e["targets"][0] != COMPUTED[name](e["input"])]
    assert not wrong, wrong


def test_number_words_accept_only_spelling_variants(by_name):
    for e in by_name["number_in_words"]["examples"]:
        canonical = _in_words(int(e["input"]))
        variants = {canonical, canonical.replace(" and ", " "), canonical.replace("-", " "),
                    canonical.replace(" and ", " ").replace("-", " ")}
        assert set(e["targets"]) == variants, e


def test_word_inputs_are_lower_case_words(by_name):
    for name in ("plural", "past_tense", "opposite", "first_letter", "reverse_word", "letter_count", "is_animal"):
        for e in by_name[name]["examples"]:
            assert e["input"].isalpha() and e["input"].islower(), (name, e)
            if name != "letter_count":
                assert all(t.isalpha() and t.islower() for t in e["targets"]), (name, e)
    for e in by_name["uppercase"]["examples"]:
        assert e["input"] != e["input"].upper()
    for e in by_name["lowercase"]["examples"]:
        assert e["input"] != e["input"].lower()


@pytest.mark.parametrize("name, labels", [("sentiment", {"positive", "negative"}), ("is_animal", {"yes", "no"}),
                                          ("is_even", {"yes", "no"})])
def test_label_tasks_use_their_labels_both_ways(by_name, name, labels):
    answers = [e["targets"] for e in by_name[name]["examples"]]
    assert all(len(a) == 1 and a[0] in labels for a in answers), answers
    counts = {label: sum(a[0] == label for a in answers) for label in labels}
    assert min(counts.values()) >= 4, counts  # a constant answer cannot score well


def test_state_codes_match_the_us_package(by_name):
    us = pytest.importorskip("us")
    for e in by_name["state_abbreviation"]["examples"]:
        assert e["targets"] == [us.states.lookup(e["input"]).abbr], e


def test_capitals_and_continents_match_countryinfo(by_name):
    countryinfo = pytest.importorskip("countryinfo")
    for e in by_name["country_capital"]["examples"]:
        assert e["targets"][0] == countryinfo.CountryInfo(e["input"]).capital(), e
    for e in by_name["country_continent"]["examples"]:
        region = countryinfo.CountryInfo(e["input"]).region()  # "Americas" for both Americas: checked by hand
        assert e["targets"][0] == region or (region == "Americas" and e["targets"][0].endswith(" America")), e


def test_plurals_and_past_tenses_match_inflect_and_lemminflect(by_name):
    inflect = pytest.importorskip("inflect")
    lemminflect = pytest.importorskip("lemminflect")
    engine = inflect.engine()
    for e in by_name["plural"]["examples"]:
        assert e["targets"][0] == engine.plural_noun(e["input"]), e
    for e in by_name["past_tense"]["examples"]:
        assert e["targets"][0] == lemminflect.getInflection(e["input"], "VBD")[0], e


# ---- unseen: no overlap with the suite or the showcase -----------------------------------------------------------
def _suite_description_lines() -> set[str]:
    out = set()
    for path in SUITE_DESCRIPTIONS.glob("*.txt"):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#") and line != "--":
                out.add(_norm(line))
    return out


def test_no_wording_is_a_suite_description(records):
    suite = _suite_description_lines()
    assert len(suite) > 1000
    same = [w for r in records for w in r["wordings"] if _norm(w) in suite]
    assert not same, same


def test_nothing_from_the_published_showcase(records):
    if not DOCS_EXAMPLES.is_file():
        pytest.skip("no docs/examples.json")
    rows = json.loads(DOCS_EXAMPLES.read_text())["rows"]
    shown_descriptions = {_norm(r["description"]) for r in rows}
    shown_inputs = {r["input"] for r in rows}
    assert not [w for r in records for w in r["wordings"] if _norm(w) in shown_descriptions]
    assert not [e["input"] for r in records for e in r["examples"] if e["input"] in shown_inputs]


def test_no_input_is_a_suite_training_input(records):
    """No everyday input is in the training half of any suite pool, so no training example (plain op or op x format)
    has an everyday input, let alone with the same answer. (The BIG-bench items need the BIG-bench cache and are
    long multiple-choice prompts; they are left out.)"""
    for package in ("inflect", "lemminflect", "pronouncing", "wordfreq", "countryinfo", "pycountry", "us"):
        pytest.importorskip(package)
    from training.suite.build import build_registry

    reg = build_registry(modules=("ops_words", "ops_countries", "ops_numbers", "ops_lists", "ops_sentences"),
                         with_bigbench=False)
    trained = {x: pool.name for pool in reg.pools.values() for x in pool.half("train")}
    seen = [(r["name"], e["input"], trained[e["input"]]) for r in records for e in r["examples"]
            if e["input"] in trained]
    assert not seen, seen


def test_by_wording_scores_every_input_under_each_wording_and_the_gap_is_per_task():
    from training.everyday import by_wording, load_everyday, wording_gaps

    tasks = load_everyday()
    split = by_wording(tasks)
    assert len(split) == 2 * len(tasks)
    first, second = split[0], split[1]
    assert (first.name, second.name) == (tasks[0].name + "#1", tasks[0].name + "#2")
    assert first.examples == second.examples == tasks[0].examples
    assert first.eval_descriptions == (tasks[0].descriptions[0],) and second.eval_descriptions == (
        tasks[0].descriptions[1],)
    gaps = wording_gaps({"a#1": 50.0, "a#2": 0.0, "b#1": 10.0, "b#2": 30.0, "c#1": 5.0})  # c: one wording only
    assert gaps == {"tasks": 2, "wording_1": 30.0, "wording_2": 15.0, "mean_gap": 35.0, "max_gap": 50.0}


def test_the_other_task_control_never_picks_the_same_task_under_its_other_wording():
    from training.eval_run import other_description
    from training.everyday import by_wording, load_everyday

    tasks = by_wording(load_everyday())
    pick = other_description(tasks, seed=0)
    wordings: dict[str, set[str]] = {}
    for t in tasks:
        wordings.setdefault(t.name.partition("#")[0], set()).update(t.descriptions)
    for t in tasks:
        assert all(pick(t, i) not in wordings[t.name.partition("#")[0]] for i in range(12))
