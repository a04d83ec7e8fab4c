"""The description-necessary suite in training: the committed split, no leakage into the tiers, grouped draws,
the margin pairing, description-in-prompt, the steering metric, and SFT in suite mode (tiny in-process model)."""

from __future__ import annotations

import json

import pytest
import torch

from tests.helpers import HashingEncoder, tiny_hypernet
from training.grouped import GroupedSampler
from training.plan import describe_in_prompt, other_descriptions
from training.steering import steering
from training.suite.build import TIERS, load_split, make_split, problems, registry, tier_tasks, training_tasks
from training.tasks import Example, Task, bigbench_ready


@pytest.fixture(scope="module")
def suite():
    with_bb = bigbench_ready()
    return registry(with_bigbench=with_bb), load_split(), with_bb


@pytest.mark.slow  # builds the whole registry with its BIG-bench part (~15 s)
def test_committed_split_is_the_hash_rule_applied_to_the_registry(suite):
    reg, split, with_bb = suite
    assert problems(reg) == []
    fresh = make_split(reg)
    if with_bb:
        assert fresh == split
    else:  # without the BIG-bench cache the mc pool is absent; every other op keeps its part
        assert set(fresh["train_ops"]) <= set(split["train_ops"])
        assert set(fresh["heldout_ops"]) <= set(split["heldout_ops"])
    assert not set(split["train_ops"]) & set(split["heldout_ops"])
    assert not set(split["train_combos"]) & set(split["heldout_combos"])
    assert len(split["train_ops"]) + len(split["heldout_ops"]) >= 150


def test_tiers_never_share_inputs_or_descriptions_with_training(suite):
    reg, split, _ = suite
    train = training_tasks(reg, split)
    seen_inputs = {(t.family.removesuffix("+fmt"), e.input) for t in train for e in t.examples}
    seen_texts = {d for t in train for d in t.descriptions}
    trained_pairs = {t.name for t in train}
    for tier in TIERS:
        tasks = tier_tasks(tier, reg, split)
        assert tasks, tier
        for t in tasks:
            assert t.train_descriptions == () and len(t.eval_descriptions) >= 3
            assert not set(t.eval_descriptions) & seen_texts, (tier, t.name)
            assert not {(t.family.removesuffix("+fmt"), e.input) for e in t.examples} & seen_inputs, (tier, t.name)
        if tier != "seen_ops_new_descriptions":  # held-out ops and pairs are never trained at all
            assert not {t.name for t in tasks} & trained_pairs


def _shared_input_tasks():
    words = ["cat", "dog", "emu", "fox", "gnu", "hen", "owl", "yak"]
    ops = {"upper": str.upper, "reverse": lambda w: w[::-1], "first": lambda w: w[0], "double": lambda w: w + w,
           "length": lambda w: str(len(w) + ord(w[0]) % 3)}
    return [Task(f"suite:{n}", "suite.word", "generative", "exact_str_match", (),
                 tuple(f"{n} description {k}" for k in range(6)), tuple(Example(w, (f(w),)) for w in words),
                 n, n_train=4) for n, f in ops.items()]


def test_grouped_draws_are_pure_and_contrastive():
    tasks = _shared_input_tasks()
    sampler = GroupedSampler(tasks, inputs_per_step=3, tasks_per_input=4, seed=5)
    again = GroupedSampler(list(reversed(tasks)), inputs_per_step=3, tasks_per_input=4, seed=5)
    draws = sampler.draws(7)
    assert [(t.name, d, e) for t, d, e in draws] == [(t.name, d, e) for t, d, e in again.draws(7)]
    assert draws != sampler.draws(8) and len(draws) == 12
    for g in range(3):
        group = draws[4 * g: 4 * g + 4]
        assert len({e.input for _, _, e in group}) == 1  # one input ...
        assert len({e.target for _, _, e in group}) == 4  # ... under four tasks with different answers
        assert len({t.name for t, _, _ in group}) == 4
        assert all(d in t.train_descriptions for t, d, _ in group)
    others = other_descriptions(draws, 4)
    assert all(o != d and o in {x[1] for x in draws[4 * (i // 4): 4 * (i // 4) + 4]}
               for i, ((_, d, _), o) in enumerate(zip(draws, others)))


def test_description_in_prompt_share():
    draws = GroupedSampler(_shared_input_tasks(), 3, 4, seed=1).draws(0)
    assert describe_in_prompt(draws, 0.0, 0, 0) == draws
    both = describe_in_prompt(draws, 1.0, 0, 0)
    assert all(e2.input == f"{d}\n\n{e.input}" and e2.targets == e.targets
               for (_, d, e), (_, _, e2) in zip(draws, both))
    half = describe_in_prompt(draws, 0.5, 0, 3)
    assert half == describe_in_prompt(draws, 0.5, 0, 3) and 0 < sum(a != b for a, b in zip(half, draws)) < 12


def test_steering_is_zero_for_a_hypernet_that_ignores_descriptions_and_not_otherwise(tiny_lm):
    _, model, tok = tiny_lm
    tasks = _shared_input_tasks()
    enc = HashingEncoder(16)
    blind = tiny_hypernet(model)  # reference SFT init: head weights 0, so every description gives one adapter
    res = steering(blind, model, tok, enc.embed, tasks, per_task=2)
    assert res["n"] == 10
    assert res["other_desc_margin_nats"] == pytest.approx(0.0, abs=1e-5)
    assert res["random_desc_margin_nats"] == pytest.approx(0.0, abs=1e-5)
    reading = tiny_hypernet(model, head_noise=0.5)
    res = steering(reading, model, tok, enc.embed, tasks, per_task=2)
    assert abs(res["other_desc_margin_nats"]) > 1e-3 and abs(res["random_desc_margin_nats"]) > 1e-3


def test_sft_in_suite_mode_runs_every_option_and_logs_steering(tiny_lm, tmp_path):
    from training.sft import SFTConfig, train_sft

    folder, _, _ = tiny_lm
    tasks = _shared_input_tasks()
    config = SFTConfig.from_dict(dict(
        base_model=str(folder), encoder="test/hashing", out_dir=str(tmp_path / "run"), max_len=64, batch_size=8,
        data="suite", group_inputs=2, group_tasks=4, steps=3, lr=1e-2, warmup_steps=1, eval_every=0,
        save_every=0, progress=False, device="cpu", center_embeddings=True, mean_penalty=10.0, margin_weight=1.0,
        desc_in_prompt=0.25, steering_per_task=1),
        **{"hyper.embed_dim": 16, "hyper.latent_size": 16, "hyper.head_in_size": 32, "hyper.dropout": 0.0})
    train_sft(config, tasks=(tasks, []), encoder=HashingEncoder(16), tiers={"seen": tasks[:3], "new": tasks[3:]})
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [x for x in lines if "loss" in x]
    assert len(steps) == 3 and all(x["samples"] == 8 for x in steps)
    assert all("penalty" in x or x["step"] == 1 for x in steps)  # B is exactly 0 before the first update
    assert any("margin_loss" in x for x in steps)
    assert {"eval_steer_seen_other", "eval_steer_new_random"} <= set(lines[-1])
    from hypernet import load_checkpoint

    center = load_checkpoint(tmp_path / "run" / "checkpoint").model.task_center
    assert center.abs().sum() > 0  # the training mean travels with the checkpoint
