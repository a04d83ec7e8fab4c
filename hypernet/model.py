"""HyperLoRA: the T2L hypernetwork (Charakorn et al. 2025, arXiv 2506.06105, Section 3).

For every (task, module type, layer) the input is
    concat(task_proj(embedding of the description), module_emb[module], layer_emb[layer])
which a mixer MLP and residual MLP blocks turn into a hidden vector h. A head per module type reads h:
    L  one head emits all of A (r x in) and B (out x r) at once              -> head width r * (in + out)
    M  one shared head, run twice with an A/B embedding appended to the input -> head width r * max(in, out)
    S  one shared head, run 2r times with A/B and rank-index embeddings       -> head width max(in, out)
One forward call runs the trunk over every task x module x layer (x A/B x rank) at once; heads run once per
module type (a handful), each over all tasks and layers.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from .config import HyperConfig
from .lora import LoRABatch
from .targets import TargetSpec


class ResidualBlock(nn.Module):
    """Pre-norm MLP block: h + W2 silu(W1 norm(h))."""

    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.up = nn.Linear(width, width)
        self.down = nn.Linear(width, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, h: Tensor) -> Tensor:
        return h + self.drop(self.down(nn.functional.silu(self.up(self.norm(h)))))


class HyperLoRA(nn.Module):
    """Task embeddings (N, embed_dim) -> a LoRABatch with A and B for every target of N adapters."""

    def __init__(self, config: HyperConfig, targets: Sequence[TargetSpec]) -> None:
        super().__init__()
        self.config = config
        order = {m: i for i, m in enumerate(config.target_modules)}
        stray = sorted({t.module for t in targets} - set(order))
        if stray:
            raise ValueError(f"targets name modules {stray} that the config does not list: {config.target_modules}")
        self.targets = tuple(sorted(targets, key=lambda t: (order[t.module], t.layer)))
        self.shapes: dict[str, tuple[int, int]] = {}  # module -> (in_features, out_features)
        self.layer_count: dict[str, int] = {}
        for t in self.targets:
            if self.shapes.setdefault(t.module, (t.in_features, t.out_features)) != (t.in_features, t.out_features):
                raise ValueError(f"{t.module} changes shape across layers ({self.shapes[t.module]} vs "
                                 f"{(t.in_features, t.out_features)} at layer {t.layer}); not supported")
            self.layer_count[t.module] = self.layer_count.get(t.module, 0) + 1
        missing = [m for m in config.target_modules if m not in self.shapes]
        if missing:
            raise ValueError(f"no targets given for modules {missing}")
        n_layers = max(t.layer for t in self.targets) + 1
        r, c = config.rank, config
        # Which (module, layer) each trunk position stands for, in self.targets order.
        self.register_buffer("pos_module", torch.tensor([order[t.module] for t in self.targets]), persistent=False)
        self.register_buffer("pos_layer", torch.tensor([t.layer for t in self.targets]), persistent=False)

        self.task_proj = nn.Linear(c.embed_dim, c.task_dim)
        self.module_emb = nn.Embedding(len(config.target_modules), c.module_dim)
        self.layer_emb = nn.Embedding(n_layers, c.layer_dim)
        in_dim = c.task_dim + c.module_dim + c.layer_dim
        if c.variant in ("M", "S"):
            self.ab_emb = nn.Embedding(2, c.module_dim)  # 0 = A, 1 = B
            in_dim += c.module_dim
        if c.variant == "S":
            self.rank_emb = nn.Embedding(r, c.module_dim)
            in_dim += c.module_dim
        self.mixer = nn.Sequential(nn.Linear(in_dim, c.hidden), nn.SiLU(), nn.Dropout(c.dropout))
        self.blocks = nn.ModuleList(ResidualBlock(c.hidden, c.dropout) for _ in range(c.n_blocks))
        self.norm = nn.LayerNorm(c.hidden)
        self.heads = nn.ModuleDict({m: nn.Linear(c.hidden, self._head_width(m)) for m in config.target_modules})
        self.reset_heads()

    def _head_width(self, module: str) -> int:
        d_in, d_out = self.shapes[module]
        r = self.config.rank
        return {"L": r * (d_in + d_out), "M": r * max(d_in, d_out), "S": max(d_in, d_out)}[self.config.variant]

    @torch.no_grad()
    def reset_heads(self) -> None:
        """L: bias holds a PEFT-style A (kaiming-uniform, bound 1/sqrt(in)) and B = 0 exactly, so every generated
        adapter starts at delta W = 0 while A already depends on the task. M and S share one head between A and B,
        so exact zero is impossible; they start small (delta ~ head_init_std^2 of a PEFT-sized update)."""
        c = self.config
        for module, head in self.heads.items():
            d_in, d_out = self.shapes[module]
            if c.variant == "L":
                bound = 1.0 / math.sqrt(d_in)
                n_a = c.rank * d_in
                head.weight.zero_()
                head.bias.zero_()
                head.weight[:n_a].normal_(0.0, c.head_init_std * bound / math.sqrt(c.hidden))
                head.bias[:n_a].uniform_(-bound, bound)
            else:
                std = c.head_init_std / math.sqrt(max(d_in, d_out) * c.hidden)
                head.weight.normal_(0.0, std)
                head.bias.zero_()

    def forward(self, task_emb: Tensor) -> LoRABatch:
        """task_emb (N, embed_dim) -> LoRABatch of N adapters over self.targets."""
        c, r = self.config, self.config.rank
        if task_emb.dim() != 2 or task_emb.shape[1] != c.embed_dim:
            raise ValueError(f"task embeddings must be (N, {c.embed_dim}), got {tuple(task_emb.shape)}")
        n, p = task_emb.shape[0], len(self.targets)
        task = self.task_proj(task_emb)                                                   # (N, task_dim)
        where = torch.cat([self.module_emb(self.pos_module), self.layer_emb(self.pos_layer)], dim=-1)  # (P, m+l)
        x = torch.cat([task[:, None, :].expand(n, p, -1), where[None].expand(n, -1, -1)], dim=-1)  # (N, P, D)
        if c.variant == "M":  # (N, P, 2, D + m): one row for A, one for B
            ab = self.ab_emb.weight[None, None].expand(n, p, -1, -1)
            x = torch.cat([x[:, :, None, :].expand(-1, -1, 2, -1), ab], dim=-1)
        elif c.variant == "S":  # (N, P, 2, r, D + 2m): one row per (A/B, rank index)
            ab = self.ab_emb.weight[:, None, :].expand(-1, r, -1)
            rank = self.rank_emb.weight[None, :, :].expand(2, -1, -1)
            grid = torch.cat([ab, rank], dim=-1)[None, None].expand(n, p, -1, -1, -1)
            x = torch.cat([x[:, :, None, None, :].expand(-1, -1, 2, r, -1), grid], dim=-1)
        h = self.mixer(x)
        for block in self.blocks:
            h = block(h)
        h = self.norm(h)

        a_out: list[Tensor] = []
        b_out: list[Tensor] = []
        start = 0
        for module in c.target_modules:
            count, (d_in, d_out) = self.layer_count[module], self.shapes[module]
            y = self.heads[module](h[:, start:start + count])
            start += count
            if c.variant == "L":    # y (N, L, r*in + r*out)
                a = y[..., : r * d_in].unflatten(-1, (r, d_in))
                b = y[..., r * d_in:].unflatten(-1, (d_out, r))
            elif c.variant == "M":  # y (N, L, 2, r*max)
                a = y[:, :, 0, : r * d_in].unflatten(-1, (r, d_in))
                b = y[:, :, 1, : d_out * r].unflatten(-1, (d_out, r))
            else:                   # y (N, L, 2, r, max): row j of A, column j of B
                a = y[:, :, 0, :, :d_in]
                b = y[:, :, 1, :, :d_out].transpose(-1, -2)
            a_out.extend(a.unbind(1))  # per layer (N, r, in)
            b_out.extend(b.unbind(1))  # per layer (N, out, r)
        return LoRABatch(self.targets, a_out, b_out, r, c.alpha, c.use_rslora)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
