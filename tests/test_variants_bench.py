"""bench/variants.py (issue #26): FLOPs counted on the real modules match the architecture's arithmetic per variant,
and one small run over the shipped L, M and S checkpoints writes every figure the table and the plot promise."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from bench.variants import VariantBenchConfig, linear_flops, markdown, plot, run_variants, stage_shapes
from hypernet import HyperConfig, HyperLoRA, targets_from_model
from tests.helpers import tiny_llama
from training.tier_curve import TIERS


@pytest.mark.parametrize("variant", ["L", "M", "S"])
def test_linear_flops_are_the_heads_arithmetic_and_the_rows_each_variant_runs(variant):
    """Heads: L emits r*(in+out) per (task, target), M r*max for A and for B, S max per rank row of A and of B."""
    config = HyperConfig(embed_dim=16, latent_size=16, head_in_size=32, rank=4, variant=variant)
    net = HyperLoRA(config, targets_from_model(tiny_llama(), config.target_modules)).eval()
    n, p = 3, len(net.targets)
    flops = linear_flops(net, lambda: net(torch.randn(n, 16)))
    r = config.rank
    factor = {"L": 1, "M": 2, "S": 2 * r}[variant]  # rows a head reads per (task, target): A/B, rank rows
    widths = {mod: {"L": r * (i + o), "M": r * max(i, o), "S": max(i, o)}[variant]  # (v_proj is narrower: GQA)
              for mod, (i, o) in net.shapes.items()}
    want = sum(2 * n * factor * config.head_in_size * widths[t.module] for t in net.targets)
    assert flops["heads"] == pytest.approx(want)
    rows = n * p * factor  # mlp3 runs once per row a head reads
    m = config.trunk_width
    assert flops["mlp3"] == pytest.approx(2 * rows * (m * 4 * m + 4 * m * config.head_in_size))
    assert stage_shapes(net)[1] == (64 * p * factor, config.head_in_size,
                                    net.heads["q_proj"].out_features)


@pytest.mark.slow  # three real checkpoints, MiniLM, the peak at 64-description shapes: ~30 s on 2 cores
def test_a_small_run_over_the_shipped_variants_has_every_figure(tmp_path):
    config = replace(VariantBenchConfig(), batches=(1, 2), repeats=1, matmul_repeats=1,
                     out=str(tmp_path / "variants.json"))
    result = run_variants(config)
    assert [r["variant"] for r in result["variants"]] == ["L", "M", "S"]
    sizes = [r["parameters"] for r in result["variants"]]
    assert sizes[0] > sizes[1] > sizes[2]
    for r in result["variants"]:
        for b in r["batches"].values():
            assert b["total_ms"] > 0 and b["gflop"]["head"] > 0 and b["gflop"]["trunk"] > 0
        assert len(r["peak"]) == 2 and all(p["gflops"] > 0 for p in r["peak"])
    assert set(result["tiers"]) == set(TIERS)
    for row in result["tiers"].values():
        assert len(row["means"]) == 3 and len(row["vs_first"]) == 2 and row["tasks"] > 0
    table = markdown(result)
    assert table.count("\n| S |") == 2 + len(config.batches) and "heldout_tasks" in table  # + margins row
    assert plot(result, tmp_path / "variants.png").stat().st_size > 10_000
    json.dumps(result)  # the results file is plain JSON
