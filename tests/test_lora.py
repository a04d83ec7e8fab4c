import math

import pytest
import torch

from hypernet import apply_lora, delta_weight, lora_scale


def test_scale_plain_and_rslora():
    assert lora_scale(16, 8, use_rslora=False) == 2.0
    assert lora_scale(16, 8, use_rslora=True) == pytest.approx(16 / math.sqrt(8))
    with pytest.raises(ValueError):
        lora_scale(16, 0, True)


def test_apply_lora_equals_dense_delta_per_sample():
    torch.manual_seed(0)
    n, t, d_in, d_out, r = 3, 5, 12, 7, 4
    x, a, b = torch.randn(n, t, d_in), torch.randn(n, r, d_in), torch.randn(n, d_out, r)
    got = apply_lora(x, a, b, 0.5)
    for i in range(n):  # each sample sees only its own adapter
        want = x[i] @ delta_weight(a[i], b[i], 0.5).T
        torch.testing.assert_close(got[i], want, rtol=1e-5, atol=1e-5)


def test_apply_lora_rejects_wrong_ranks():
    with pytest.raises(ValueError, match="expected x"):
        apply_lora(torch.randn(5, 12), torch.randn(1, 4, 12), torch.randn(1, 7, 4), 1.0)
