"""LoRA baselines (peft), reconstruction and evaluation on a tiny in-process model: the library's PEFT files give
the same logits through peft and through our inject, trainers never see evaluation examples, reconstruction
recovers a library, scoring matches a direct computation, and `run_eval` writes every promised output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hypernet import Adapter, HyperConfig, inject
from tests.helpers import HashingEncoder
from training.data import eval_split
from training.eval_run import EvalInputs, run_eval
from training.evaluate import (METHODS, EvalConfig, Method, Row, build_rows, can_still_match, random_description,
                               score_choices)
from training.lora_library import LoRATrainConfig, adapter_dirname, library_tasks, task_draw, train_lora
from training.recon import ReconConfig, delta_errors, load_library, train_recon

SMALL = dict(embed_dim=16, latent_size=16, head_in_size=32, dropout=0.0)


def _lora_config(**kw) -> LoRATrainConfig:
    return LoRATrainConfig(hyper=HyperConfig(**SMALL), steps=kw.pop("steps", 4), batch_size=4, lr=5e-2,
                           max_len=64, eval_examples=4, **kw)


def test_oracle_draws_never_include_evaluation_examples(toy_tasks):
    task = toy_tasks[0]
    held, _ = eval_split(task, 4)
    draw = task_draw(task, _lora_config(), fits=lambda e: True)
    seen = {e.input for step in range(30) for _, _, e in draw(step, 8)}
    assert seen and not seen & {e.input for e in held}
    assert draw(3, 8) == draw(3, 8)


def test_library_lora_is_a_standard_peft_adapter_that_inject_reproduces(tiny_lm, toy_tasks, tmp_path):
    from peft import PeftModel

    folder, model, tok = tiny_lm
    task = toy_tasks[0]
    log = train_lora(model, tok, task_draw(task, _lora_config(steps=6), lambda e: True), _lora_config(steps=6),
                     tmp_path / "upper", {"task": task.name})
    assert len(log["log"]) == 6 and log["log"][-1]["loss"] < log["log"][0]["loss"]
    assert not any("lora" in n for n, _ in model.named_modules())  # the shared base model is clean again
    adapter = Adapter.from_peft(tmp_path / "upper")
    assert adapter.rank == 8 and adapter.use_rslora and sorted(adapter.target_modules) == ["q_proj", "v_proj"]
    assert any(float(b.abs().max()) > 0 for b in adapter.b)  # trained: B moved off zero
    ids = torch.tensor([tok("<|im_start|>user\ncat<|im_end|>")["input_ids"]])
    with torch.no_grad(), inject(model, Adapter.stack([adapter])):
        ours = model(input_ids=ids).logits
    from tests.helpers import tiny_llama

    fresh = tiny_llama(vocab_size=len(tok), max_position_embeddings=1024, initializer_range=0.3)
    with torch.no_grad():
        theirs = PeftModel.from_pretrained(fresh, str(tmp_path / "upper")).eval()(input_ids=ids).logits
        base = model(input_ids=ids).logits
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(ours, base, atol=1e-3)


def test_library_picks_one_task_per_family(toy_tasks):
    picked = library_tasks(toy_tasks, count=5, min_examples=1)
    assert len(picked) == 2 and len({t.family for t in picked}) == 2
    assert [t.name for t in picked] == [t.name for t in library_tasks(toy_tasks, count=5, min_examples=1)]


def _random_library(model, tasks, folder: Path, seed: int = 0) -> None:
    """Library adapters with known weights (random A and B), saved as PEFT folders with their task names."""
    from hypernet import targets_from_model

    targets = targets_from_model(model, ("q_proj", "v_proj"))
    gen = torch.Generator().manual_seed(seed)
    for task in tasks:
        a = tuple(torch.randn(8, t.in_features, generator=gen) * 0.2 for t in targets)
        b = tuple(torch.randn(t.out_features, 8, generator=gen) * 0.05 for t in targets)
        adapter = Adapter(tuple(targets), a, b, 8, 16.0, True, "tiny")
        adapter.to_peft(folder / adapter_dirname(task.name))
        (folder / adapter_dirname(task.name) / "train_log.json").write_text(json.dumps({"task": task.name}))


def test_reconstruction_recovers_the_library(tiny_lm, toy_tasks, tmp_path):
    _, model, _ = tiny_lm
    _random_library(model, toy_tasks, tmp_path / "lib")
    names, adapters = load_library(tmp_path / "lib")
    assert sorted(names) == sorted(t.name for t in toy_tasks)
    by_name = {t.name: t for t in toy_tasks}
    tasks = [by_name[n] for n in names]
    config = ReconConfig(hyper=HyperConfig(**{**SMALL, "head_in_size": 64}), steps=400, lr=3e-3)
    report = train_recon(config, tasks, adapters, HashingEncoder(16), tmp_path / "recon", "tiny", progress=False)
    errors = report["delta_w_relative_error"]
    assert set(errors) == set(names)
    assert max(errors.values()) < 0.3, errors  # untrained (B = 0) is exactly 1.0
    assert report["log"][-1]["l1"] < 0.5 * report["log"][0]["l1"]
    assert (tmp_path / "recon" / "checkpoint" / "hypernet.safetensors").exists()


def test_delta_error_is_zero_for_itself_and_one_for_zero():
    a = [torch.randn(2, 8, 5)]
    b = [torch.randn(2, 6, 8)]
    same = type("L", (), {"a": a, "b": b})
    zero = type("L", (), {"a": a, "b": [torch.zeros_like(b[0])]})
    assert delta_errors(same, a, b) == pytest.approx([0.0, 0.0], abs=1e-6)
    assert delta_errors(zero, a, b) == pytest.approx([1.0, 1.0])


def test_random_description_has_the_length_and_is_seeded():
    text = "Give the plural form of an English noun."
    assert len(random_description(text, 1)) == len(text)
    assert random_description(text, 1) == random_description(text, 1) != random_description(text, 2)


def test_choice_scoring_matches_a_direct_log_likelihood(tiny_lm, toy_tasks):
    from tests.training.conftest import toy_task

    _, model, tok = tiny_lm
    task = toy_task("long", "judging", [(f"Is {w} small?", "it is small indeed") for w in ("ant", "bee", "cat")],
                    choices=("it is small indeed", "no", "not at all, it is huge"))  # multi-token, uneven choices
    rows = build_rows(Method("base"), [task], tok, EvalConfig(examples_per_task=3))
    score_choices(model, rows, tok.eos_token_id)
    for row in rows:
        logliks = []
        for choice in row.choices:
            ids = torch.tensor([row.prompt + choice])
            with torch.no_grad():
                logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
            logliks.append(sum(float(logp[len(row.prompt) - 1 + k, t]) for k, t in enumerate(choice)))
        assert row.logliks == pytest.approx(logliks, rel=1e-4, abs=1e-4)
        best = max(range(len(logliks)), key=logliks.__getitem__)
        assert row.score == row.scores[best]


def test_rows_with_different_adapters_score_as_if_alone(tiny_lm, toy_tasks, tmp_path):
    _, model, tok = tiny_lm
    _random_library(model, toy_tasks, tmp_path / "lib", seed=3)
    adapters = {t.name: Adapter.from_peft(tmp_path / "lib" / adapter_dirname(t.name)) for t in toy_tasks}
    method = Method("oracle", adapter=lambda task, text: adapters[task.name])
    config = EvalConfig(examples_per_task=4)
    mixed = build_rows(method, [toy_tasks[2]], tok, config)
    for r, other in zip(mixed, ["upper", "double", "animal", "upper"]):  # give rows different adapters
        r.adapter = adapters[other]
    score_choices(model, mixed, tok.eos_token_id)
    for r in mixed:
        alone = Row(r.task, r.prompt, r.adapter, r.choices, r.scores)
        score_choices(model, [alone], tok.eos_token_id)
        assert alone.score == r.score


def test_run_eval_writes_every_method_table_and_plots(tiny_lm, toy_tasks, tmp_path, monkeypatch):
    from hypernet import init_checkpoint
    from ground.assets import DEFAULT_ENCODER

    folder, model, tok = tiny_lm
    _random_library(model, toy_tasks, tmp_path / "oracles", seed=4)
    _random_library(model, toy_tasks[:1], tmp_path / "multi", seed=5)
    checkpoint = tmp_path / "ckpt"
    init_checkpoint(checkpoint, str(folder), str(folder), DEFAULT_ENCODER,
                    HyperConfig(latent_size=32, head_in_size=32), seed=1, head_noise=0.05)
    inputs = EvalInputs(base_model=str(folder), sft=str(checkpoint), recon=str(checkpoint),
                        multitask=str(tmp_path / "multi" / adapter_dirname("upper")), oracles=str(tmp_path / "oracles"))
    results = run_eval(inputs, EvalConfig(examples_per_task=3, max_new_tokens=4), tmp_path / "out", model=model,
                       tokenizer=tok, tasks=toy_tasks)
    assert list(results["summary"]) == list(METHODS) and not results["skipped"]
    assert all(0.0 <= v <= 100.0 for v in results["summary"].values())
    saved = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert set(saved["summary"]) == set(METHODS) and set(saved["tasks"]) == {t.name for t in toy_tasks}
    assert "T2L (SFT)" in (tmp_path / "out" / "eval.md").read_text()
    for name in ("eval.png", "adapters.png"):
        assert (tmp_path / "out" / name).read_bytes()[:4] == b"\x89PNG"
    # A second run with the same inputs reuses the saved scores; a retrained oracle library is scored again.
    import training.evaluate as evaluate_module

    calls = []
    real = evaluate_module.evaluate_method
    monkeypatch.setattr(evaluate_module, "evaluate_method", lambda m, *a, **k: calls.append(m.name) or real(m, *a, **k))
    again = run_eval(inputs, EvalConfig(examples_per_task=3, max_new_tokens=4), tmp_path / "out", model=model,
                     tokenizer=tok, tasks=toy_tasks)
    assert calls == [] and again["summary"] == results["summary"]
    _random_library(model, toy_tasks, tmp_path / "oracles", seed=6)
    run_eval(inputs, EvalConfig(examples_per_task=3, max_new_tokens=4), tmp_path / "out", model=model,
             tokenizer=tok, tasks=toy_tasks)
    assert calls == ["oracle"]
    # Missing inputs drop their methods and say why; they are never filled in.
    partial = run_eval(EvalInputs(base_model=str(folder)), EvalConfig(examples_per_task=2, max_new_tokens=2),
                       tmp_path / "partial", model=model, tokenizer=tok, tasks=toy_tasks)
    assert set(partial["summary"]) == {"base", "base_desc", "base_desc_system"}
    assert set(partial["skipped"]) == set(METHODS) - {"base", "base_desc", "base_desc_system"}


def test_generation_stops_only_rows_that_can_no_longer_match():
    assert can_still_match("", ["cats"]) and can_still_match("  ca", ["cats"]) and can_still_match("cats\n", ["cats"])
    assert not can_still_match("cats are", ["cats"]) and not can_still_match("dog", ["cats", "mice"])
    assert can_still_match("mi", ["cats", "mice"]) and can_still_match("caf\ufffd", ["cats"])


@pytest.mark.slow  # real tokenizer: with the byte-level tiny one none of the rows picked below came out matchable
def test_early_stopping_leaves_generation_scores_unchanged(smol_lm, toy_tasks, monkeypatch):
    import training.evaluate as evaluate_module
    from training.evaluate import score_generations

    _, model, tok = smol_lm
    rows = build_rows(Method("base"), toy_tasks[:2], tok, EvalConfig(examples_per_task=4, max_new_tokens=6))
    for r in rows[::3]:  # make some rows matchable: the reference is whatever greedy decoding says
        ids = torch.tensor([r.prompt])
        with torch.no_grad():
            out = model.generate(input_ids=ids, max_new_tokens=r.max_new_tokens, do_sample=False,
                                 pad_token_id=tok.eos_token_id)
        r.targets = (tok.decode(out[0, len(r.prompt):], skip_special_tokens=True).strip(),)
    score_generations(model, tok, rows, batch_size=4)
    fast = [r.score for r in rows]
    monkeypatch.setattr(evaluate_module, "can_still_match", lambda text, targets: True)  # never stop early
    score_generations(model, tok, rows, batch_size=4)
    assert [r.score for r in rows] == fast and sum(fast) >= 1


def test_run_tiers_reports_every_tier_oracle_subset_and_steering(tiny_lm, toy_tasks, tmp_path):
    from hypernet import init_checkpoint
    from ground.assets import DEFAULT_ENCODER
    from training.eval_tiers import run_tiers

    folder, model, tok = tiny_lm
    _random_library(model, toy_tasks[:1], tmp_path / "oracles", seed=4)  # an oracle for one task only
    checkpoint = tmp_path / "ckpt"
    init_checkpoint(checkpoint, str(folder), str(folder), DEFAULT_ENCODER,
                    HyperConfig(latent_size=32, head_in_size=32), seed=1, head_noise=0.05)
    inputs = EvalInputs(base_model=str(folder), sft=str(checkpoint), oracles=str(tmp_path / "oracles"),
                        methods=("base", "base_desc", "t2l_sft", "t2l_sft_random_desc", "t2l_sft_other_desc",
                                 "t2l_sft_desc", "oracle"))
    tiers = {"seen_ops_new_descriptions": toy_tasks[:2], "heldout_tasks": toy_tasks}
    out = run_tiers(inputs, EvalConfig(examples_per_task=2, max_new_tokens=4), tmp_path / "out", model=model,
                    tokenizer=tok, tiers=tiers, steering_per_task=1)
    saved = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert set(saved["tiers"]) == set(tiers) and set(saved["steering"]) == set(tiers)
    for tier in tiers:
        assert set(saved["tiers"][tier]) == set(inputs.methods)  # oracle: mean over the tasks that have one
        assert saved["oracle_tasks"][tier]["n_tasks"] == 1
        steer = saved["steering"][tier]
        assert {"other_desc_margin_nats", "random_desc_margin_nats", "stderr_nats"} <= set(steer)
        assert steer["n"] == len(tiers[tier])  # one example per task, each with a peer
    assert set(out["summary"]) == set(inputs.methods) - {"oracle"}  # the non-suite tasks' headline
    assert "other-task margin" in (tmp_path / "out" / "eval.md").read_text()

    # An evaluation whose baselines' LoRAs are gone takes their scores from this one, unchanged, and says so.
    again = run_tiers(EvalInputs(**{**inputs.__dict__, "oracles": None}), EvalConfig(examples_per_task=2,
                      max_new_tokens=4), tmp_path / "again", model=model, tokenizer=tok, tiers=tiers,
                      steering_per_task=1, reuse=tmp_path / "out" / "eval.json", reuse_methods=("base", "oracle"))
    assert again["tiers"] == saved["tiers"] and again["reused"]["methods"] == ["base", "oracle"]
    for tier in tiers:
        assert again["by_tier"][tier]["tasks"] == saved["by_tier"][tier]["tasks"]
        assert again["by_tier"][tier]["seconds"]["base"] is None  # taken, not run
    with pytest.raises(ValueError, match="examples_per_task"):
        run_tiers(inputs, EvalConfig(examples_per_task=3, max_new_tokens=4), tmp_path / "third", model=model,
                  tokenizer=tok, tiers=tiers, reuse=tmp_path / "out" / "eval.json", reuse_methods=("base",))
