"""HyperLoRA: the T2L hypernetwork (Charakorn et al. 2025, arXiv 2506.06105, Section 3), layer for layer the
reference implementation's `HyperModulator` (SakanaAI/text-to-lora, commit 8ba7749), so its published
`hypermod.pt` state dicts load under the same keys (see hypernet/reference.py).

With m = latent_size // 2 + 2 * (latent_size // 4) (the trunk width), for every (task, module type, layer):

    e_task  = LayerNorm(Linear(embedding - task_center))      (m/2)   task_encoder        [task_center: ours]
    e_depth = LayerNorm(Embedding[layer])                      (m/4)   layer_depth_encoder
    e_type  = LayerNorm(Embedding[module type])                (m/4)   layer_type_encoder
    h = mlp1(mixer(concat(e_task, e_depth, e_type)))           (m)     mixer: m -> 4m -> m; mlp1: residual block
    L  y = head[module](mlp3(mlp2(h)))                                 -> r*in (A, row-major (r, in))
                                                                          ++ r*out (B^T, row-major (r, out))
    M  for X in (A, B): y_X = head[module](mlp3(mlp2(h + LN(out_emb[module][X]))))  -> (r, max(in, out))
    S  for X in (A, B), rank row j: g = mlp2(h + LN(out_emb[module][X])) repeated r times, then
         rotary (default): y = head(mlp3(mlp2(rope_j(g))))  /  learned: y = head(mlp3(g + mlp2(pos_emb[j])))
                                                                       -> one row (max(in, out)) per j
mlp2 is a residual block, mlp3 = LN -> 4m -> head_in_size. The A/B rows are cut to in / out features; B comes out
transposed to PEFT's (out, r). Then per recon_mode: SFT adds the AB offset (zeros unless set); 'zscore' maps
z-scores back with the reconstruction targets' mean/std first; 'scaled' divides by sqrt(delta_w_scaling).

The reference runs one module type at a time; here the trunk runs once over every task x target (x A/B x rank)
and each head once over its module's layers, which gives the same numbers (tests/test_reference_parity.py).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from .config import HyperConfig
from .lora import LoRABatch
from .targets import TargetSpec


class ResidualMLP(nn.Module):
    """x + MLP(x), MLP = LN -> Linear(w, 4w) -> SiLU -> Dropout -> Linear(4w, w) -> SiLU -> Dropout
    (reference MLPResidualBlock with pre_layer_norm and post_dropout)."""

    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 4 * width), nn.SiLU(), nn.Dropout(dropout),
                                 nn.Linear(4 * width, width), nn.SiLU(), nn.Dropout(dropout))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.mlp(x)


class TaskProjection(nn.Module):
    """Embedding (.., embed_dim) -> (.., latent_size // 2): Linear -> LayerNorm (reference TaskEncoder 'linear')."""

    def __init__(self, embed_dim: int, width: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(embed_dim, width), nn.LayerNorm(width))

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(x)


class LoRATensors(nn.Module):
    """Per-module stacks A[module] (layers, r, in) and B[module] (layers, out, r): buffers, or parameters when
    learnable. State-dict keys <name>.A.<module> / <name>.B.<module> like the reference's ParameterDicts."""

    def __init__(self, shapes: dict[str, tuple[int, int]], layers: dict[str, int], rank: int,
                 learnable: bool = False, fill: float = 0.0) -> None:
        super().__init__()
        self.A, self.B = nn.Module(), nn.Module()
        for module, (d_in, d_out) in shapes.items():
            for holder, shape in ((self.A, (layers[module], rank, d_in)), (self.B, (layers[module], d_out, rank))):
                value = torch.full(shape, fill)
                if learnable:
                    holder.register_parameter(module, nn.Parameter(value))
                else:
                    holder.register_buffer(module, value)

    def get(self, ab: str, module: str) -> Tensor:
        return getattr(getattr(self, ab), module)


def lora_init_bias(variant: str, a_init: Tensor, d_out: int) -> Tensor:
    """Head bias for the reference's SFT init from PEFT's lora_A init `a_init` (r, in); B's init is 0. See
    HyperLoRA.reset_heads for the rule per variant."""
    r, d_in = a_init.shape
    if variant == "L":
        return torch.cat([a_init.flatten(), a_init.new_zeros(r * d_out)])
    if variant == "M":
        grid = a_init.new_zeros(r, max(d_in, d_out))
        grid[:, :d_in] = a_init
        return grid.flatten() / math.sqrt(2)
    width = max(d_in, d_out)
    flat = torch.cat([a_init.flatten(), a_init.new_zeros(max(0, width - a_init.numel()))])
    return flat[:width] / math.sqrt(2) / math.sqrt(r)


def _rotate_half(x: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class HyperLoRA(nn.Module):
    """Task embeddings (N, embed_dim) -> a LoRABatch with A and B for every target of N adapters."""

    def __init__(self, config: HyperConfig, targets: Sequence[TargetSpec]) -> None:
        super().__init__()
        self.config = c = config
        order = {m: i for i, m in enumerate(c.target_modules)}
        stray = sorted({t.module for t in targets} - set(order))
        if stray:
            raise ValueError(f"targets name modules {stray} that the config does not list: {c.target_modules}")
        self.targets = tuple(sorted(targets, key=lambda t: (order[t.module], t.layer)))
        self.shapes: dict[str, tuple[int, int]] = {}  # module -> (in_features, out_features)
        self.layer_count: dict[str, int] = {}
        for t in self.targets:
            if self.shapes.setdefault(t.module, (t.in_features, t.out_features)) != (t.in_features, t.out_features):
                raise ValueError(f"{t.module} changes shape across layers ({self.shapes[t.module]} vs "
                                 f"{(t.in_features, t.out_features)} at layer {t.layer}); not supported")
            self.layer_count[t.module] = self.layer_count.get(t.module, 0) + 1
        missing = [m for m in c.target_modules if m not in self.shapes]
        if missing:
            raise ValueError(f"no targets given for modules {missing}")
        n_layers = max(t.layer for t in self.targets) + 1
        r, m, drop = c.rank, c.trunk_width, c.dropout
        # Which (module, layer) each trunk position stands for, in self.targets order.
        self.register_buffer("pos_module", torch.tensor([order[t.module] for t in self.targets]), persistent=False)
        self.register_buffer("pos_layer", torch.tensor([t.layer for t in self.targets]), persistent=False)
        # Our extension (not in the reference): subtracted from every task embedding; zeros = reference behaviour.
        self.register_buffer("task_center", torch.zeros(c.embed_dim))

        self.task_encoder = TaskProjection(c.embed_dim, c.latent_size // 2)
        self.layer_depth_encoder = nn.Sequential(nn.Embedding(n_layers, c.latent_size // 4),
                                                 nn.LayerNorm(c.latent_size // 4))
        self.layer_type_encoder = nn.Sequential(nn.Embedding(len(c.target_modules), c.latent_size // 4),
                                                nn.LayerNorm(c.latent_size // 4))
        self.mixer = nn.Sequential(nn.Dropout(drop), nn.Linear(m, 4 * m), nn.SiLU(), nn.Dropout(drop),
                                   nn.Linear(4 * m, m), nn.SiLU(), nn.Dropout(drop))
        self.mlp1 = ResidualMLP(m, drop)
        self.mlp2 = ResidualMLP(m, drop)
        self.mlp3 = nn.Sequential(nn.LayerNorm(m), nn.Linear(m, 4 * m), nn.SiLU(), nn.Dropout(drop),
                                  nn.Linear(4 * m, c.head_in_size), nn.SiLU())
        if c.autoreg_gen:
            if c.learnable_pos_emb:
                self.pos_emb = nn.Sequential(nn.Embedding(r, m), nn.LayerNorm(m))
            else:  # rotary positions over the m trunk channels, base 10000 (reference: LlamaRotaryEmbedding(m))
                inv_freq = 1.0 / (10000.0 ** (torch.arange(0, m, 2, dtype=torch.int64).float() / m))
                self.register_buffer("rope_inv_freq", inv_freq, persistent=False)
        if c.shared_AB_head:  # one output embedding per (module, A/B), N(0, 1) like an embedding row
            self.out_emb = nn.ParameterDict({
                mod: nn.ParameterDict({"A": nn.Parameter(torch.randn(m)), "B": nn.Parameter(torch.randn(m))})
                for mod in c.target_modules})
            self.out_emb_norm = nn.LayerNorm(m)
        self.heads = nn.ModuleDict({mod: nn.Linear(c.head_in_size, self._head_width(mod), bias=c.head_use_bias)
                                    for mod in c.target_modules})
        if c.ab_offset:
            self.AB_offset = LoRATensors(self.shapes, self.layer_count, r, learnable=c.learnable_AB_offset)
        if c.recon_mode == "zscore":
            self.mean_recon_target = LoRATensors(self.shapes, self.layer_count, r)
            self.std_recon_target = LoRATensors(self.shapes, self.layer_count, r, fill=1.0)
        self.reset_heads()

    def _head_width(self, module: str) -> int:
        d_in, d_out = self.shapes[module]
        r = self.config.rank
        return {"L": r * (d_in + d_out), "M": r * max(d_in, d_out), "S": max(d_in, d_out)}[self.config.variant]

    @torch.no_grad()
    def reset_heads(self) -> None:
        """The reference's SFT init (match_lora_init): head weights 0 and the bias holds PEFT's LoRA init,
        A ~ kaiming-uniform (bound 1/sqrt(in)), B = 0 (bias-HyperInit, Beck et al. 2023):
            L  bias = [A (r*in), B (r*out) = 0]                      -> delta W = 0 exactly, A = PEFT's init
            M  bias = A / sqrt(2) (laid out (r, max))                -> A and B both start at A_init / sqrt(2)
            S  bias = flat(A)[:max] / sqrt(2) / sqrt(r)              -> every rank row starts the same
        ("/ sqrt(2)" and "/ sqrt(r)" match the gradient scale to L's, per the reference.) Without a bias (a fixed
        AB offset takes its role) the heads are zero and the output is the offset. With match_lora_init False the
        heads keep PyTorch's default init (the reference's reconstruction training)."""
        c = self.config
        if not c.match_lora_init:
            return
        for module, head in self.heads.items():
            d_in, d_out = self.shapes[module]
            head.weight.zero_()
            if head.bias is None:
                continue
            a_init = torch.empty(c.rank, d_in, device=head.bias.device)
            nn.init.kaiming_uniform_(a_init, a=math.sqrt(5))  # PEFT's lora_A init: U(-1/sqrt(in), 1/sqrt(in))
            head.bias.copy_(lora_init_bias(c.variant, a_init, d_out))

    # ---- our extension and the AB offset -------------------------------------------------------------------
    @torch.no_grad()
    def set_task_center(self, center: Tensor | None) -> None:
        """Subtract `center` (embed_dim,) from every task embedding before the task encoder (e.g. the mean training
        description embedding); None restores zeros (the reference's behaviour). Our extension."""
        if center is None:
            self.task_center.zero_()
            return
        if tuple(center.shape) != (self.config.embed_dim,):
            raise ValueError(f"task center must be ({self.config.embed_dim},), got {tuple(center.shape)}")
        self.task_center.copy_(center.to(self.task_center))

    @torch.no_grad()
    def set_offset(self, adapter) -> None:
        """Fill the AB offset from an `Adapter` (e.g. Adapter.from_peft(multi-task LoRA folder)), matched by module
        path; every generated A and B then starts from it (reference mt_lora_path). Needs ab_offset=True."""
        if not self.config.ab_offset:
            raise ValueError("this HyperLoRA has no AB offset: build it with HyperConfig(ab_offset=True, "
                             "head_use_bias=False) to add a fixed multi-task LoRA")
        if adapter.rank != self.config.rank:
            raise ValueError(f"offset adapter has rank {adapter.rank}, the hypernet generates rank {self.config.rank}")
        by_path = {t.path: (a, b) for t, a, b in zip(adapter.targets, adapter.a, adapter.b)}
        absent = [t.path for t in self.targets if t.path not in by_path]
        if absent:
            raise ValueError(f"offset adapter lacks {len(absent)} targets, first {absent[0]}")
        for module in self.config.target_modules:
            rows = [t for t in self.targets if t.module == module]
            a_all = self.AB_offset.get("A", module)
            b_all = self.AB_offset.get("B", module)
            for i, t in enumerate(rows):
                a_all[i].copy_(by_path[t.path][0])
                b_all[i].copy_(by_path[t.path][1])

    # ---- forward ---------------------------------------------------------------------------------------------
    def _rope(self, x: Tensor) -> Tensor:
        """Rotary position j on the rank axis (dim -2) of x (..., r, m), as in Llama (rotate_half, base 10000)."""
        pos = torch.arange(x.shape[-2], device=x.device, dtype=torch.float32)
        freqs = pos[:, None] * self.rope_inv_freq[None, :]                # (r, m/2)
        angle = torch.cat([freqs, freqs], dim=-1)                         # (r, m)
        return x * angle.cos().to(x.dtype) + _rotate_half(x) * angle.sin().to(x.dtype)

    def _trunk(self, task_emb: Tensor) -> Tensor:
        """(N, embed_dim) -> head inputs: L (N, P, head_in), M (N, P, 2, head_in), S (N, P, 2, r, head_in)."""
        c, r = self.config, self.config.rank
        n, p = task_emb.shape[0], len(self.targets)
        task = self.task_encoder(task_emb - self.task_center)                              # (N, m/2)
        where = torch.cat([self.layer_depth_encoder(self.pos_layer),
                           self.layer_type_encoder(self.pos_module)], dim=-1)              # (P, m/2)
        x = torch.cat([task[:, None, :].expand(n, p, -1), where[None].expand(n, -1, -1)], dim=-1)  # (N, P, m)
        h = self.mlp1(self.mixer(x))                                                       # (N, P, m)
        if not c.shared_AB_head:
            return self.mlp3(self.mlp2(h))
        out_emb = torch.stack([torch.stack([self.out_emb[mod]["A"], self.out_emb[mod]["B"]])
                               for mod in c.target_modules])                              # (modules, 2, m)
        g = self.mlp2(h[:, :, None, :] + self.out_emb_norm(out_emb)[self.pos_module][None])  # (N, P, 2, m)
        if not c.autoreg_gen:
            return self.mlp3(g)
        g = g[..., None, :].expand(-1, -1, -1, r, -1)                                      # (N, P, 2, r, m)
        if c.learnable_pos_emb:
            g = g + self.mlp2(self.pos_emb(torch.arange(r, device=g.device)))             # + (r, m)
        else:
            g = self.mlp2(self._rope(g))
        return self.mlp3(g)

    def _finish(self, module: str, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
        """Raw head outputs a (N, L, r, in), b (N, L, out, r) -> adapter scale (the reference's offset and
        convert_to_raw_scale)."""
        c = self.config
        if c.recon_mode == "scaled":
            s = math.sqrt(c.delta_w_scaling)
            return a / s, b / s
        if c.recon_mode == "zscore":
            a = a * (self.std_recon_target.get("A", module) + 1e-10) + self.mean_recon_target.get("A", module)
            b = b * (self.std_recon_target.get("B", module) + 1e-10) + self.mean_recon_target.get("B", module)
        if c.ab_offset:
            a = a + self.AB_offset.get("A", module)
            b = b + self.AB_offset.get("B", module)
        return a, b

    def forward(self, task_emb: Tensor) -> LoRABatch:
        """task_emb (N, embed_dim) -> LoRABatch of N adapters over self.targets."""
        c, r = self.config, self.config.rank
        if task_emb.dim() != 2 or task_emb.shape[1] != c.embed_dim:
            raise ValueError(f"task embeddings must be (N, {c.embed_dim}), got {tuple(task_emb.shape)}")
        z = self._trunk(task_emb)
        a_out: list[Tensor] = []
        b_out: list[Tensor] = []
        start = 0
        for module in c.target_modules:
            count, (d_in, d_out) = self.layer_count[module], self.shapes[module]
            y = self.heads[module](z[:, start:start + count])
            start += count
            if c.variant == "L":    # y (N, L, r*in + r*out): A row-major (r, in), then B^T row-major (r, out)
                a = y[..., : r * d_in].unflatten(-1, (r, d_in))
                b = y[..., r * d_in:].unflatten(-1, (r, d_out)).transpose(-1, -2)
            elif c.variant == "M":  # y (N, L, 2, r*max) viewed (r, max), rows cut to in / out
                y = y.unflatten(-1, (r, -1))
                a = y[:, :, 0, :, :d_in]
                b = y[:, :, 1, :, :d_out].transpose(-1, -2)
            else:                   # y (N, L, 2, r, max): rank row j of A, of B^T
                a = y[:, :, 0, :, :d_in]
                b = y[:, :, 1, :, :d_out].transpose(-1, -2)
            a, b = self._finish(module, a, b)
            a_out.extend(a.unbind(1))  # per layer (N, r, in)
            b_out.extend(b.unbind(1))  # per layer (N, out, r)
        return LoRABatch(self.targets, a_out, b_out, r, c.alpha, c.use_rslora)


def count_parameters(model: nn.Module) -> int:
    """Parameters of the network (a fixed AB offset and the recon statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters())
