"""SFT data and trainer: completion-only labels, deterministic family-balanced draws, per-sample adapters in one
batch, learning on a toy problem, exact resume, and (slow) the CI config through the real SmolLM2 + MiniLM."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers import HashingEncoder
from training.data import (IGNORE, EmbeddingTable, FamilySampler, collate, encode, eval_split, pad_id, prompt_ids)
from training.common import completion_loss, parse_value
from training.sft import SFTConfig, lr_factor, train_sft

ROOT = Path(__file__).resolve().parents[2]


def test_labels_cover_only_the_answer_and_eos(tiny_lm, toy_tasks):
    _, _, tok = tiny_lm
    task = toy_tasks[0]
    sample = encode(tok, task.name, task.descriptions[0], task.examples[0], max_len=128)
    answer = tok(task.examples[0].target, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    labels = [x for x in sample.labels if x != IGNORE]
    assert labels == answer
    assert list(sample.input_ids[sample.prompt_len:]) == answer
    assert all(x == IGNORE for x in sample.labels[: sample.prompt_len])


@pytest.mark.slow
def test_long_inputs_lose_their_start_not_the_template_or_question(smol_lm):
    _, _, tok = smol_lm
    text = "filler " * 300 + "QUESTION: what is two plus two?"
    ids = prompt_ids(tok, text, budget=64)
    assert len(ids) == 64
    decoded = tok.decode(ids)
    assert decoded.startswith("<|im_start|>system") and "what is two plus two?" in decoded
    assert decoded.rstrip().endswith("<|im_start|>assistant")


def test_collate_pads_right_and_masks(tiny_lm, toy_tasks):
    _, _, tok = tiny_lm
    samples = [encode(tok, t.name, t.descriptions[0], t.examples[0], 128) for t in toy_tasks]
    batch = collate(samples, pad_id(tok))
    for row, s in enumerate(samples):
        n = len(s.input_ids)
        assert batch.attention_mask[row, :n].all() and not batch.attention_mask[row, n:].any()
        assert (batch.labels[row, n:] == IGNORE).all()


def test_sampler_is_a_pure_function_of_seed_and_step_and_balances_families(toy_tasks):
    sampler = FamilySampler(toy_tasks, seed=3)
    again = FamilySampler(list(reversed(toy_tasks)), seed=3)  # input order must not matter
    assert [(t.name, d, e) for t, d, e in sampler.draws(5, 8)] == [(t.name, d, e) for t, d, e in again.draws(5, 8)]
    assert sampler.draws(5, 8) != sampler.draws(6, 8)
    families = [t.family for t, _, _ in (sampler.draw(i) for i in range(2000))]
    assert 0.45 < families.count("judging") / len(families) < 0.55  # 1 task of 3, but 1 family of 2
    assert all(d in t.train_descriptions for t, d, _ in sampler.draws(0, 50))  # never an evaluation phrasing


def test_eval_split_is_disjoint_stable_and_seeded(toy_tasks):
    task = toy_tasks[0]
    held, rest = eval_split(task, 4)
    assert len(held) == 4 and len(rest) == len(task.examples) - 4
    assert not set(map(id, held)) & set(map(id, rest))
    assert eval_split(task, 4) == (held, rest)
    assert eval_split(task, 4, seed=1)[0] != held


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    config = SFTConfig(steps=100, warmup_steps=10, lr=1.0, min_lr_ratio=0.1)
    values = [lr_factor(s, config) for s in range(100)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(values[10:], values[11:]))
    assert values[-1] == pytest.approx(0.1, abs=0.01)


def test_set_values_parse_numbers_yaml_reads_as_strings():
    assert parse_value("1e-4") == pytest.approx(1e-4) and parse_value("3") == 3 and parse_value("L") == "L"


def test_each_sample_gets_its_own_adapter_in_one_batch(tiny_lm, toy_tasks):
    """The batched loss with B different adapters == the token-weighted mean of B single-sample losses."""
    from hypernet import inject
    from tests.helpers import tiny_hypernet

    _, model, tok = tiny_lm
    net = tiny_hypernet(model, head_noise=0.05, seed=2)
    table = EmbeddingTable(HashingEncoder(16))
    items = [(t, t.train_descriptions[k], t.examples[k]) for k, t in enumerate(toy_tasks)]
    for t, _, _ in items:
        table.ensure(t)
    samples = [encode(tok, t.name, d, e, 64) for t, d, e in items]
    batch = collate(samples, pad_id(tok))
    with torch.no_grad(), inject(model, net(table.stack(batch.descriptions))):
        total, count = completion_loss(model, batch)
    parts = []
    for s in samples:
        one = collate([s], pad_id(tok))
        with torch.no_grad(), inject(model, net(table.stack(one.descriptions))):
            parts.append(completion_loss(model, one))
    assert count == sum(n for _, n in parts)
    assert float(total) == pytest.approx(sum(float(x) for x, _ in parts), rel=1e-4)
    with torch.no_grad():  # and the adapters matter: the base model alone scores differently
        assert float(completion_loss(model, batch)[0]) != pytest.approx(float(total), rel=1e-3)


def _brute_cost(lengths, max_rows, overhead):
    """The cheapest grouping of the sorted lengths into contiguous runs, by trying every cut (small n only)."""
    import itertools

    ordered, n, best = sorted(lengths), len(lengths), float("inf")
    for k in range(n):
        for cuts in itertools.combinations(range(1, n), k):
            bounds = (0, *cuts, n)
            runs = [ordered[a:b] for a, b in zip(bounds, bounds[1:])]
            if all(len(r) <= max_rows for r in runs):
                best = min(best, sum(len(r) * max(r) + overhead for r in runs))
    return best


def test_length_buckets_are_a_cheapest_partition_within_the_row_cap():
    import random

    from training.data import length_buckets

    rng = random.Random(0)
    for trial in range(40):
        lengths = [rng.choice([rng.randint(20, 60), rng.randint(90, 128)]) for _ in range(rng.randint(1, 9))]
        cap, overhead = rng.randint(1, 6), rng.choice([0, 24, 200])
        groups = length_buckets(lengths, cap, overhead, min_real=0.0)
        assert sorted(i for g in groups for i in g) == list(range(len(lengths)))  # every row once
        assert all(1 <= len(g) <= cap for g in groups)
        cost = sum(len(g) * max(lengths[i] for i in g) + overhead for g in groups)
        assert cost == _brute_cost(lengths, cap, overhead)
        if len(lengths) <= cap:  # then a grouping without padding exists, so the 90% real-token floor must hold
            padded = sum(len(g) * max(lengths[i] for i in g) for g in length_buckets(lengths, cap, overhead))
            assert sum(lengths) >= 0.9 * padded
    # the shipped step's shape: 16 short rows and 2 long ones -> two micro-batches, not one padded to 128
    shape = [40 + k % 7 for k in range(16)] + [128, 120]
    groups = length_buckets(shape, 18)
    real = sum(shape) / sum(len(g) * max(shape[i] for i in g) for g in groups)
    assert real > 0.9 and len(groups) >= 2


def test_bucketed_step_gives_the_padded_loss_and_gradients(tiny_lm, toy_tasks):
    """Item 1 of the accuracy issue: the same samples, one padded micro-batch or length buckets -> the same
    step loss (normalised by the step's tokens) and the same hypernet gradients, to 1e-5."""
    from tests.helpers import tiny_hypernet
    from training.data import batch_rows
    from training.sft import sft_step

    _, model, tok = tiny_lm
    table = EmbeddingTable(HashingEncoder(16))
    long_task = toy_tasks[2]  # "Is ... an animal?" prompts are longer than the one-word ones
    items = [(t, t.train_descriptions[k % 5], t.examples[k]) for k in range(6) for t in toy_tasks[:2]]
    items += [(long_task, long_task.train_descriptions[k], long_task.examples[k]) for k in range(2)]
    config = SFTConfig(batch_size=len(items), max_len=64, max_grad_norm=0.0, lr=0.0, warmup_steps=1)

    def grads(bucket: bool):
        net = tiny_hypernet(model, head_noise=0.05, seed=2, dropout=0.0).train()
        captured = {}

        class Capture(torch.optim.SGD):  # reads the gradients before sft_step zeroes them
            def step(self, closure=None):
                captured.update({n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None})
                return super().step(closure)

        optimizer = Capture(net.parameters(), lr=0.0)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
        grouped = batch_rows(items, tok, table, 64, len(items), bucket=bucket)
        metrics = sft_step(net, model, table, [b for b, _ in grouped], optimizer, scheduler, config, torch.device("cpu"))
        return metrics, captured, grouped

    padded, g_padded, one = grads(bucket=False)
    bucketed, g_bucketed, many = grads(bucket=True)
    assert len(one) == 1 and len(many) >= 2  # the test really compares two groupings
    assert bucketed["padded_tokens"] < padded["padded_tokens"]
    assert bucketed["tokens"] == padded["tokens"] and bucketed["target_tokens"] == padded["target_tokens"]
    assert bucketed["loss"] == pytest.approx(padded["loss"], rel=1e-5, abs=1e-6)
    assert g_padded.keys() == g_bucketed.keys() and g_padded
    for name, g in g_padded.items():
        torch.testing.assert_close(g_bucketed[name], g, rtol=1e-5, atol=1e-6, msg=name)


def _config(folder, out, **kw) -> SFTConfig:
    return SFTConfig.from_dict(dict(
        base_model=str(folder), encoder="test/hashing", out_dir=str(out), max_len=64, batch_size=4,
        lr=kw.pop("lr", 3e-3), warmup_steps=2, steps=kw.pop("steps", 6), save_every=3, eval_every=0, eval_examples_per_task=2,
        eval_generate=2, eval_max_new_tokens=4, progress=False, seed=1, device="cpu", **kw),
        **{"hyper.embed_dim": 16, "hyper.latent_size": 16,
           "hyper.head_in_size": 32, "hyper.dropout": 0.0})


def test_training_learns_and_writes_a_checkpoint_the_server_can_load(tiny_lm, toy_tasks, tmp_path):
    from hypernet import load_checkpoint

    folder, _, _ = tiny_lm
    final = train_sft(_config(folder, tmp_path / "run", steps=80, lr=1e-2), tasks=(toy_tasks[:2], toy_tasks[2:]),
                      encoder=HashingEncoder(16))
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [x["loss"] for x in lines if "loss" in x]
    assert len(losses) == 80
    assert sum(losses[-10:]) < 0.85 * sum(losses[:10])  # same draws each run: a trainer that does not learn fails
    assert any("eval_loss" in x for x in lines)
    checkpoint = load_checkpoint(final)
    assert checkpoint.provenance["trained"] and checkpoint.provenance["steps"] == 80
    assert checkpoint.base_model == str(folder)


def test_resume_continues_exactly(tiny_lm, toy_tasks, tmp_path):
    folder, _, _ = tiny_lm
    tasks = (toy_tasks[:2], toy_tasks[2:])
    straight = train_sft(_config(folder, tmp_path / "a"), tasks=tasks, encoder=HashingEncoder(16))
    # Rebuild the interrupted run: its step-3 state (kept: keep_states=2) and its log up to step 3.
    (tmp_path / "b" / "state").mkdir(parents=True)
    (tmp_path / "b" / "state" / "step-0000003.pt").write_bytes(
        (tmp_path / "a" / "state" / "step-0000003.pt").read_bytes())
    (tmp_path / "b" / "metrics.jsonl").write_text((tmp_path / "a" / "metrics.jsonl").read_text())
    with pytest.raises(ValueError, match="resume"):
        train_sft(_config(folder, tmp_path / "b"), tasks=tasks, encoder=HashingEncoder(16))
    with pytest.raises(ValueError, match="config changed"):
        train_sft(_config(folder, tmp_path / "b", resume=True, lr=1e-2), tasks=tasks, encoder=HashingEncoder(16))
    resumed = train_sft(_config(folder, tmp_path / "b", resume=True), tasks=tasks, encoder=HashingEncoder(16))
    from safetensors.torch import load_file

    a, b = load_file(straight / "hypernet.safetensors"), load_file(resumed / "hypernet.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(x)["step"] for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps.count(4) == 1  # the log was trimmed to step 3, not duplicated


def test_a_run_exports_its_weights_and_metrics_as_it_goes(tiny_lm, toy_tasks, tmp_path, monkeypatch):
    """export_every: at the state saves, the latest weights (float16) and the log go to the repository folders, so a
    session that ends without `make train-long-save` keeps its steps; the export is the run's own final weights."""
    from hypernet import load_checkpoint

    folder, _, _ = tiny_lm
    tasks = (toy_tasks[:2], toy_tasks[2:])
    start = train_sft(_config(folder, tmp_path / "a", steps=3), tasks=tasks, encoder=HashingEncoder(16))
    kept = tmp_path / "metrics.jsonl"
    kept.write_text((tmp_path / "a" / "metrics.jsonl").read_text())
    seen = []
    import training.sft as sft

    real = sft.export_run
    monkeypatch.setattr(sft, "export_run", lambda out, config: (seen.append(latest_step(out)), real(out, config)))
    final = train_sft(_config(folder, tmp_path / "b", steps=9, init_from=str(start), init_step=3, export_every=3,
                              export_to=str(tmp_path / "warm"), export_metrics=str(kept)),
                      tasks=tasks, encoder=HashingEncoder(16))
    assert seen == [6, 9]  # steps 4..9 of the continued run: saves at 6 and 9 (save_every 3), each exported
    warm, done = load_checkpoint(tmp_path / "warm"), load_checkpoint(final)
    assert warm.provenance["steps"] == 9
    for name, value in done.model.state_dict().items():
        torch.testing.assert_close(warm.model.state_dict()[name], value.half().float(), rtol=0, atol=0)
    rows = [json.loads(x) for x in kept.read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == list(range(1, 10))  # the first run's 1-3, this one's 4-9
    assert [r["step"] for r in rows] == sorted(r["step"] for r in rows)  # (with each run's closing eval line)


def latest_step(out) -> int:
    return int(sorted((Path(out) / "state").glob("step-*.pt"))[-1].stem.split("-")[1])


@pytest.mark.slow
def test_ci_config_runs_through_the_real_models(tmp_path):
    """training/configs/tiny.yaml: real SmolLM2-135M-Instruct + all-MiniLM-L6-v2, 10 steps, under 2 minutes."""
    out = tmp_path / "tiny"
    proc = subprocess.run([sys.executable, "-m", "training.sft", "--config", str(ROOT / "training/configs/tiny.yaml"),
                           "--out", str(out), "--set", "progress=false"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["checkpoint"] == str(out / "checkpoint")
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines if "loss" in x] == list(range(1, 11))
    assert all(torch.isfinite(torch.tensor(x["loss"])) for x in lines if "loss" in x)
    assert "eval_exact_match" in lines[-1]
    bad = subprocess.run([sys.executable, "-m", "training.sft", "--config", str(ROOT / "training/configs/tiny.yaml"),
                          "--set", "nonsense=1"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "nonsense" in bad.stderr


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(tmp_path):
    """torchrun --nproc_per_node=2 (gloo on CPU): both ranks train, stay identical (checked in train_sft), and rank 0
    writes the log and the checkpoint. The same code path runs NCCL on GPUs."""
    import shutil

    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    out = tmp_path / "ddp"
    proc = subprocess.run([torchrun, "--nproc_per_node=2", "--master_port=29541", "-m", "training.sft", "--config",
                           str(ROOT / "training/configs/tiny.yaml"), "--out", str(out), "--set", "steps=3",
                           "--set", "progress=false", "--set", "threads=1"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 3]  # one line per step from rank 0 only, plus the final eval
    assert (out / "checkpoint" / "hypernet.safetensors").exists()


def test_init_from_starts_where_a_checkpoint_ended_and_refuses_another_architecture(tiny_lm, toy_tasks, tmp_path):
    from hypernet import HyperLoRA, load_checkpoint, targets_from_model
    from training.state import warm_start

    folder, model, _ = tiny_lm
    tasks, encoder = (toy_tasks[:2], toy_tasks[2:]), HashingEncoder(16)
    first = train_sft(_config(folder, tmp_path / "a", steps=30, lr=1e-2), tasks=tasks, encoder=encoder)
    config = _config(folder, tmp_path / "b", steps=2, init_from=str(first))
    fresh = HyperLoRA(config.hyper, targets_from_model(model, config.hyper.target_modules))
    warm_start(fresh, str(first), config.hyper)
    trained = load_checkpoint(first).model.state_dict()
    assert all(torch.equal(fresh.state_dict()[k], trained[k]) for k in trained)
    with pytest.raises(ValueError, match="latent_size"):
        warm_start(fresh, str(first), SFTConfig.from_dict({}, **{"hyper.embed_dim": 16, "hyper.latent_size": 8}).hyper)

    def first_loss(run: str) -> float:
        return json.loads((tmp_path / run / "metrics.jsonl").read_text().splitlines()[0])["loss"]

    train_sft(config, tasks=tasks, encoder=encoder)  # same seed, same first draws as run "a"
    assert first_loss("b") < 0.9 * first_loss("a")  # it starts trained, not from the initialisation


def test_a_stopped_run_continues_from_its_weights_at_its_step(tiny_lm, toy_tasks, tmp_path):
    """Across sessions only weights are kept: init_from + init_step picks the schedule and the draws up where the
    run stopped, with a fresh AdamW re-warmed over warmup_steps; snapshots are loadable checkpoints."""
    from hypernet import load_checkpoint
    from training.sft import lr_factor

    folder, _, _ = tiny_lm
    tasks = (toy_tasks[:2], toy_tasks[2:])
    first = _config(folder, tmp_path / "a", steps=8, snapshot_every=4)
    train_sft(first, tasks=tasks, encoder=HashingEncoder(16))
    snap = tmp_path / "a" / "snapshots" / "step-0000004"
    assert load_checkpoint(snap).provenance["steps"] == 4
    later = _config(folder, tmp_path / "b", steps=8, init_from=str(snap), init_step=4)
    final = train_sft(later, tasks=tasks, encoder=HashingEncoder(16))
    lines = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines() if '"loss"' in x]
    assert [x["step"] for x in lines] == [5, 6, 7, 8]
    assert lines[0]["lr"] == pytest.approx(later.lr * lr_factor(4, later))
    assert lr_factor(4, later) == pytest.approx(lr_factor(4, first) / later.warmup_steps)  # re-warmed
    assert lr_factor(7, later) == pytest.approx(lr_factor(7, first))  # then the original schedule
    assert load_checkpoint(final).provenance["steps"] == 8
    with pytest.raises(ValueError, match="needs init_from"):
        _config(folder, tmp_path / "c", init_step=2)
