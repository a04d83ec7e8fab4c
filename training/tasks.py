"""The BIG-bench task library: tasks with several descriptions each, English filtering, and the committed split.

Data comes from the `bigbench==1.0.0` sdist through training/bigbench_source.py (`prepare_bigbench` downloads it
once, checks its sha256 and builds a compact cache under $T2L_HOME/data/bigbench). A task is a BIG-bench JSON task
or subtask, named `family` or `family:subtask`; its `family` is the top-level BIG-bench task.

Descriptions. T2L learns from many phrasings of one task, so each task gets len(TRAIN_TEMPLATES) +
len(EVAL_TEMPLATES) = 8 distinct descriptions, built deterministically from four fields of its task.json:
    d         its own `description`, whitespace collapsed, capitalised, ending with a full stop
    family    the family's description, only for a subtask whose own description differs from it
    keywords  up to 3 of its keywords, leaving out ones about the evaluation setup (META_KEYWORDS)
    prefix    its `task_prefix` (the instruction BIG-bench shows before each example) when 20..max_prefix_chars long
and a fixed answer-format sentence per kind (ANSWER). Each template is a pair (template, fallback): the fallback is
used when a field the template needs is empty, so every task gets the same number of phrasings and the literal
frame of each template keeps them distinct. The first five (TRAIN_TEMPLATES) are for training; the last three
(EVAL_TEMPLATES) are reserved for evaluation and never appear in training (`Task.eval_descriptions`): evaluation
reports the mean over those three.

Filtering (for the split; a cached task is still loadable by name): English only (no NON_ENGLISH_KEYWORDS among its
keywords, non-ASCII characters at most `max_non_ascii_letters` of its letters, not in NON_ENGLISH_TASKS), at least
`min_examples` usable examples. Huge tasks are capped at `max_examples_per_task` examples (a seeded subset) and
examples with inputs over `max_input_chars` are dropped when the cache is built; programmatic tasks (no task.json)
never enter it. The 20 BIG-Bench Hard families in the archive (BBH_FAMILIES) stay out of training and form a
separate evaluation part, `bbh`. The split (training/splits/<name>.json) holds out whole families: no task of a
held-out family, nor any task whose description equals a held-out description, is trained on.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

from training.bigbench_source import (GENERATIVE, MULTIPLE_CHOICE, SDIST, SDIST_SHA256, BigBenchError,
                                      cache_is_current, ensure_cache, read_index, read_task_record)
from ground.assets import t2l_home
from hypernet.encoder import MAX_DESCRIPTION_CHARS

SPLITS_DIR = Path(__file__).resolve().parent / "splits"
SPLIT_PARTS = ("train", "heldout", "bbh")
# Keywords that describe how BIG-bench evaluates a task, not what the task is.
META_KEYWORDS = frozenset({"zero-shot", "one-shot", "many-shot", "multiple choice", "json", "example task",
                           "numerical response", "out of distribution", "context length", ""})
NON_ENGLISH_KEYWORDS = frozenset({"non-English", "multilingual", "low-resource language", "translation"})
# Tasks in another language written in (mostly) ASCII that carry no language keyword; found by reading descriptions.
NON_ENGLISH_TASKS = frozenset({"gem:cs_restaurants", "linguistic_mappings:de_past_tense_irregular_json",
                               "linguistic_mappings:de_past_tense_json"})
# BIG-Bench Hard (Suzgun et al. 2022): the 20 of its 23 tasks that are JSON tasks in bigbench 1.0.0 (the others,
# boolean_expressions, multistep_arithmetic and web_of_lies, are programmatic or absent).
BBH_FAMILIES = frozenset({
    "causal_judgment", "date_understanding", "disambiguation_qa", "dyck_languages",
    "formal_fallacies_syllogisms_negation", "geometric_shapes", "hyperbaton", "logical_deduction",
    "movie_recommendation", "navigate", "object_counting", "penguins_in_a_table", "reasoning_about_colored_objects",
    "ruin_names", "salient_translation_error_detection", "snarks", "sports_understanding", "temporal_sequences",
    "tracking_shuffled_objects", "word_sorting"})
ANSWER = {MULTIPLE_CHOICE: "Pick the correct option.", GENERATIVE: "Reply with the answer only."}
# (template, fallback when a field it needs is empty); fields: d, family, keywords, prefix, answer.
TRAIN_TEMPLATES = (
    ("{d}", None),
    ("{family} {d}", "Task: {d}"),
    ("A task about {keywords}: {d}", "A task: {d}"),
    ("{d} {prefix}", "{d} {answer}"),
    ("In this task: {d} {answer}", None),
)
EVAL_TEMPLATES = (
    ("Instruction: {d}", None),
    ("{d} Skills needed: {keywords}.", "{d} Skills needed: reading and following instructions."),
    ("You are given an input. {d} {answer}", None),
)


@dataclass(frozen=True)
class TaskConfig:
    """How tasks are cached, filtered and described (the defaults built the committed split)."""

    max_examples_per_task: int = 1000  # examples kept per task: a seeded random subset of its usable ones
    max_input_chars: int = 2000  # examples whose input is longer are dropped (training contexts are short)
    seed: int = 0  # seeds the example subset and the order of multiple-choice options
    min_examples: int = 8  # a task with fewer usable examples is left out of the split
    max_non_ascii_letters: float = 0.1  # above this share of non-ASCII letters a task counts as non-English
    max_prefix_chars: int = 400  # a task_prefix longer than this is context, not a description

    def source_params(self) -> dict:
        """The part of the config that shapes the cache (a change rebuilds it)."""
        return {"max_examples": self.max_examples_per_task, "max_input_chars": self.max_input_chars,
                "seed": self.seed}


@dataclass(frozen=True)
class Example:
    """One example: the text the model sees, every acceptable answer (best first), and options when scored by
    choice."""

    input: str
    targets: tuple[str, ...]
    choices: tuple[str, ...] | None = None
    scores: tuple[float, ...] | None = None

    @property
    def target(self) -> str:
        """The answer to train on: the reference answer, or the top-scoring choice."""
        return self.targets[0]


@dataclass(frozen=True)
class Task:
    """A BIG-bench task or subtask with its descriptions (training phrasings first, then evaluation-only ones)."""

    name: str
    family: str
    kind: str  # "generative" | "multiple_choice"
    metric: str  # BIG-bench's preferred score, e.g. exact_str_match, multiple_choice_grade, rougeLsum
    keywords: tuple[str, ...]
    descriptions: tuple[str, ...]
    examples: tuple[Example, ...]
    source_description: str
    n_train: int = len(TRAIN_TEMPLATES)  # the first n_train descriptions are for training, the rest eval-only

    @property
    def train_descriptions(self) -> tuple[str, ...]:
        return self.descriptions[: self.n_train]

    @property
    def eval_descriptions(self) -> tuple[str, ...]:
        """Phrasings never used in training (the evaluation averages over them)."""
        return self.descriptions[self.n_train:]

    def chance(self) -> float:
        """Expected score of guessing: mean 1/#choices for multiple choice, 0 for exact-match generation."""
        if self.kind != MULTIPLE_CHOICE:
            return 0.0
        return statistics.fmean(1.0 / len(e.choices) for e in self.examples if e.choices)


