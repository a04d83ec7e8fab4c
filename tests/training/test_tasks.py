"""BIG-bench task library: parsing and templating on a tiny fake archive built here; the committed split's
properties; and (slow) the real bigbench sdist, downloaded once into T2L_HOME."""

from __future__ import annotations

import gzip
import io
import json
import statistics
import sys
import tarfile
import time
from pathlib import Path

import pytest

from training import bigbench_source as source
from training import tasks
from training.tasks import BigBenchError, TaskConfig

ROOT = "bigbench-1.0.0/bigbench/benchmark_tasks/"
SMALL = TaskConfig(max_examples_per_task=10, max_input_chars=120, min_examples=2)


def mc(question: str, right: str, *wrong: str) -> dict:
    # Right answer listed first, as many BIG-bench files do: the cache must not keep that order.
    return {"input": question, "target_scores": {right: 1, **{w: 0 for w in wrong}}}


def fake_tasks() -> dict[str, dict]:
    """Relative dir -> task.json content: one of each shape the parser must handle."""
    return {
        "plural_words": {
            "name": "plural_words", "description": "Give the plural of an English noun",
            "keywords": ["zero-shot", "morphology", "linguistics"], "task_prefix": "Write the plural form.",
            "example_input_prefix": "Noun: ", "example_output_prefix": "\nPlural:",
            "preferred_score": "exact_str_match",
            "examples": [{"input": "cat", "target": "cats"}, {"input": "mouse", "target": ["mice", "mouses"]},
                         {"input": "dog", "target": ""}, {"input": "x" * 500, "target": "long"},
                         {"input": "box", "target": "boxes"}, {"input": 7, "target": "bad input type"}],
        },
        "yes_no": {
            "name": "yes_no", "description": "Say whether the statement is true", "keywords": ["common sense"],
            "preferred_score": "multiple_choice_grade", "append_choices_to_input": False,
            "examples": [mc(f"Is {i} even?", "yes" if i % 2 == 0 else "no", "no" if i % 2 == 0 else "yes",
                            "maybe") for i in range(40)] + [{"input": "no choices", "target": "x"}],
        },
        "sums": {"name": "sums", "description": "Add numbers", "keywords": ["arithmetic"]},
        "sums/one_digit": {
            "name": "one_digit", "description": "One-digit addition", "keywords": ["arithmetic"],
            "examples": [{"input": f"{i} + {i} =", "target": str(2 * i)} for i in range(50)],
        },
        "sums/two_digit": {
            "name": "two_digit", "description": "Add numbers", "keywords": ["arithmetic"],
            "examples": [{"input": f"{i} + 10 =", "target": str(i + 10)} for i in range(10, 20)],
        },
        "hindi_riddles": {
            "name": "hindi_riddles", "description": "Answer riddles", "keywords": ["riddle"],
            "examples": [{"input": "पहेली का उत्तर दो", "target": "उत्तर"}] * 3,
        },
        "proverbs_fr": {
            "name": "proverbs_fr", "description": "Match French proverbs", "keywords": ["non-English"],
            "examples": [{"input": "Qui vivra verra", "target": "time will tell"}] * 3,
        },
        "word_sorting": {  # a BIG-Bench Hard family
            "name": "word_sorting", "description": "Sort a list of words", "keywords": ["algorithms"],
            "examples": [{"input": "b a", "target": "a b"}] * 3,
        },
        "plural_words_copy": {  # a different family with the same description as a held-out one
            "name": "plural_words_copy", "description": "Give the plural of an English noun", "keywords": [],
            "examples": [{"input": "hat", "target": "hats"}] * 3,
        },
        "no_examples": {"name": "no_examples", "description": "Nothing here", "keywords": [], "examples": []},
    }


def make_archive(path: Path, task_dirs: dict[str, dict]) -> Path:
    """A tar.gz laid out like the bigbench sdist, plus a programmatic task (task.py, no task.json) and noise."""
    files = {ROOT + rel + "/task.json": json.dumps(raw).encode() for rel, raw in task_dirs.items()}
    files[ROOT + "programmatic_game/task.py"] = b"print('not a json task')\n"
    files["bigbench-1.0.0/setup.py"] = b"# not a task\n"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def fake_home(tmp_path, monkeypatch):
    """T2L_HOME holding a fake sdist whose digest the code is told to expect."""
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    archive = make_archive(home / "data" / source.SDIST, fake_tasks())
    monkeypatch.setattr(source, "SDIST_SHA256", source.sha256_file(archive))
    return home


def load(home: Path, *names: str, config: TaskConfig = SMALL):
    return {t.name: t for t in tasks.load_named_tasks(names, home, config)}


