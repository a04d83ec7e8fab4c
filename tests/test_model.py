import pytest
import torch

from hypernet import Adapter, HyperConfig, HyperLoRA, count_parameters, inject, targets_from_model
from tests.helpers import HashingEncoder, tiny_hypernet, tiny_llama

TASKS = ["Answer with the antonym of the given word.", "Translate the sentence to French.",
         "Sort the list of numbers in ascending order."]


def test_variant_L_starts_at_zero_delta_but_task_dependent_A():
    model = tiny_llama()
    net = tiny_hypernet(model, "L")
    lora = net(HashingEncoder().embed(TASKS))
    assert all(float(b.detach().abs().max()) == 0.0 for b in lora.b)
    assert not torch.allclose(lora.a[0][0], lora.a[0][1])  # A already depends on the description
    ids = torch.randint(0, 128, (3, 6))
    with torch.no_grad():
        base = model(ids).logits
        with inject(model, lora):
            adapted = model(ids).logits
    torch.testing.assert_close(adapted, base, rtol=0, atol=0)


@pytest.mark.parametrize("variant", ["M", "S"])
def test_shared_head_variants_start_small(variant):
    model = tiny_llama(hidden_size=256, intermediate_size=512, num_attention_heads=8, num_key_value_heads=2)
    net = tiny_hypernet(model, variant)
    with torch.no_grad():
        lora = net(HashingEncoder().embed(TASKS))
    for t, a, b in zip(lora.targets, lora.a, lora.b):
        delta = lora.scale * torch.einsum("nor,nri->noi", b, a)  # (N, out, in)
        weight = dict(model.named_modules())[t.path].weight
        assert float(delta.norm(dim=(1, 2)).max()) < 0.1 * float(weight.detach().norm())


@pytest.mark.parametrize("variant", ["L", "M", "S"])
def test_batched_equals_one_by_one(variant):
    model = tiny_llama()
    net = tiny_hypernet(model, variant, head_noise=0.02)
    emb = HashingEncoder().embed(TASKS)
    batched = net(emb)
    for i in range(len(TASKS)):
        single = net(emb[i:i + 1])
        for a_all, a_one, b_all, b_one in zip(batched.a, single.a, batched.b, single.b):
            torch.testing.assert_close(a_all[i], a_one[0], rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(b_all[i], b_one[0], rtol=1e-5, atol=1e-6)


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
    assert float(net.task_proj.weight.grad.abs().sum()) > 0
    assert all(float(h.weight.grad.abs().sum()) > 0 for h in net.heads.values())


def test_parameter_counts_order_and_head_widths():
    targets = targets_from_model(tiny_llama(), ["q_proj", "v_proj"])
    nets = {v: HyperLoRA(HyperConfig(variant=v, embed_dim=16, hidden=32), targets) for v in "LMS"}
    counts = {v: count_parameters(n) for v, n in nets.items()}
    assert counts["L"] > counts["M"] > counts["S"]
    assert nets["L"].heads["v_proj"].out_features == 8 * (32 + 16)
    assert nets["M"].heads["v_proj"].out_features == 8 * 32
    assert nets["S"].heads["v_proj"].out_features == 32


def test_bad_inputs_are_named():
    net = tiny_hypernet(tiny_llama())
    with pytest.raises(ValueError, match=r"\(N, 16\)"):
        net(torch.randn(2, 15))
    with pytest.raises(ValueError, match="variant"):
        HyperConfig(variant="XL")
    targets = targets_from_model(tiny_llama(), ["q_proj"])
    with pytest.raises(ValueError, match="no targets given for modules \\['v_proj'\\]"):
        HyperLoRA(HyperConfig(embed_dim=16), targets)


def test_split_into_adapters_detaches():
    net = tiny_hypernet(tiny_llama(), head_noise=0.02).train()
    adapters = Adapter.from_batch(net(HashingEncoder().embed(TASKS)), "tiny")
    assert len(adapters) == 3 and not adapters[0].a[0].requires_grad