@dataclass(frozen=True)
class Split:
    """A committed split: task names per part, the held-out families and the rule that chose them."""

    name: str
    train: tuple[str, ...]
    heldout: tuple[str, ...]
    bbh: tuple[str, ...]
    heldout_families: tuple[str, ...]
    rule: str

    def part(self, split_part: str) -> tuple[str, ...]:
        if split_part not in SPLIT_PARTS:
            raise ValueError(f"unknown split part {split_part!r}; use one of {SPLIT_PARTS}")
        return getattr(self, split_part)


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?:" else text + "."


def content_keywords(keywords, limit: int = 3) -> tuple[str, ...]:
    kept = [k.strip() for k in keywords if k.strip().lower() not in META_KEYWORDS]
    return tuple(dict.fromkeys(kept))[:limit]


def _render(fields: dict) -> list[str]:
    out = []
    for template, fallback in TRAIN_TEMPLATES + EVAL_TEMPLATES:
        needed = [f for f in fields if "{" + f + "}" in template]
        use = template if all(fields[f] for f in needed) or fallback is None else fallback
        out.append(" ".join(use.format(**fields).split()))
    return out


def build_descriptions(description: str, kind: str, keywords=(), family_description: str = "",
                       task_prefix: str = "", max_prefix_chars: int = 400) -> tuple[str, ...]:
    """The 8 phrasings of a task (see module doc): TRAIN_TEMPLATES then EVAL_TEMPLATES, all distinct, none longer
    than the service accepts (hypernet.encoder.MAX_DESCRIPTION_CHARS; a longer description is cut at a word)."""
    d = _sentence(description)
    if not d:
        raise ValueError("a task needs a non-empty description")
    family = _sentence(family_description)
    prefix = _sentence(task_prefix)
    fields = {"d": d, "family": family if family != d else "", "keywords": ", ".join(content_keywords(keywords)),
              "prefix": prefix if 20 <= len(prefix) <= max_prefix_chars and prefix != d else "",
              "answer": ANSWER[kind]}
    out = _render(fields)
    over = max(len(x) for x in out) - MAX_DESCRIPTION_CHARS
    if over > 0:  # the service refuses longer descriptions, so training must not use them: shorten d to fit
        fields["d"] = d[: len(d) - over - 3].rsplit(" ", 1)[0] + "..."
        out = _render(fields)
    if len(set(out)) != len(out):  # only a pathological description could make two frames coincide
        raise ValueError(f"description {description!r} gives duplicate phrasings: {out}")
    return tuple(out)


