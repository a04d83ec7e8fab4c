import math

import pytest
import torch

from hypernet import Adapter, HyperConfig, HyperLoRA, count_parameters, inject, targets_from_model
from tests.helpers import HashingEncoder, tiny_hypernet, tiny_llama

TASKS = ["Answer with the antonym of the given word.", "Translate the sentence to French.",
         "Sort the list of numbers in ascending order."]


def _noisy(net, std=0.05, seed=3):
    """Perturb every parameter so that outputs depend on every part of the network."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=g) * std)
    return net


def test_variant_L_starts_at_zero_delta_with_peft_A_init():
    model = tiny_llama()
    net = tiny_hypernet(model, "L")
    lora = net(HashingEncoder().embed(TASKS))
    assert all(float(b.detach().abs().max()) == 0.0 for b in lora.b)
    for t, a in zip(lora.targets, lora.a):  # the reference's SFT init: A = PEFT's init, the same for every task
        bound = 1 / math.sqrt(t.in_features)
        assert 0.5 * bound < float(a.detach().abs().max()) <= bound
        assert torch.equal(a[0], a[1])
    ids = torch.randint(0, 128, (3, 6))
    with torch.no_grad():
        base = model(ids).logits
        with inject(model, lora):
            adapted = model(ids).logits
    torch.testing.assert_close(adapted, base, rtol=0, atol=0)


@pytest.mark.parametrize("variant", ["M", "S"])
def test_shared_head_init_follows_the_reference_rule(variant):
    net = tiny_hypernet(tiny_llama(), variant)
    r = net.config.rank
    with torch.no_grad():
        lora = net(HashingEncoder().embed(TASKS))
    for module, head in net.heads.items():
        assert float(head.weight.detach().abs().max()) == 0.0
    for t, a, b in zip(lora.targets, lora.a, lora.b):
        bound = 1 / math.sqrt(t.in_features)
        if variant == "M":  # A and B^T both start at A_init / sqrt(2), cut to their widths
            assert float(a.abs().max()) <= bound / math.sqrt(2)
            torch.testing.assert_close(b.transpose(-1, -2), a[..., : t.out_features])
        else:  # one row, repeated for every rank position, / sqrt(2) / sqrt(r)
            assert float(a.abs().max()) <= bound / math.sqrt(2 * r)
            assert torch.equal(a[:, 0], a[:, -1])
        assert torch.equal(a[0], a[-1])


@pytest.mark.parametrize("variant,extra", [("L", {}), ("M", {}), ("S", {}), ("S", {"learnable_pos_emb": True})])
def test_batched_equals_one_by_one(variant, extra):
    model = tiny_llama()
    net = _noisy(tiny_hypernet(model, variant, **extra))
    emb = HashingEncoder().embed(TASKS)
    batched = net(emb)
    for i in range(len(TASKS)):
        single = net(emb[i:i + 1])
        for a_all, a_one, b_all, b_one in zip(batched.a, single.a, batched.b, single.b):
            torch.testing.assert_close(a_all[i], a_one[0], rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(b_all[i], b_one[0], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(batched.a[0][0], batched.a[0][1])  # the description matters once trained


@pytest.mark.parametrize("variant", ["L", "M", "S"])
def test_gradients_reach_the_trunk_through_an_adapted_forward(variant):
    model = tiny_llama()
    for p in model.parameters():
        p.requires_grad_(False)
    net = tiny_hypernet(model, variant, head_noise=0.02).train()
    ids = torch.randint(0, 128, (2, 6))
    with inject(model, net(HashingEncoder().embed(TASKS[:2]))):
        loss = model(ids, labels=ids).loss
    loss.backward()
    assert float(net.task_encoder.mlp[0].weight.grad.abs().sum()) > 0
    assert all(float(h.weight.grad.abs().sum()) > 0 for h in net.heads.values())


def test_parameter_counts_order_and_head_widths():
    targets = targets_from_model(tiny_llama(), ["q_proj", "v_proj"])
    nets = {v: HyperLoRA(HyperConfig(variant=v, embed_dim=16, latent_size=16, head_in_size=32), targets)
            for v in "LMS"}
    counts = {v: count_parameters(n) for v, n in nets.items()}
    assert counts["L"] > counts["M"] > counts["S"]
    assert nets["L"].heads["v_proj"].out_features == 8 * (32 + 16)
    assert nets["M"].heads["v_proj"].out_features == 8 * 32
    assert nets["S"].heads["v_proj"].out_features == 32
    assert nets["L"].heads["v_proj"].in_features == 32
    assert nets["L"].task_encoder.mlp[0].out_features == 8 and nets["L"].mixer[1].in_features == 16


def test_offset_without_bias_outputs_exactly_the_offset_at_init():
    model = tiny_llama()
    net = tiny_hypernet(model, "L", ab_offset=True, head_use_bias=False)
    assert all(h.bias is None for h in net.heads.values())
    emb = HashingEncoder().embed(TASKS)
    zero = net(emb)
    assert all(float(x.detach().abs().max()) == 0.0 for x in zero.a + zero.b)
    g = torch.Generator().manual_seed(0)
    mt = Adapter(net.targets, tuple(torch.randn(8, t.in_features, generator=g) for t in net.targets),
                 tuple(torch.randn(t.out_features, 8, generator=g) for t in net.targets), 8, 16.0, True, "tiny")
    net.set_offset(mt)
    out = net(emb)
    for i, t in enumerate(out.targets):
        j = mt.targets.index(t)
        assert torch.equal(out.a[i][1], mt.a[j]) and torch.equal(out.b[i][2], mt.b[j])
    assert count_parameters(net) == count_parameters(tiny_hypernet(model, "L", head_use_bias=False))
    with pytest.raises(ValueError, match="no AB offset"):
        tiny_hypernet(model, "L").set_offset(mt)


def test_task_center_changes_the_output_only_when_set():
    net = _noisy(tiny_hypernet(tiny_llama(), "L"))
    emb = HashingEncoder().embed(TASKS)
    before = net(emb)
    assert torch.equal(net.task_center, torch.zeros(16)) and "task_center" in net.state_dict()
    net.set_task_center(torch.zeros(16))
    same = net(emb)
    assert all(torch.equal(x, y) for x, y in zip(before.a + before.b, same.a + same.b))
    center = emb.mean(0)
    net.set_task_center(center)
    moved = net(emb)
    assert not torch.allclose(moved.a[0], before.a[0])
    shifted = HyperLoRA(net.config, net.targets).eval()
    shifted.load_state_dict({**net.state_dict(), "task_center": torch.zeros(16)})
    again = shifted(emb - center)  # the center is exactly a shift of the input
    torch.testing.assert_close(again.a[0], moved.a[0], rtol=0, atol=1e-6)
    net.set_task_center(None)
    assert torch.equal(net(emb).a[0], before.a[0])
    with pytest.raises(ValueError, match=r"\(16,\)"):
        net.set_task_center(torch.zeros(3))


def test_zscore_and_scaled_recon_modes():
    model = tiny_llama()
    emb = HashingEncoder().embed(TASKS)
    plain = _noisy(tiny_hypernet(model, "M", match_lora_init=False))
    raw = plain(emb)
    z = tiny_hypernet(model, "M", match_lora_init=False, recon_mode="zscore")
    z.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        z.std_recon_target.get("A", "q_proj").fill_(2.0)
        z.mean_recon_target.get("B", "v_proj").fill_(0.5)
    out = z(emb)
    q = [i for i, t in enumerate(out.targets) if t.module == "q_proj"][0]
    v = [i for i, t in enumerate(out.targets) if t.module == "v_proj"][0]
    torch.testing.assert_close(out.a[q], raw.a[q] * (2.0 + 1e-10))
    torch.testing.assert_close(out.b[v], raw.b[v] + 0.5)
    s = tiny_hypernet(model, "M", match_lora_init=False, recon_mode="scaled", delta_w_scaling=100.0)
    s.load_state_dict(plain.state_dict())
    torch.testing.assert_close(s(emb).b[v], raw.b[v] / 10.0)


def test_bad_inputs_are_named():
    net = tiny_hypernet(tiny_llama())
    with pytest.raises(ValueError, match=r"\(N, 16\)"):
        net(torch.randn(2, 15))
    with pytest.raises(ValueError, match="variant"):
        HyperConfig(variant="XL")
    with pytest.raises(ValueError, match="variant S only"):
        HyperConfig(variant="L", learnable_pos_emb=True)
    with pytest.raises(ValueError, match="multiple of 4"):
        HyperConfig(latent_size=18)
    targets = targets_from_model(tiny_llama(), ["q_proj"])
    with pytest.raises(ValueError, match="no targets given for modules \\['v_proj'\\]"):
        HyperLoRA(HyperConfig(embed_dim=16), targets)


def test_split_into_adapters_detaches():
    net = tiny_hypernet(tiny_llama(), head_noise=0.02).train()
    adapters = Adapter.from_batch(net(HashingEncoder().embed(TASKS)), "tiny")
    assert len(adapters) == 3 and not adapters[0].a[0].requires_grad
