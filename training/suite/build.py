"""Suite -> `training.tasks.Task` objects for training and for the three evaluation tiers, plus the committed split.

The split (training/splits/suite.json, written by `make_split`, committed, checked by tests) holds out
    heldout_ops     whole operations never trained on (about one in six of every pool, chosen by a hash of the
                    op name, so the choice cannot follow any result)
    heldout_combos  (op, format) pairs never trained together, among trained ops with clauses (about one in five
                    per format, by hash)
Inputs are split per pool by hash (core.in_eval_half): training sees only the train half of every pool.

Tiers (each a list of Tasks whose examples are eval-half inputs and whose descriptions are evaluation-only):
    seen_ops_new_descriptions  trained ops (plain), evaluation descriptions, evaluation inputs
    new_combinations           held-out (op, format) pairs, descriptions joined from evaluation-only clauses
    heldout_tasks              held-out ops (evaluation descriptions and inputs) + the BIG-bench held-out tasks
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

from training.suite.core import Format, Op, Registry, check_ops
from training.tasks import Example, Task, bigbench_ready

SPLIT_PATH = Path(__file__).resolve().parents[1] / "splits" / "suite.json"
TIERS = ("seen_ops_new_descriptions", "new_combinations", "heldout_tasks")
MODULES = ("ops_words", "ops_countries", "ops_numbers", "ops_lists", "ops_sentences", "ops_bigbench", "formats")
HELDOUT_OP_SHARE = 1 / 6
HELDOUT_COMBO_SHARE = 1 / 5
FAMILY_PREFIX = "suite."
BIGBENCH_POOL = "mc"  # the pool of ops_bigbench: its items come from the BIG-bench cache


def _unit(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") / 2**64


def build_registry(modules: Sequence[str] = MODULES, with_bigbench: bool = True) -> Registry:
    """Every op module's pools, ops and formats (the BIG-bench items need the BIG-bench cache)."""
    import importlib

    reg = Registry()
    for name in modules:
        if name == "ops_bigbench" and not with_bigbench:
            continue
        importlib.import_module(f"training.suite.{name}").register(reg)
    return reg


def registry(with_bigbench: bool | None = None) -> Registry:
    """The suite's registry, built once per process. None: with its BIG-bench ops where the BIG-bench cache is
    built on this machine (training.tasks.bigbench_ready), without them (and a warning saying what is left out)
    where it is not."""
    if with_bigbench is None:
        with_bigbench = bigbench_ready()  # per call: a `t2l data prepare` later in the process counts
        if not with_bigbench:
            _warn_without_bigbench()
    return _registry(with_bigbench)


@lru_cache(maxsize=2)
def _registry(with_bigbench: bool) -> Registry:
    return build_registry(with_bigbench=with_bigbench)


@lru_cache(maxsize=1)
def _warn_without_bigbench() -> None:
    import logging

    logging.getLogger(__name__).warning(
        "no BIG-bench cache on this machine (`t2l data prepare`): the suite runs without its BIG-bench ops (pool "
        "%r) and the BIG-bench held-out tasks", BIGBENCH_POOL)


def split_for(reg: Registry, split: dict) -> dict:
    """The split as far as `reg` serves it: a registry built without BIG-bench lacks the ops of the BIG-bench pool,
    and only those are left out (any other name the registry lacks stays, and is an error where it is used)."""
    if BIGBENCH_POOL in reg.pools:
        return split
    mine = lambda name: name.split("+")[0].split(".")[0] == BIGBENCH_POOL  # noqa: E731
    parts = ("train_ops", "heldout_ops", "train_combos", "heldout_combos")
    return {**split, **{k: [n for n in split[k] if not mine(n)] for k in parts}}


def make_split(reg: Registry) -> dict:
    """The split of a registry by the hash rule above (pure). Held-out ops: the lowest hashes of each pool."""
    held_ops: list[str] = []
    by_pool: dict[str, list[Op]] = {}
    for op in reg.ops:
        by_pool.setdefault(op.pool, []).append(op)
    for pool, ops in sorted(by_pool.items()):
        n = max(1, round(len(ops) * HELDOUT_OP_SHARE)) if len(ops) >= 4 else 0
        held_ops += sorted((o.name for o in ops), key=lambda name: _unit(f"op:{name}"))[:n]
    train_ops = sorted(o.name for o in reg.ops if o.name not in held_ops)
    combos = [(o.name, f.name) for o in reg.ops if o.name in train_ops and o.clauses for f in reg.formats
              if _combo_is_new(o, f, reg)]
    held_combos = sorted(f"{o}+{f}" for o, f in combos if _unit(f"combo:{o}+{f}") < HELDOUT_COMBO_SHARE)
    train_combos = sorted(f"{o}+{f}" for o, f in combos if f"{o}+{f}" not in held_combos)
    return {"name": "suite", "rule": f"held-out ops: the round({HELDOUT_OP_SHARE:.3f} x n) ops of each pool with "
            f"the lowest sha256('op:<name>'); held-out combos: sha256('combo:<op>+<format>') < "
            f"{HELDOUT_COMBO_SHARE}; inputs: training.suite.core.in_eval_half",
            "counts": {"train_ops": len(train_ops), "heldout_ops": len(held_ops), "train_combos": len(train_combos),
                       "heldout_combos": len(held_combos), "formats": len(reg.formats)},
            "train_ops": train_ops, "heldout_ops": sorted(held_ops), "train_combos": train_combos,
            "heldout_combos": held_combos}