def task_from_record(record: dict, family_description: str = "", config: TaskConfig = TaskConfig()) -> Task:
    """A cache record (bigbench_source) -> Task. Pure."""
    examples = tuple(Example(e["input"], tuple(e["targets"]),
                             tuple(e["choices"]) if e.get("choices") else None,
                             tuple(float(s) for s in e["scores"]) if e.get("scores") else None)
                     for e in record["examples"])
    return Task(name=record["name"], family=record["family"], kind=record["kind"], metric=record["metric"],
                keywords=tuple(record["keywords"]),
                descriptions=build_descriptions(record["description"], record["kind"], record["keywords"],
                                                family_description if record.get("subtask") else "",
                                                record.get("task_prefix", ""), config.max_prefix_chars),
                examples=examples, source_description=record["description"])


def is_english(name: str, entry: dict, config: TaskConfig = TaskConfig()) -> bool:
    return (not NON_ENGLISH_KEYWORDS & set(entry["keywords"]) and name not in NON_ENGLISH_TASKS
            and entry["non_ascii_letters"] <= config.max_non_ascii_letters)


def exclusion_reason(name: str, entry: dict, config: TaskConfig = TaskConfig()) -> str | None:
    """Why a cached task (index entry) is not eligible for training or held-out evaluation, or None."""
    if not is_english(name, entry, config):
        return "non_english"
    if entry["n_examples"] < config.min_examples:
        return "too_few_examples"
    if entry["family"] in BBH_FAMILIES:
        return "bbh"
    return None


def task_descriptions(name: str, entry: dict, index: dict, config: TaskConfig = TaskConfig()) -> tuple[str, ...]:
    """The descriptions of an indexed task without loading its examples."""
    family = index["families"].get(entry["family"], {}).get("description", "") if ":" in name else ""
    prefix = entry.get("task_prefix", "")
    return build_descriptions(entry["description"], entry["kind"], entry["keywords"], family, prefix,
                              config.max_prefix_chars)


def heldout_candidates(index: dict, criteria: dict, config: TaskConfig = TaskConfig()) -> list[str]:
    """Families whose every eligible task meets `criteria` (the split's recorded rule), sorted. Keys:
    metrics, max_median_input_chars, max_median_target_chars, min_examples, max_tasks_per_family."""
    by_family: dict[str, list[dict]] = {}
    for n, e in index["tasks"].items():
        if exclusion_reason(n, e, config) is None:
            by_family.setdefault(e["family"], []).append(e)
    return sorted(f for f, entries in by_family.items()
                  if len(entries) <= criteria["max_tasks_per_family"]
                  and all(e["metric"] in criteria["metrics"] and e["n_examples"] >= criteria["min_examples"]
                          and e["median_input_chars"] <= criteria["max_median_input_chars"]
                          and e["median_target_chars"] <= criteria["max_median_target_chars"] for e in entries))


