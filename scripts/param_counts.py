"""Print HyperLoRA parameter counts for L/M/S at given widths, for the default base model and Mistral-7B's shapes.

    python scripts/param_counts.py [--hidden 512]
Builds the hypernets on the meta device (no memory); needs only the configs.
"""

import argparse

import torch
from transformers import AutoConfig, MistralConfig

from hypernet import HyperConfig, HyperLoRA, count_parameters, targets_from_config
from t2l.assets import prepare_base_model

parser = argparse.ArgumentParser()
parser.add_argument("--hidden", type=int, nargs="+", default=[256, 512])
args = parser.parse_args()
bases = {
    "SmolLM2-135M (embed 384)": (AutoConfig.from_pretrained(prepare_base_model()), 384),
    "Mistral-7B (embed 1024, as the paper's gte-large)": (MistralConfig(), 1024),
}
print("| base | hidden | L | M | S |\n|---|---|---|---|---|")
for name, (config, embed) in bases.items():
    targets = targets_from_config(config, ["q_proj", "v_proj"])
    for hidden in args.hidden:
        counts = []
        for variant in "LMS":
            with torch.device("meta"):
                net = HyperLoRA(HyperConfig(variant=variant, embed_dim=embed, hidden=hidden), targets)
            counts.append(f"{count_parameters(net) / 1e6:.2f}M")
        print(f"| {name} | {hidden} | " + " | ".join(counts) + " |")
