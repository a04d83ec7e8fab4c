import pytest
from torch import nn

from hypernet import targets_from_config, targets_from_model
from tests.helpers import tiny_llama, tiny_llama_config


def test_gqa_shapes_match_the_real_modules():
    cfg = tiny_llama_config()  # 4 heads, 2 kv heads, head_dim 8: v_proj is 32 -> 16
    targets = targets_from_config(cfg, ["q_proj", "v_proj"])
    model = tiny_llama()
    modules = dict(model.named_modules())
    assert [(t.module, t.layer) for t in targets] == [("q_proj", 0), ("q_proj", 1), ("v_proj", 0), ("v_proj", 1)]
    for t in targets:
        layer = modules[t.path]
        assert (t.in_features, t.out_features) == (layer.in_features, layer.out_features)
    assert {(t.module, t.out_features) for t in targets} == {("q_proj", 32), ("v_proj", 16)}


def test_any_linear_module_name_and_lm_head_is_not_a_layer_target():
    targets = targets_from_model(tiny_llama(), ["o_proj", "down_proj", "up_proj"])
    assert {(t.module, t.in_features, t.out_features) for t in targets} == {
        ("o_proj", 32, 32), ("down_proj", 64, 32), ("up_proj", 32, 64)}
    with pytest.raises(ValueError, match="lm_head"):
        targets_from_model(tiny_llama(), ["lm_head"])  # not inside a numbered block


def test_unknown_module_names_the_available_ones():
    with pytest.raises(ValueError, match=r"\['qkv'\] not found.*q_proj"):
        targets_from_model(tiny_llama(), ["q_proj", "qkv"])


def test_mistral_7b_shapes_from_config_alone():
    from transformers import MistralConfig

    targets = targets_from_config(MistralConfig(), ["q_proj", "v_proj"])  # 32 layers, 32 heads, 8 kv heads
    assert len(targets) == 64
    assert {(t.module, t.in_features, t.out_features) for t in targets} == {
        ("q_proj", 4096, 4096), ("v_proj", 4096, 1024)}


def test_non_linear_with_target_name_is_ignored():
    model = tiny_llama()
    model.model.layers[0].self_attn.q_proj = nn.Identity()
    assert [t.layer for t in targets_from_model(model, ["q_proj"])] == [1]