# ---------------------------------------------------------------------------------------------------- parsing

def test_archive_becomes_one_cached_task_per_json_task(fake_home):
    index = tasks.load_index(fake_home, SMALL)
    assert set(index["tasks"]) == {"plural_words", "yes_no", "sums:one_digit", "sums:two_digit", "hindi_riddles",
                                   "proverbs_fr", "word_sorting", "plural_words_copy"}  # no programmatic, no empty
    assert index["tasks"]["sums:one_digit"]["family"] == "sums"
    assert index["families"]["sums"]["description"] == "Add numbers"
    assert index["sdist_sha256"] == source.SDIST_SHA256 and index["params"] == SMALL.source_params()


def test_generative_examples_apply_prefixes_and_keep_every_target(fake_home):
    task = load(fake_home, "plural_words")["plural_words"]
    assert task.kind == "generative" and task.metric == "exact_str_match"
    by_target = {e.target: e for e in task.examples}
    # empty target, non-string input and a 500-char input are dropped; list targets keep every answer in order
    assert set(by_target) == {"cats", "mice", "boxes"}
    assert by_target["mice"].targets == ("mice", "mouses")
    assert by_target["cats"].input == "Noun: cat\nPlural:" and by_target["cats"].choices is None


def test_multiple_choice_options_are_shuffled_shown_and_scored(fake_home):
    task = load(fake_home, "yes_no")["yes_no"]
    assert task.kind == "multiple_choice" and len(task.examples) == 10  # capped; the target-only example dropped
    positions = set()
    for ex in task.examples:
        assert set(ex.choices) == {"yes", "no", "maybe"} and len(ex.scores) == 3
        assert ex.scores[ex.choices.index(ex.target)] == max(ex.scores) == 1.0
        number = int(ex.input.split()[1].rstrip("?"))
        assert ex.target == ("yes" if number % 2 == 0 else "no")
        # shown even though the task says append_choices_to_input: false, in the shuffled order
        assert [line.split(": ", 1)[1] for line in ex.input.splitlines()[1:]] == list(ex.choices)
        positions.add(ex.choices.index(ex.target))
    assert len(positions) > 1, "the right answer must not always sit where the file put it"
    assert task.chance() == pytest.approx(1 / 3)


def test_cap_is_a_seeded_subset_kept_in_file_order(tmp_path, fake_home):
    first = [e.input for e in load(fake_home, "sums:one_digit")["sums:one_digit"].examples]
    assert len(first) == 10
    numbers = [int(x.split()[0]) for x in first]
    assert numbers == sorted(numbers) and numbers != list(range(10)), "a seeded sample, not the first N"
    other = tmp_path / "other"
    (other / "data").mkdir(parents=True)
    (other / "data" / source.SDIST).write_bytes((fake_home / "data" / source.SDIST).read_bytes())
    assert [e.input for e in load(other, "sums:one_digit")["sums:one_digit"].examples] == first
    reseeded = TaskConfig(**{**SMALL.__dict__, "seed": 1})
    assert [e.input for e in load(other, "sums:one_digit", config=reseeded)["sums:one_digit"].examples] != first


# ------------------------------------------------------------------------------------------- preparing/errors

def test_second_prepare_is_fast_and_reads_nothing(fake_home, monkeypatch):
    first = tasks.prepare_bigbench(fake_home, SMALL)
    monkeypatch.setattr(source, "build_cache", lambda *a, **k: pytest.fail("rebuilt a current cache"))
    monkeypatch.setattr(source, "sha256_file", lambda *a, **k: pytest.fail("re-hashed the archive"))
    started = time.perf_counter()
    assert tasks.prepare_bigbench(fake_home, SMALL) == first
    assert time.perf_counter() - started < 1.0


def test_a_changed_config_or_a_damaged_cache_rebuilds(fake_home):
    cache = tasks.prepare_bigbench(fake_home, SMALL)
    assert len(load(fake_home, "sums:one_digit")["sums:one_digit"].examples) == 10
    bigger = TaskConfig(**{**SMALL.__dict__, "max_examples_per_task": 30})
    assert len(load(fake_home, "sums:one_digit", config=bigger)["sums:one_digit"].examples) == 30
    source.task_file(cache, "yes_no").unlink()
    assert load(fake_home, "yes_no", config=bigger)["yes_no"].examples


