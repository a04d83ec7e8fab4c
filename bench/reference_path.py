"""`python -m bench.reference_path` (make bench-reference): the reference's per-request path beside our service.

What the reference implementation does for a request (issue #25 item 1): embed the description, run the
hypernetwork, save the PEFT folder, `PeftModel.from_pretrained` on the loaded base, generate with transformers, and
take the LoRA off again; it keeps no adapter, so a repeated description takes the same path. Ours: the served
AdapterService (cache tiers, one hypernetwork pass) and engine (vLLM by default, as served), the adapter hot-loaded
once and kept. Same machine, base model, checkpoint, descriptions, prompt, greedy decoding and exactly `max_tokens`
new tokens on both sides, in one run; time to the first token and to the last, for a new description and for the
same one again, medians with IQR over `n` descriptions. Writes bench/results/reference_path.{json,md}.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from bench.parts import descriptions
from bench.report import bench_main
from bench.served import adapter_service, described, hf_engine, served_settings, service_cache
from bench.timing import spread
from ground.assets import prepare_base_model, prepare_encoder
from ground.prompt import prompt_ids
from hypernet import generate_adapters, load_checkpoint, make_encoder
from server.engines.base import SamplingSpec
from server.engines.vllm_engine import VLLMEngine
from training.config import ConfigFile

PHASES = ("new", "repeated")


@dataclass
class ReferencePathConfig(ConfigFile):
    """The side-by-side run (~5 minutes on 2 cores with vLLM's start). Override with --set."""

    checkpoint: str = "checkpoints/t2l-smollm2-135m-sft-L"  # the hypernet (its base model and encoder)
    engine: str = "vllm"  # our side: vllm (as served) | hf
    n: int = 5  # descriptions, each asked twice (new, then repeated)
    max_tokens: int = 32  # new tokens per answer on both sides (EOS ignored: equal work)
    prompt: str = "Translate to French: the cat sleeps on the warm stone."
    threads: int = 2
    out: str = "bench/results/reference_path.json"


class FirstToken:
    """A transformers streamer that notes when the first generated token arrives (its first `put` is the prompt)."""

    def __init__(self) -> None:
        self.puts, self.first = 0, None

    def put(self, value) -> None:
        self.puts += 1
        if self.puts == 2 and self.first is None:
            self.first = time.perf_counter()

    def end(self) -> None:
        pass


def reference_request(base, encoder, checkpoint, description: str, ids: list[int], max_tokens: int,
                      folder: Path) -> dict[str, Any]:
    """One request the reference's way; returns its timings (ms) and the generated ids. `base` is left as it was."""
    from peft import PeftModel

    start = time.perf_counter()
    adapter = generate_adapters(checkpoint, encoder, [description])[0]  # embed + hypernetwork pass
    generated = time.perf_counter()
    adapter.to_peft(folder)
    saved = time.perf_counter()
    model = PeftModel.from_pretrained(base, str(folder))
    loaded = time.perf_counter()
    streamer = FirstToken()
    with torch.inference_mode():
        out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             max_new_tokens=max_tokens, min_new_tokens=max_tokens, do_sample=False,
                             streamer=streamer, pad_token_id=base.config.eos_token_id)
    done = time.perf_counter()
    model.unload()  # the base without the LoRA layers, for the next request
    return {"adapter_ms": (generated - start) * 1000, "save_ms": (saved - generated) * 1000,
            "load_ms": (loaded - saved) * 1000, "first_token_ms": (streamer.first - start) * 1000,
            "last_token_ms": (done - start) * 1000, "ids": out[0, len(ids):].tolist()}


async def our_request(engine, service, description: str, ids: list[int], max_tokens: int) -> dict[str, Any]:
    """One request through the served parts: the adapter from the cache tiers or one pass, loaded once, streamed."""
    start = time.perf_counter()
    record = await service.get_or_create(description)
    got = time.perf_counter()
    await engine.ensure_loaded(record.id, record.adapter)
    loaded, first, tokens = time.perf_counter(), None, 0
    async for delta in engine.generate(ids, SamplingSpec(max_tokens=max_tokens, temperature=0.0, ignore_eos=True),
                                       record.id):
        if first is None:
            first = time.perf_counter()
        if delta.finish_reason is not None:
            tokens = delta.completion_tokens
    done = time.perf_counter()
    return {"source": record.source, "adapter_ms": (got - start) * 1000, "load_ms": (loaded - got) * 1000,
            "first_token_ms": (first - start) * 1000, "last_token_ms": (done - start) * 1000, "tokens": tokens}


