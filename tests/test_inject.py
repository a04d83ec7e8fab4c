import pytest
import torch

from hypernet import Adapter, inject
from tests.helpers import HashingEncoder, tiny_hypernet, tiny_llama

TASKS = ["Answer with the antonym of the given word.", "Count the vowels in the word.", "Reverse the word."]


def _setup():
    model = tiny_llama()
    net = tiny_hypernet(model, head_noise=0.05)
    return model, net(HashingEncoder().embed(TASKS))


def test_each_sample_gets_its_own_adapter():
    model, lora = _setup()
    ids = torch.randint(0, 128, (3, 5))
    adapters = Adapter.from_batch(lora, "tiny")
    with torch.no_grad(), inject(model, lora):
        batched = model(ids).logits
    for i in range(3):
        with torch.no_grad(), inject(model, Adapter.stack([adapters[i]])):
            one = model(ids[i:i + 1]).logits
        torch.testing.assert_close(batched[i:i + 1], one, rtol=1e-5, atol=1e-5)


def test_index_maps_samples_to_adapters_and_one_adapter_broadcasts():
    model, lora = _setup()
    ids = torch.randint(0, 128, (4, 5))
    index = torch.tensor([2, 0, 2, 1])
    adapters = Adapter.from_batch(lora, "tiny")
    with torch.no_grad(), inject(model, lora, index=index):
        mapped = model(ids).logits
    with torch.no_grad(), inject(model, Adapter.stack([adapters[i] for i in index.tolist()])):
        explicit = model(ids).logits
    torch.testing.assert_close(mapped, explicit, rtol=1e-5, atol=1e-5)
    with torch.no_grad(), inject(model, Adapter.stack([adapters[2]])):
        broadcast = model(ids).logits
    torch.testing.assert_close(broadcast[0], mapped[0], rtol=1e-5, atol=1e-5)


def test_hooks_are_removed_on_exit_even_after_an_error():
    model, lora = _setup()
    ids = torch.randint(0, 128, (3, 5))
    with torch.no_grad():
        base = model(ids).logits
        with pytest.raises(RuntimeError, match="boom"):
            with inject(model, lora):
                raise RuntimeError("boom")
        torch.testing.assert_close(model(ids).logits, base, rtol=0, atol=0)


def test_wrong_batch_size_and_wrong_model_are_named():
    model, lora = _setup()
    with pytest.raises(ValueError, match="3 adapters for a batch of 2"):
        with torch.no_grad(), inject(model, lora):
            model(torch.randint(0, 128, (2, 5)))
    wider = tiny_llama(hidden_size=64)
    with pytest.raises(ValueError, match="wrong base model"):
        with inject(wider, lora):
            pass


def test_injection_equals_merging_w_plus_s_b_a_into_the_weights():
    """Independent of hypernet.lora: per sample, a copy of the model whose target weights are W + s B A (merged
    by hand, s = alpha / sqrt(r) with rsLoRA, else alpha / r) gives the logits the hooks give."""
    import copy
    import math

    model, lora = _setup()
    ids = torch.randint(0, 128, (3, 5))
    with torch.no_grad():
        base = model(ids).logits
        with inject(model, lora):
            hooked = model(ids).logits
    s = lora.alpha / (math.sqrt(lora.rank) if lora.use_rslora else lora.rank)
    for n in range(3):
        merged = copy.deepcopy(model)
        layers = dict(merged.named_modules())
        with torch.no_grad():
            for target, a, b in zip(lora.targets, lora.a, lora.b):
                layers[target.path].weight += s * b[n] @ a[n]  # (out, r) @ (r, in)
            expected = merged(ids[n:n + 1]).logits
        torch.testing.assert_close(hooked[n:n + 1], expected, rtol=1e-4, atol=1e-5)
        assert not torch.allclose(expected, base[n:n + 1], atol=1e-3)  # the adapters really change the output