def test_corrupt_archive_is_named_and_never_used(fake_home):
    archive = fake_home / "data" / source.SDIST
    archive.write_bytes(archive.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(BigBenchError, match=r"bigbench-1.0.0.tar.gz is corrupt.*delete it"):
        tasks.prepare_bigbench(fake_home, SMALL)
    assert not (fake_home / "data" / "bigbench").exists()


def test_truncated_archive_with_a_matching_digest_is_a_clear_error(fake_home, monkeypatch):
    archive = fake_home / "data" / source.SDIST
    archive.write_bytes(archive.read_bytes()[:300])
    monkeypatch.setattr(source, "SDIST_SHA256", source.sha256_file(archive))
    with pytest.raises(BigBenchError, match="truncated or corrupt"):
        tasks.prepare_bigbench(fake_home, SMALL)


def test_missing_archive_is_downloaded_and_checked(tmp_path, monkeypatch):
    calls = []

    def fake_download(data_dir: Path, sha: str) -> Path:
        calls.append(sha)
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / source.SDIST).write_bytes(b"an error page, not a tarball")
        return data_dir / source.SDIST

    monkeypatch.setattr(source, "download_sdist", fake_download)
    with pytest.raises(BigBenchError, match="corrupt"):
        tasks.prepare_bigbench(tmp_path, SMALL)
    assert calls == [source.SDIST_SHA256]


def test_failing_pip_is_reported_with_its_exit_code():
    with pytest.raises(BigBenchError, match=r"download failed \(pip exit 2\)"):
        source._pip(["download", "--no-such-option"], [sys.executable, "-m", "pip"])


def test_an_index_without_the_sdist_names_the_remedy(tmp_path, monkeypatch):
    """pip cannot find bigbench==1.0.0 (as on PyPI since late 2026): the error says so and how to go on."""
    tools = tmp_path / "data" / "tools" / source.PIP_WHEEL
    tools.parent.mkdir(parents=True)
    tools.write_bytes(b"not a wheel")
    monkeypatch.setattr(source, "PIP_SHA256", source.sha256_file(tools))  # the pinned pip is in place

    def no_such_version(args, runner):  # what pip does when the index lists no bigbench 1.0.0
        assert any("bigbench.txt" in a for a in args)
        raise BigBenchError("download failed (pip exit 1): pip download ...; see pip's output above")

    monkeypatch.setattr(source, "_pip", no_such_version)
    with pytest.raises(source.BigBenchUnavailable, match=r"(?s)download failed.*--sdist PATH.*" + source.SDIST):
        tasks.prepare_bigbench(tmp_path, SMALL)
    assert not (tmp_path / "data" / source.SDIST).exists()


def test_a_local_sdist_is_checked_then_used(tmp_path, monkeypatch):
    copy = make_archive(tmp_path / "mine.tar.gz", fake_tasks())
    home = tmp_path / "home"
    with pytest.raises(BigBenchError, match="is not bigbench-1.0.0.tar.gz"):  # the real digest: refused, not copied
        tasks.prepare_bigbench(home, SMALL, sdist=copy)
    assert not (home / "data" / source.SDIST).exists()
    with pytest.raises(BigBenchError, match="no such file"):
        tasks.prepare_bigbench(home, SMALL, sdist=tmp_path / "missing.tar.gz")
    monkeypatch.setattr(source, "SDIST_SHA256", source.sha256_file(copy))
    monkeypatch.setattr(source, "download_sdist", lambda *a: pytest.fail("downloaded although a copy was given"))
    cache = tasks.prepare_bigbench(home, SMALL, sdist=copy)
    assert (home / "data" / source.SDIST).read_bytes() == copy.read_bytes()
    assert "sums:one_digit" in source.read_index(cache)["tasks"]


def test_unknown_task_names_are_an_error(fake_home):
    with pytest.raises(BigBenchError, match="not in the BIG-bench cache.*'nope'"):
        tasks.load_named_tasks(["nope"], fake_home, SMALL)


# ---------------------------------------------------------------------------------------------- descriptions

def test_descriptions_are_distinct_and_eval_phrasings_are_reserved():
    out = tasks.build_descriptions("give the plural of a noun", "generative", ["zero-shot", "morphology"],
                                   task_prefix="Write the plural form of the word.")
    assert len(out) == 8 and len(set(out)) == 8
    task = tasks.Task("t", "t", "generative", "exact_str_match", (), out, (), "")
    assert len(task.train_descriptions) == 5 and len(task.eval_descriptions) == 3
    assert not set(task.train_descriptions) & set(task.eval_descriptions)
    assert out[0] == "Give the plural of a noun."
    assert all("Give the plural of a noun." in d for d in out)  # every phrasing carries the task's own words
    assert "A task about morphology: Give the plural of a noun." in out  # meta keyword "zero-shot" left out
    assert "Give the plural of a noun. Write the plural form of the word." in out
    assert tasks.build_descriptions("give the plural of a noun", "generative", ["zero-shot", "morphology"],
                                    task_prefix="Write the plural form of the word.") == out  # deterministic