def build_split(index: dict, heldout_families, rule: str, criteria: dict, name: str = "default",
                config: TaskConfig = TaskConfig()) -> dict:
    """A split from a cache index and a choice of held-out families (pure; the committed JSON is its output).
    Held-out families must be in the data; the eligible ones must meet `criteria`."""
    tasks = index["tasks"]
    unknown = set(heldout_families) - {e["family"] for e in tasks.values()}
    if unknown:
        raise ValueError(f"held-out families not in the data: {sorted(unknown)}")
    reasons = {n: exclusion_reason(n, e, config) for n, e in tasks.items()}
    heldout = sorted(n for n, e in tasks.items() if e["family"] in heldout_families and reasons[n] is None)
    candidates = heldout_candidates(index, criteria, config)
    off_rule = {tasks[n]["family"] for n in heldout} - set(candidates)
    if off_rule:
        raise ValueError(f"held-out families that break the rule {criteria}: {sorted(off_rule)}")
    held_texts = {t for n in heldout for t in task_descriptions(n, tasks[n], index, config)}
    held_texts |= {tasks[n]["description"] for n in heldout}
    excluded: dict[str, list[str]] = {}
    train = []
    for n, e in tasks.items():
        reason = reasons[n] or ("heldout_family" if e["family"] in heldout_families else None)
        if reason is None and (e["description"] in held_texts
                               or held_texts & set(task_descriptions(n, e, index, config))):
            reason = "description_of_a_heldout_task"  # identical wording would leak the held-out task
        if reason is None:
            train.append(n)
        elif reason != "heldout_family":
            excluded.setdefault(reason, []).append(n)
    bbh = sorted(n for n, e in tasks.items() if e["family"] in BBH_FAMILIES and e["n_examples"] >= config.min_examples)
    return {
        "name": name, "source": {"sdist": SDIST, "sha256": index["sdist_sha256"]}, "config": asdict(config),
        "rule": rule, "criteria": criteria, "candidate_families": candidates,
        "heldout_families": sorted(heldout_families),
        "counts": {"train": len(train), "heldout": len(heldout), "bbh": len(bbh),
                   "train_families": len({tasks[n]["family"] for n in train}),
                   "train_examples": sum(tasks[n]["n_examples"] for n in train),
                   "heldout_examples": sum(tasks[n]["n_examples"] for n in heldout),
                   **{f"excluded_{k}": len(v) for k, v in sorted(excluded.items())}},
        "heldout": heldout, "bbh": bbh, "train": sorted(train),
        "excluded": {k: sorted(v) for k, v in sorted(excluded.items())},
    }


def load_split(name: str = "default", splits_dir: Path = SPLITS_DIR) -> Split:
    """A committed split by name (training/splits/<name>.json) or by path to such a JSON file."""
    path = Path(name) if name.endswith(".json") else splits_dir / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BigBenchError(f"cannot read split {path}: {exc}") from exc
    return Split(data["name"], tuple(data["train"]), tuple(data["heldout"]), tuple(data["bbh"]),
                 tuple(data["heldout_families"]), data["rule"])


def prepare_bigbench(home: Path | None = None, config: TaskConfig = TaskConfig(), sdist: Path | None = None) -> Path:
    """The BIG-bench cache folder under $T2L_HOME/data (downloaded, verified and built on first use; a second
    call only checks the stamp). `sdist`: a local copy of the archive, used when none is in place yet."""
    return ensure_cache(home or t2l_home(), config.source_params(), sdist=sdist)


def bigbench_ready(home: Path | None = None, config: TaskConfig = TaskConfig()) -> bool:
    """Whether the BIG-bench cache is built on this machine (checked, never downloaded). Without it the suite runs
    without its BIG-bench parts (training.suite.build.registry) and says so: PyPI stopped serving the sdist in 2026."""
    home = home or t2l_home()
    return cache_is_current(home / "data" / "bigbench", config.source_params(), SDIST_SHA256)


def load_index(home: Path | None = None, config: TaskConfig = TaskConfig()) -> dict:
    """Per-task metadata (kind, metric, counts, lengths, language) of every cached task, without examples."""
    return read_index(prepare_bigbench(home, config))


def load_named_tasks(names, home: Path | None = None, config: TaskConfig = TaskConfig()) -> list[Task]:
    """Tasks by name, in the order given; a name missing from the cache is an error. No names need no cache."""
    names = list(names)
    if not names:
        return []
    cache_dir = prepare_bigbench(home, config)
    index = read_index(cache_dir)
    missing = [n for n in names if n not in index["tasks"]]
    if missing:
        raise BigBenchError(f"{len(missing)} task(s) not in the BIG-bench cache at {cache_dir} (built with "
                            f"{index['params']}): {missing[:5]}")
    families = index["families"]
    return [task_from_record(read_task_record(cache_dir, n),
                             families.get(index["tasks"][n]["family"], {}).get("description", ""), config)
            for n in names]


def load_tasks(split_part: str = "train", split: str = "default", home: Path | None = None,
               config: TaskConfig = TaskConfig()) -> list[Task]:
    """The tasks of one part ("train" | "heldout" | "bbh") of a committed split."""
    return load_named_tasks(load_split(split).part(split_part), home, config)


__all__ = ["ANSWER", "BBH_FAMILIES", "EVAL_TEMPLATES", "Example", "BigBenchError", "SDIST_SHA256", "Split", "Task",
           "TaskConfig", "TRAIN_TEMPLATES", "build_descriptions", "build_split", "content_keywords",
           "exclusion_reason", "heldout_candidates", "is_english", "load_index", "load_named_tasks", "load_split", "load_tasks",
           "prepare_bigbench", "task_descriptions", "task_from_record", "bigbench_ready"]
