"""hypernet.refine: a generated adapter fine-tuned on a few rows, through a tiny frozen Llama."""

import pytest
import torch

from hypernet import generate_adapters
from hypernet.checkpoint import Checkpoint
from hypernet.refine import IGNORE, RefineConfig, answer_loss, greedy_answers, refine_adapter
from tests.helpers import HashingEncoder, tiny_hypernet, tiny_llama

PAD = 0


@pytest.fixture(scope="module")
def parts():
    model = tiny_llama()
    net = tiny_hypernet(model, head_noise=0.05)
    ckpt = Checkpoint(net, "tiny-llama", "test/hashing", "0" * 64)
    adapter = generate_adapters(ckpt, HashingEncoder(), ["Repeat the last token twice."])[0]
    rows = [([5, 9, 17, 3, 40, 41], [IGNORE] * 4 + [40, 41]), ([5, 9, 22, 3, 60, 61], [IGNORE] * 4 + [60, 61]),
            ([5, 9, 30, 31, 3, 70], [IGNORE] * 5 + [70])]
    return model, adapter, rows


def test_zero_lr_changes_nothing(parts):
    model, adapter, rows = parts
    same, losses = refine_adapter(model, adapter, rows, RefineConfig(steps=3, lr=0.0), PAD)
    assert len(losses) == 3
    for x, y in zip(adapter.a + adapter.b, same.a + same.b):
        assert torch.equal(x, y)


def test_the_loss_is_transformers_own_on_the_answer_tokens(parts):
    """answer_loss == the HF model's labels loss (its shift, its mean over non-ignored tokens) with the adapter in."""
    from hypernet import inject

    model, adapter, rows = parts
    ids, labels = rows[0]
    with torch.no_grad(), inject(model, type(adapter).stack([adapter])):
        want = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss
    got = answer_loss(model, (adapter.a, adapter.b), adapter, [rows[0]], PAD)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_inspecting_mid_run_sees_what_a_shorter_run_returns_and_changes_nothing(parts):
    """A learning curve from one run: the adapter `inspect` gets at step k is the one a k-step run returns, the start
    at step 0, and a run that is inspected ends where an uninspected one does."""
    model, adapter, rows = parts
    config = RefineConfig(steps=6, lr=5e-2, batch_size=2)
    seen = {}
    final, _ = refine_adapter(model, adapter, rows, config, PAD, inspect=lambda p, a: seen.__setitem__(p.step, a),
                              inspect_at={0, 3, 6})
    assert sorted(seen) == [0, 3, 6]
    short, _ = refine_adapter(model, adapter, rows, RefineConfig(steps=3, lr=5e-2, batch_size=2), PAD)
    plain, _ = refine_adapter(model, adapter, rows, config, PAD)
    for x, y in zip(seen[0].a + seen[0].b, adapter.a + adapter.b):
        assert torch.equal(x, y)
    for x, y in zip(seen[3].a + seen[3].b, short.a + short.b):  # the schedule has no horizon: step 3 is step 3
        torch.testing.assert_close(x, y)
    for x, y, z in zip(seen[6].a + seen[6].b, final.a + final.b, plain.a + plain.b):
        assert torch.equal(x, y) and torch.equal(y, z)
    assert not torch.equal(seen[3].b[0], seen[6].b[0])  # it did move between the two


def test_a_diverging_run_stops_with_a_clear_error(parts):
    model, adapter, rows = parts
    with pytest.raises(FloatingPointError, match="lower lr"):
        refine_adapter(model, adapter, rows, RefineConfig(steps=5, lr=float("inf")), PAD)


def test_refining_lowers_the_loss_on_its_rows_and_reports_every_step(parts):
    model, adapter, rows = parts
    seen, before = [], {k: v.clone() for k, v in model.state_dict().items()}
    refined, losses = refine_adapter(model, adapter, rows, RefineConfig(steps=40, lr=5e-2, batch_size=2), PAD,
                                     on_step=seen.append)
    assert [p.step for p in seen] == list(range(1, 41)) and seen[-1].eta_s == 0.0
    start = float(answer_loss(model, (adapter.a, adapter.b), adapter, rows, PAD))
    end = float(answer_loss(model, (refined.a, refined.b), refined, rows, PAD))
    assert end < start - 0.4, (start, end)  # a random 2-layer model: q/v LoRAs move it slowly (4.9 -> ~4.3)
    assert refined.targets == adapter.targets and refined.rank == adapter.rank and refined.alpha == adapter.alpha
    assert refined.a[0].dtype == adapter.a[0].dtype and not refined.a[0].requires_grad
    assert any(not torch.equal(x, y) for x, y in zip(adapter.b, refined.b))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the base never moved


def test_loss_counts_answer_tokens_only(parts):
    """Changing a prompt token's label (kept IGNORE) must not matter; changing an answer token must."""
    model, adapter, rows = parts
    loss = lambda r: float(answer_loss(model, (adapter.a, adapter.b), adapter, r, PAD))  # noqa: E731
    ids, labels = rows[0]
    other_answer = [(ids, labels[:-1] + [99])]
    assert loss([rows[0]]) != loss(other_answer)
    with pytest.raises(ValueError, match="answer tokens"):
        refine_adapter(model, adapter, [(ids, [IGNORE] * len(ids))], RefineConfig(steps=1), PAD)


def test_greedy_answers_match_transformers_generate(parts):
    model, adapter, _ = parts
    prompt = [5, 9, 17, 3]
    ours = greedy_answers(model, None, [prompt], 6, stop_ids=[])[0]
    ids = torch.tensor([prompt])
    want = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=6, do_sample=False,
                          pad_token_id=PAD)[0, len(prompt):].tolist()
    assert ours == want
    from hypernet import inject

    with torch.no_grad(), inject(model, type(adapter).stack([adapter])):
        adapted = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=6, do_sample=False,
                                 pad_token_id=PAD)[0, len(prompt):].tolist()
    assert greedy_answers(model, adapter, [prompt], 6, stop_ids=[])[0] == adapted
    stop = ours[2]
    assert greedy_answers(model, None, [prompt], 6, stop_ids=[stop])[0] == ours[:ours.index(stop)]


def test_the_standard_lora_start_leaves_the_model_as_the_base_and_refines_away_from_it(parts):
    """bench.refine's control arm: PEFT's init (B zero) adds nothing at first; refining moves B off zero."""
    from hypernet import inject
    from bench.refine import standard_start

    model, adapter, rows = parts
    start = standard_start(adapter, seed=0)
    assert all(not b.any() for b in start.b) and all(a.abs().max() <= 1 / a.shape[1] ** 0.5 for a in start.a)
    assert any(a.std() > 0 for a in start.a)
    ids = torch.tensor([rows[0][0]])
    with torch.no_grad():
        base = model(input_ids=ids).logits
        with inject(model, type(adapter).stack([start])):
            same = model(input_ids=ids).logits
    torch.testing.assert_close(same, base, rtol=0, atol=0)
    refined, _ = refine_adapter(model, start, rows, RefineConfig(steps=3, lr=1e-2), PAD)
    assert any(b.abs().sum() > 0 for b in refined.b)