def test_description_fallbacks_keep_eight_phrasings():
    bare = tasks.build_descriptions("Sort words", "multiple_choice", ["json"], task_prefix="x" * 1000)
    assert len(set(bare)) == 8
    assert "A task: Sort words." in bare and "Task: Sort words." in bare
    assert "Sort words. Pick the correct option." in bare  # answer format instead of an over-long prefix
    sub = tasks.build_descriptions("One-digit addition", "generative", family_description="Add numbers")
    assert sub[1] == "Add numbers. One-digit addition."
    same = tasks.build_descriptions("Add numbers", "generative", family_description="Add numbers.")
    assert same[1] == "Task: Add numbers."
    with pytest.raises(ValueError, match="non-empty description"):
        tasks.build_descriptions("  ", "generative")


def test_subtasks_get_their_family_description(fake_home):
    got = load(fake_home, "sums:one_digit", "plural_words")
    assert got["sums:one_digit"].train_descriptions[1] == "Add numbers. One-digit addition."
    assert got["plural_words"].train_descriptions[1] == "Task: Give the plural of an English noun."
    index = tasks.load_index(fake_home, SMALL)
    for name, task in got.items():
        assert tasks.task_descriptions(name, index["tasks"][name], index, SMALL) == task.descriptions


# ------------------------------------------------------------------------------------------- filters and split

RULE_ALL = {"metrics": ["exact_str_match", "multiple_choice_grade"], "max_median_input_chars": 1000,
            "max_median_target_chars": 100, "min_examples": 1, "max_tasks_per_family": 5}


def test_english_filter_uses_keywords_script_and_the_denylist(fake_home):
    index = tasks.load_index(fake_home, SMALL)["tasks"]
    assert not tasks.is_english("proverbs_fr", index["proverbs_fr"])
    assert not tasks.is_english("hindi_riddles", index["hindi_riddles"])
    assert tasks.is_english("plural_words", index["plural_words"])
    assert not tasks.is_english("gem:cs_restaurants", {**index["plural_words"], "family": "gem"})


def test_split_holds_out_whole_families_and_their_wording(fake_home):
    index = tasks.load_index(fake_home, SMALL)
    split = tasks.build_split(index, ["sums", "plural_words"], "test rule", RULE_ALL, config=SMALL)
    assert split["heldout"] == ["plural_words", "sums:one_digit", "sums:two_digit"]
    assert split["train"] == ["yes_no"]
    assert split["bbh"] == ["word_sorting"]
    assert split["excluded"] == {"bbh": ["word_sorting"], "description_of_a_heldout_task": ["plural_words_copy"],
                                 "non_english": ["hindi_riddles", "proverbs_fr"]}
    with pytest.raises(ValueError, match="not in the data"):
        tasks.build_split(index, ["no_such_family"], "r", RULE_ALL, config=SMALL)
    with pytest.raises(ValueError, match="break the rule"):
        tasks.build_split(index, ["sums"], "r", {**RULE_ALL, "max_tasks_per_family": 1}, config=SMALL)


def test_load_tasks_reads_a_split_part(fake_home, tmp_path):
    split = tasks.build_split(tasks.load_index(fake_home, SMALL), ["sums"], "r", RULE_ALL, name="tiny",
                              config=SMALL)
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(split))
    held = tasks.load_tasks("heldout", str(path), fake_home, SMALL)
    assert [t.name for t in held] == ["sums:one_digit", "sums:two_digit"]
    assert all(len(t.eval_descriptions) == 3 for t in held)
    with pytest.raises(ValueError, match="unknown split part"):
        tasks.load_tasks("test", str(path), fake_home, SMALL)


def family(name: str) -> str:
    return name.split(":")[0]


def stem(name: str) -> str:
    return name.removesuffix("_json")


def test_committed_split_holds_out_families_not_just_tasks():
    split = tasks.load_split()
    raw = json.loads((tasks.SPLITS_DIR / "default.json").read_text())
    assert len(split.heldout) >= 12 and len({family(n) for n in split.heldout}) >= 12
    train_families = {family(n) for n in split.train}
    assert not train_families & set(split.heldout_families)
    assert not set(split.train) & (set(split.heldout) | set(split.bbh))
    assert not train_families & tasks.BBH_FAMILIES
    # near-duplicate families (xxx vs xxx_json vs xxx_hindi) never straddle the split
    for held in split.heldout_families:
        assert not [f for f in train_families if stem(f).startswith(stem(held)) or stem(held).startswith(stem(f))]
    assert raw["counts"]["train"] == len(split.train) and raw["counts"]["heldout"] == len(split.heldout)
    assert set(split.heldout_families) - {"entailed_polarity_hindi"} <= set(raw["candidate_families"])
    assert raw["rule"] and raw["source"]["sha256"] == source.SDIST_SHA256


