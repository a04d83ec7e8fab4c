"""`t2l train refine`: what POST /v1/adapters/refine does, offline: the adapter for a description (or a PEFT
folder) refined on examples from a JSONL file, written as a PEFT folder, with the same held-out scores. The same
code as the worker's job (server.refine_job.refine_examples).

    t2l train refine --task "Answer with the word reversed." --examples reversed.jsonl --out /tmp/reversed
    # reversed.jsonl: one {"input": ..., "output": ...} (or {"messages": [...], "output": ...}) per line
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from ground.assets import checkpoint_folder, prepare_encoder, shipped_checkpoint
from hypernet import Adapter, generate_adapters, load_checkpoint, make_encoder
from server.refine import RefineSettings
from server.refine_job import load_base, refine_examples


def read_examples(path: str) -> list:
    """(messages, answer) pairs from JSONL; a clear error names the first bad line."""
    examples = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            messages = row["messages"] if "messages" in row else [{"role": "user", "content": row["input"]}]
            answer = row["output"]
            if not isinstance(answer, str) or not answer.strip():
                raise ValueError("output must be a non-empty string")
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: not an example ({exc}); want {{\"input\": ..., \"output\": ...}}") from exc
        examples.append((tuple({"role": m["role"], "content": m["content"]} for m in messages), answer))
    if not examples:
        raise ValueError(f"{path} holds no examples")
    return examples


def main(argv: Sequence[str] | None = None) -> int:
    from tqdm import tqdm

    parser = argparse.ArgumentParser(prog="t2l train refine", description=__doc__.split("\n\n")[0])
    start = parser.add_mutually_exclusive_group(required=True)
    start.add_argument("--task", help="start from the adapter the checkpoint makes for this description")
    start.add_argument("--adapter", help="or from this PEFT folder")
    parser.add_argument("--examples", required=True, help="JSONL: {\"input\"|\"messages\", \"output\"} per line")
    parser.add_argument("--out", required=True, help="PEFT folder to write")
    parser.add_argument("--checkpoint", help="hypernet checkpoint (default: the shipped one)")
    defaults = RefineSettings()
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--holdout-fraction", type=float, default=defaults.holdout_fraction)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    try:
        examples = read_examples(args.examples)
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    settings = RefineSettings(steps=args.steps, lr=args.lr, holdout_fraction=args.holdout_fraction, seed=args.seed)
    if args.adapter:
        first = Adapter.from_peft(args.adapter)
        description = first.metadata.get("description")
    else:
        checkpoint = load_checkpoint(checkpoint_folder(args.checkpoint) if args.checkpoint else shipped_checkpoint())
        encoder = make_encoder(prepare_encoder(checkpoint.encoder), checkpoint.embedding)
        first, description = generate_adapters(checkpoint, encoder, [args.task])[0], args.task
    tokenizer, model = load_base(first.base_model, args.device)
    with tqdm(total=settings.steps, desc="refine", unit="step") as bar:
        def note(**fields) -> None:
            if "step" in fields:
                bar.update(fields["step"] - bar.n)
                bar.set_postfix(loss=fields["loss"])

        refined, scores = refine_examples(model, tokenizer, first, examples, settings, description, note)
    refined.to_peft(args.out)
    print(json.dumps({"adapter": args.out, "examples": len(examples), "scores": scores}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
