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


def test_zero_lr_changes_nothing_and_the_base_model_stays_frozen(parts):
    model, adapter, rows = parts
    before = {k: v.clone() for k, v in model.state_dict().items()}
    same, losses = refine_adapter(model, adapter, rows, RefineConfig(steps=3, lr=0.0), PAD)
    assert len(losses) == 3
    for x, y in zip(adapter.a + adapter.b, same.a + same.b):
        assert torch.equal(x, y)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(not p.requires_grad or p.grad is None for p in model.parameters())


def test_refining_lowers_the_loss_on_its_rows_and_reports_every_step(parts):
    model, adapter, rows = parts
    seen = []
    refined, losses = refine_adapter(model, adapter, rows, RefineConfig(steps=40, lr=5e-2, batch_size=2), PAD,
                                     on_step=seen.append)
    assert [p.step for p in seen] == list(range(1, 41)) and seen[-1].eta_s == 0.0
    start = float(answer_loss(model, (adapter.a, adapter.b), adapter, rows, PAD))
    end = float(answer_loss(model, (refined.a, refined.b), refined, rows, PAD))
    assert end < start - 0.4, (start, end)  # a random 2-layer model: q/v LoRAs move it slowly (4.9 -> ~4.3)
    assert refined.targets == adapter.targets and refined.rank == adapter.rank and refined.alpha == adapter.alpha
    assert refined.a[0].dtype == adapter.a[0].dtype and not refined.a[0].requires_grad
    assert any(not torch.equal(x, y) for x, y in zip(adapter.b, refined.b))


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
    with_adapter = greedy_answers(model, adapter, [prompt], 6, stop_ids=[])[0]
    assert len(with_adapter) == 6
    stop = ours[2]
    assert greedy_answers(model, None, [prompt], 6, stop_ids=[stop])[0] == ours[:ours.index(stop)]