# ------------------------------------------------------------------------------------------------ real data

@pytest.fixture(scope="module")
def real():
    """The real cache under T2L_HOME (downloaded and built once per machine: ~30 s + the download). Where the index
    no longer gives the sdist and no copy is in place (PyPI dropped bigbench 1.0.0), these tests cannot run: the
    skip says so, and test_an_index_without_the_sdist_names_the_remedy covers what the user sees."""
    try:
        cache = tasks.prepare_bigbench()
    except source.BigBenchUnavailable as exc:
        pytest.skip("the real BIG-bench sdist is not obtainable here: PyPI no longer serves bigbench 1.0.0 and no copy "
                    f"is in place ({type(exc).__name__})")
    return {"index": source.read_index(cache), "split": json.loads((tasks.SPLITS_DIR / "default.json").read_text())}


@pytest.mark.slow
def test_real_prepare_is_fast_once_built(real):
    started = time.perf_counter()
    tasks.prepare_bigbench()
    assert time.perf_counter() - started < 1.0


@pytest.mark.slow
def test_real_split_is_reproducible_from_the_data(real):
    split = real["split"]
    again = tasks.build_split(real["index"], split["heldout_families"], split["rule"], split["criteria"])
    assert (again["train"], again["heldout"], again["bbh"]) == (split["train"], split["heldout"], split["bbh"])
    counts = split["counts"]
    assert 900 <= len(real["index"]["tasks"]) <= 1001
    assert 500 <= counts["train"] <= 900 and counts["train_families"] >= 80
    assert 100_000 <= counts["train_examples"] <= 300_000 and counts["bbh"] == 24


@pytest.mark.slow
def test_real_tasks_do_not_leak_and_are_usable(real):
    train = tasks.load_tasks("train")
    held = tasks.load_tasks("heldout")
    assert len(held) >= 12 and len(train) == real["split"]["counts"]["train"]
    train_texts = {d for t in train for d in t.descriptions} | {t.source_description for t in train}
    for task in held:
        assert task.family not in {t.family for t in train} and task.name not in {t.name for t in train}
        assert not set(task.descriptions) & train_texts, task.name
        assert len(task.eval_descriptions) == 3 and not set(task.eval_descriptions) & set(task.train_descriptions)
        assert task.metric in ("exact_str_match", "multiple_choice_grade") and len(task.examples) >= 30
        assert statistics.median(len(e.input) for e in task.examples) <= 250
        if task.kind == "multiple_choice":
            assert task.chance() <= 0.5 and all(e.target in e.choices for e in task.examples)
    for task in train:
        assert len(set(task.descriptions)) == 8 and task.examples
        assert all(e.target.strip() and len(e.input) <= TaskConfig().max_input_chars for e in task.examples)
        assert len(task.examples) <= TaskConfig().max_examples_per_task
    assert {t.kind for t in held} == {"generative", "multiple_choice"}
    # evaluation-only phrasings of training tasks are never a training phrasing of any task either
    assert not {d for t in train for d in t.eval_descriptions} & {d for t in train for d in t.train_descriptions}


@pytest.mark.slow
def test_real_cache_is_compact_and_outside_the_repo(real):
    cache = tasks.prepare_bigbench()
    assert not cache.resolve().is_relative_to(Path(tasks.__file__).resolve().parents[1])
    size = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
    assert size < 200 * 2**20
    with gzip.open(source.task_file(cache, "tense"), "rt") as f:
        assert json.load(f)["name"] == "tense"


def test_descriptions_fit_the_service_limit_and_short_ones_are_untouched():
    from hypernet import normalize_description
    from hypernet.encoder import MAX_DESCRIPTION_CHARS

    long = tasks.build_descriptions("Choose the object. " * 300, "multiple_choice", ["logic"], "A family of tasks.")
    assert len(set(long)) == 8
    assert all(len(normalize_description(d)) <= MAX_DESCRIPTION_CHARS for d in long)  # the server accepts them
    short = tasks.build_descriptions("Give the plural of a noun.", "generative", ["morphology"])
    assert all("..." not in d for d in short) and any("Give the plural of a noun." in d for d in short)