def run_reference_path(config: ReferencePathConfig) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(config.threads)
    checkpoint = load_checkpoint(config.checkpoint)
    encoder = make_encoder(prepare_encoder(checkpoint.encoder), checkpoint.embedding)
    path = prepare_base_model(checkpoint.base_model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    ids = prompt_ids(tokenizer, config.prompt)
    texts = descriptions(config.n, f" reference path {time.time_ns()}")
    base = AutoModelForCausalLM.from_pretrained(path).eval()
    reference: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        reference_request(base, encoder, checkpoint, "Warm-up request.", ids, 2, Path(tmp) / "warm")
        for i, text in enumerate(texts):
            for phase in PHASES:  # the reference keeps nothing: a repeat takes the same path
                row = reference_request(base, encoder, checkpoint, text, ids, config.max_tokens,
                                        Path(tmp) / f"{i}-{phase}")
                reference.append({"phase": phase, **{k: v for k, v in row.items() if k != "ids"},
                                  "tokens": len(row["ids"])})
    del base
    ours = asyncio.run(_ours(config, checkpoint, encoder, path, ids, texts))
    return summarise(config, reference, ours)


async def _ours(config, checkpoint, encoder, path: str, ids: list[int], texts: Sequence[str]) -> dict:
    settings = served_settings()
    engine = VLLMEngine(path, settings, checkpoint.config.rank, checkpoint.config.target_modules) \
        if config.engine == "vllm" else hf_engine(path, settings)
    service = adapter_service(checkpoint, encoder, service_cache(settings), path, settings)
    await engine.start()
    try:
        await our_request(engine, service, "Warm-up request.", ids, 2)
        rows = []
        for text in texts:
            for phase in PHASES:
                rows.append({"phase": phase, **await our_request(engine, service, text, ids, config.max_tokens)})
        return {"engine": engine.name, **described(settings), "rows": rows}
    finally:
        await engine.close()
        await service.close()


def summarise(config: ReferencePathConfig, reference: list[dict], ours: dict) -> dict:
    """Medians per side and phase, and reference / ours for the first and the last token."""
    sides = {"reference": reference, "ours": ours["rows"]}
    table = {side: {phase: {key: spread([r[key] for r in rows if r["phase"] == phase])
                            for key in ("first_token_ms", "last_token_ms", "adapter_ms", "load_ms")}
                    for phase in PHASES} for side, rows in sides.items()}
    ratios = {phase: {key: round(table["reference"][phase][key]["median_ms"] / table["ours"][phase][key]["median_ms"],
                                 2) for key in ("first_token_ms", "last_token_ms")} for phase in PHASES}
    return {"config": asdict(config), "engine": ours["engine"], "settings": ours["settings"],
            "differs_from_served": ours["differs_from_served"], "table": table, "reference_over_ours": ratios,
            "rows": sides, "torch_threads": torch.get_num_threads()}


def markdown(result: dict) -> str:
    c, table, ratio = result["config"], result["table"], result["reference_over_ours"]

    def cell(side, phase, key):
        s = table[side][phase][key]
        return f"{s['median_ms']:.0f} ({s['p25_ms']:.0f}-{s['p75_ms']:.0f})"

    lines = ["# The reference's per-request path vs our service", "",
             f"Same machine, base model, checkpoint `{c['checkpoint']}`, prompt and greedy decoding, exactly "
             f"{c['max_tokens']} new tokens; {c['n']} descriptions, each new then repeated; medians (IQR), ms. "
             f"Reference: embed + hypernetwork, PEFT folder, `PeftModel.from_pretrained`, transformers `generate`, "
             f"unload. Ours: AdapterService + {result['engine']} engine as served. Written by "
             "`python -m bench.reference_path`.", "",
             "| description | path | first token | last token | adapter | load |", "|---|---|---|---|---|---|"]
    for phase in PHASES:
        for side in ("reference", "ours"):
            lines.append(f"| {phase} | {side} | {cell(side, phase, 'first_token_ms')} | "
                         f"{cell(side, phase, 'last_token_ms')} | {cell(side, phase, 'adapter_ms')} | "
                         f"{cell(side, phase, 'load_ms')} |")
    lines += ["", "| description | reference / ours, first token | reference / ours, last token |", "|---|---|---|"]
    lines += [f"| {phase} | {ratio[phase]['first_token_ms']}x | {ratio[phase]['last_token_ms']}x |" for phase in PHASES]
    return "\n".join(lines + [""])


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(argv, "python -m bench.reference_path", __doc__, ReferencePathConfig, run_reference_path,
                      markdown)


if __name__ == "__main__":
    raise SystemExit(main())
