"""Print HyperLoRA parameter counts for L/M/S: SmolLM2-135M at our CPU defaults and Mistral-7B at the paper's widths.

    python scripts/param_counts.py [--latent-size 128] [--head-in-size 256 512]
Builds the hypernets on the meta device (no memory) from the base models' shapes alone (no download). The paper
reports 55M / 34M / 5M for L / M / S on Mistral-7B (q/v, rank 8, gte-large embeddings, latent 128, head input 512).
"""

import argparse

import torch
from transformers import LlamaConfig, MistralConfig

from hypernet import HyperConfig, HyperLoRA, count_parameters, targets_from_config

parser = argparse.ArgumentParser()
parser.add_argument("--latent-size", type=int, default=128)
parser.add_argument("--head-in-size", type=int, nargs="+", default=None,
                    help="head input widths (default: 256 for SmolLM2, the CPU default; 512 for Mistral, the paper's)")
args = parser.parse_args()
smollm2 = LlamaConfig(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                      num_key_value_heads=3, vocab_size=49152, tie_word_embeddings=True)
bases = [("SmolLM2-135M (MiniLM, embed 384)", smollm2, 384, args.head_in_size or [256]),
         ("Mistral-7B (gte-large, embed 1024)", MistralConfig(), 1024, args.head_in_size or [512])]
print("| base | latent_size | head_in_size | L | M | S | L checkpoint (fp32) |\n|---|---|---|---|---|---|---|")
for name, config, embed, widths in bases:
    targets = targets_from_config(config, ["q_proj", "v_proj"])
    for head_in in widths:
        counts, size = [], 0
        for variant in "LMS":
            with torch.device("meta"):
                net = HyperLoRA(HyperConfig(variant=variant, embed_dim=embed, latent_size=args.latent_size,
                                            head_in_size=head_in), targets)
            counts.append(f"{count_parameters(net) / 1e6:.2f}M")
            if variant == "L":
                size = sum(v.numel() for v in net.state_dict().values()) * 4
        print(f"| {name} | {args.latent_size} | {head_in} | " + " | ".join(counts) + f" | {size / 1e6:.1f} MB |")
