"""What an SFT run draws from and evaluates on: the sampler (family-balanced BIG-bench, or grouped suite draws with
a BIG-bench share), the held-out BIG-bench items, and the suite tiers for the steering metric."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ground.prompt import with_description
from training.data import FamilySampler, eval_items, token_length
from training.grouped import GroupedSampler
from training.suite.build import TIERS, tier_tasks, training_tasks
from training.tasks import Example, bigbench_ready, load_named_tasks, load_split


def _load_tasks(config):
    """(BIG-bench training tasks, held-out tasks for the eval loss). A suite run without the BIG-bench cache (PyPI no
    longer serves it) trains on the suite alone and evaluates on the suite's held-out ops; anything that needs
    BIG-bench tasks says how to go on."""
    split = load_split(config.split)
    if config.data == "suite" and not bigbench_ready():
        if config.bigbench_share > 0:
            raise ValueError(f"bigbench_share {config.bigbench_share} needs the BIG-bench cache, which this machine "
                             "lacks: run `t2l data prepare` (it says where to get the data) or --set bigbench_share=0")

        return [], spread([t for t in tier_tasks("heldout_tasks")], config.max_eval_tasks)
    heldout = sorted(split.heldout)[: config.max_eval_tasks or None]
    train = [] if config.data == "suite" and config.bigbench_share == 0 else \
        load_named_tasks(config.train_tasks or split.train)
    return train, load_named_tasks(heldout)


def spread(tasks: Sequence, count: int) -> list:
    """`count` tasks spread evenly over the name-sorted list (all when count is 0 or larger)."""
    tasks = sorted(tasks, key=lambda t: t.name)
    if count <= 0 or count >= len(tasks):
        return tasks
    return [tasks[int(i * len(tasks) / count)] for i in range(count)]


@dataclass
class Plan:
    """What a run draws from and evaluates on."""

    sampler: Any  # .draws(step, count, rank, world) -> [(task, description, example)]
    per_step: int  # samples per optimizer step (per rank)
    group: int  # rows per contrastive group (0 = ungrouped)
    train_tasks: list  # every task a step can draw (for provenance and the embedding centre)
    held: list  # BIG-bench held-out (task, description, example) items for the eval loss / exact match
    tiers: dict  # suite tier -> tasks for the steering metric


def make_plan(config, tokenizer, tasks=None, tiers=None) -> Plan:
    """The sampler and evaluation sets of a run. `tasks` = (train, heldout) replaces what the config names; in
    suite mode the train list is the suite's tasks plus, with bigbench_share > 0, BIG-bench tasks (tests pass
    their own), told apart by family prefix "suite."."""
    fits = lambda example: token_length(tokenizer, example, config.chat_template) <= config.max_len  # noqa: E731
    train, heldout = tasks if tasks is not None else _load_tasks(config)
    train = list(train)
    if config.data == "bigbench":
        sampler = FamilySampler(train, config.seed, config.family_power, fits)
        per_step, group = config.batch_size * config.grad_accum, 0
    else:
        if tasks is None:
            train = training_tasks(combos=config.suite_combos) + train
        suite = [t for t in train if t.family.startswith("suite.")]
        other = [t for t in train if not t.family.startswith("suite.")]
        fallback = FamilySampler(other, config.seed, config.family_power, fits) if other else None
        sampler = GroupedSampler(suite, config.group_inputs, config.group_tasks, config.seed, fallback,
                                 config.bigbench_share if other else 0.0)
        per_step, group = sampler.per_step, config.group_tasks
    if tiers is None and config.data == "suite" and config.steering_tasks > 0:
        tiers = {tier: spread(tier_tasks(tier), config.steering_tasks) for tier in TIERS}
    held = eval_items(heldout, config.eval_examples_per_task, config.seed)
    return Plan(sampler, per_step, group, train, held, tiers or {})


def other_descriptions(items: Sequence, group: int) -> list[str]:
    """Per item, the description of the next item of its contrastive group (same input, another answer); items
    after the groups (the BIG-bench share) take the next such item's description."""
    n_grouped = (len(items) // group) * group if group else 0
    out = []
    for i in range(len(items)):
        if i < n_grouped:
            g = i - i % group
            out.append(items[g + (i % group + 1) % group][1])
        else:
            tail = len(items) - n_grouped
            out.append(items[n_grouped + (i - n_grouped + 1) % tail][1] if tail > 1 else items[0][1])
    return out


def describe_in_prompt(items: Sequence, share: float, seed: int, step: int, rank: int = 0) -> list:
    """A `share` of the step's items (chosen by (seed, step, rank)) get their description written above the input,
    as `t2l_sft_desc` and the service's `description_in_prompt` option send it (ground.prompt.with_description); the
    adapter is still generated from the description. The reference trains with the task definition in every prompt."""
    if share <= 0:
        return list(items)
    import numpy as np

    pick = np.random.default_rng([seed, step, rank, 7]).random(len(items)) < share
    return [(t, d, Example(with_description(d, e.input), e.targets, e.choices, e.scores)) if p else (t, d, e)
            for (t, d, e), p in zip(items, pick)]