def _combo_is_new(op: Op, fmt: Format, reg: Registry) -> bool:
    """False for a pair whose format leaves most answers unchanged (upper case of a number) or that answers
    exactly like another op of the pool (the letter in parentheses = mc.letter_paren): neither tests composition."""
    items = reg.pools[op.pool].items
    plain = {x: op.answer(x) for x in items}
    formatted = {x: fmt.apply(a) for x, a in plain.items() if a is not None}
    if sum(formatted[x] == plain[x] for x in formatted) * 2 >= len(formatted):
        return False
    for other in reg.ops:
        if other.pool == op.pool and other.name != op.name:
            if all(other.answer(x) == y for x, y in formatted.items()):
                return False
    return True


def load_split(path: Path = SPLIT_PATH) -> dict:
    return json.loads(Path(path).read_text())


def _join(clause: str, fmt_clause: str) -> str:
    text = f"{clause}, {fmt_clause}".strip()
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def _examples(op: Op, reg: Registry, part: str, fmt: Format | None = None) -> tuple[Example, ...]:
    out = []
    for x in reg.pools[op.pool].half(part):
        answer = op.answer(x)
        if answer is not None:
            out.append(Example(x, (fmt.apply(answer) if fmt else answer,)))
    return tuple(out)


def _task(name: str, family: str, descriptions: Sequence[str], n_train: int, examples, source: str) -> Task:
    return Task(name=name, family=family, kind="generative", metric="exact_str_match", keywords=(),
                descriptions=tuple(dict.fromkeys(descriptions)), examples=examples, source_description=source,
                n_train=n_train)


def op_task(op: Op, reg: Registry, part: str) -> Task:
    """A plain op as a Task: training descriptions + train inputs, or evaluation descriptions + eval inputs."""
    descriptions = op.train if part == "train" else op.eval
    return _task(f"suite:{op.name}", FAMILY_PREFIX + op.pool, descriptions, len(descriptions) if part == "train"
                 else 0, _examples(op, reg, part), op.source)


def combo_task(op: Op, fmt: Format, reg: Registry, part: str) -> Task:
    """An (op, format) pair: descriptions join op clauses and format clauses (eval: only evaluation clauses)."""
    clauses, fmt_clauses = (op.clauses, fmt.clauses) if part == "train" else (op.eval_clauses, fmt.eval_clauses)
    descriptions = [_join(c, f) for c in clauses for f in fmt_clauses]
    return _task(f"suite:{op.name}+{fmt.name}", FAMILY_PREFIX + op.pool + "+fmt", descriptions,
                 len(descriptions) if part == "train" else 0, _examples(op, reg, part, fmt), op.source)


def training_tasks(reg: Registry | None = None, split: dict | None = None, combos: bool = True) -> list[Task]:
    """Every trained op (train inputs, training descriptions), plus the trained (op, format) pairs."""
    reg = reg or registry()
    split = split_for(reg, split or load_split())
    ops, fmts = {o.name: o for o in reg.ops}, {f.name: f for f in reg.formats}
    missing = [n for n in split["train_ops"] if n not in ops]
    if missing:
        raise ValueError(f"the split names ops the registry lacks: {missing[:5]}")
    tasks = [op_task(ops[n], reg, "train") for n in split["train_ops"]]
    if combos:
        for pair in split["train_combos"]:
            o, f = pair.split("+")
            tasks.append(combo_task(ops[o], fmts[f], reg, "train"))
    return tasks


def tier_tasks(tier: str, reg: Registry | None = None, split: dict | None = None,
               bigbench_heldout: Iterable[Task] = ()) -> list[Task]:
    """The Tasks of one evaluation tier (evaluation inputs and evaluation-only descriptions)."""
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; use one of {TIERS}")
    reg = reg or registry()
    split = split_for(reg, split or load_split())
    ops, fmts = {o.name: o for o in reg.ops}, {f.name: f for f in reg.formats}
    if tier == "seen_ops_new_descriptions":
        return [op_task(ops[n], reg, "eval") for n in split["train_ops"]]
    if tier == "new_combinations":
        return [combo_task(ops[o], fmts[f], reg, "eval") for o, f in (p.split("+") for p in split["heldout_combos"])]
    return [op_task(ops[n], reg, "eval") for n in split["heldout_ops"]] + list(bigbench_heldout)


def problems(reg: Registry) -> list[str]:
    """check_ops plus format checks."""
    out = check_ops(reg.ops, reg.pools)
    names = set()
    for f in reg.formats:
        if f.name in names or "+" in f.name:
            out.append(f"format {f.name}: duplicate or contains '+'")
        names.add(f.name)
        if len(set(f.clauses)) < 4 or len(set(f.eval_clauses)) < 2 or set(f.clauses) & set(f.eval_clauses):
            out.append(f"format {f.name}: needs >= 4 training and >= 2 separate eval clauses")
    return out


def main() -> None:
    """Write the committed split from the current registry: python -m training.suite.build"""
    reg = registry(with_bigbench=True)  # never a split without the BIG-bench ops: that needs the cache
    issues = problems(reg)
    if issues:
        raise SystemExit("suite problems:\n" + "\n".join(issues))
    split = make_split(reg)
    SPLIT_PATH.write_text(json.dumps(split, indent=1) + "\n")
    print(json.dumps(split["counts"]))


if __name__ == "__main__":
    main()
