"""The markdown summary and plots of a bench results file, and what every `python -m bench.<name>` shares:
its config from the command line and its results files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence
from training.config import add_config_arguments, config_from_args


def _ms(d: dict | None) -> str:
    if not d:
        return "-"
    return f"{d['median_ms']:.2f} ({d['p25_ms']:.2f}-{d['p75_ms']:.2f})"


def _service_line(engine: dict) -> list[str]:
    """The service settings of the engine benchmarks: the served defaults, and what differs from them."""
    if "settings" not in engine:  # results written before the bench recorded them
        return []
    used, differs = engine["settings"], engine["differs_from_served"]
    other = ", ".join(f"{k} {v[1]} (served {v[0]})" for k, v in differs.items()) or "nothing"
    return ["", f"AdapterService and engine built from the served defaults (server/settings.py): batch window "
                f"{used['batch_window_ms']} ms, hypernet batch up to {used['max_batch']}; set otherwise here: {other}."]


def markdown(results: dict) -> str:
    s = results["summary"]
    lines = [f"# t2l benchmarks: {results['host_kind']} ({results['cpus']} CPUs, torch threads "
             f"{results['torch_threads']}), {results['when']}", "",
             f"Checkpoint `{results['checkpoint']['path']}` (trained: {results['checkpoint']['trained']}); engine "
             f"{results.get('engine', {}).get('name')}. Medians with interquartile range over repeats; every ratio "
             "is measured in this one run.", "", "## Summary vs targets", "", "| figure | value | target | met |",
             "|---|---|---|---|"]
    for key, t in s["targets"].items():
        lines.append(f"| {key} | {s.get(key)} | {t['target']} | {t['met']} |")
    lines += _service_line(results.get("engine", {}))
    lines += ["", "## Adapter generation (encode + hypernet pass + split), ms per batch", "",
              "| variant | params | " + " | ".join(f"batch {b}" for b in results["generation"]["L"]["batches"])
              + " | per adapter at largest | ratio |", "|---|---|" + "---|" * (len(results["generation"]["L"][
                  "batches"]) + 2)]
    for variant, row in results["generation"].items():
        cells = " | ".join(_ms(v["total"]) for v in row["batches"].values())
        last = list(row["batches"].values())[-1]
        ratio = row["largest_over_smallest"]
        lines.append(f"| {variant} | {row['parameters']:,} | {cells} | {last['per_adapter_ms']:.3f} | {ratio} |")
    lines += ["", "## Cache paths, ms", "", "| adapter | blob bytes | Redis hit (GET+checksum+decode) | decode only |"
              " PEFT folder write |", "|---|---|---|---|---|"]
    for name, row in results["cache"]["sizes"].items():
        lines.append(f"| {name} | {row['blob_bytes']:,} | {_ms(row.get('redis_hit'))} | {_ms(row['decode'])} | "
                     f"{_ms(row['peft_write'])} |")
    lines.append(f"\nService memory hit (key + LRU + decoded adapter): {_ms(results['cache'].get('service_memory_hit'))}"
                 " ms")
    lines += ["", "## Hot load (PEFT folder + engine load), ms", ""]
    lines += [f"- {k}: {_ms(v)}" for k, v in results.get("hot_load", {}).items()]
    cw = results.get("cold_warm")
    if cw:
        lines += ["", f"## One request, {cw['max_tokens']} new tokens: cold (never-seen task) vs warm", "",
                  f"- cold total {_ms(cw['cold_total'])} ms, warm total {_ms(cw['warm_total'])} ms",
                  f"- cold overhead {_ms(cw['cold_overhead'])} ms = split (medians) {cw['cold_split_ms']}",
                  f"- warm adapter lookup {_ms(cw['warm_adapter'])} ms"]
    multi = results.get("multi_adapter")
    if multi:
        lines += ["", "## Multi-adapter serving (same engine, fixed-length completions)", "",
                  "| concurrency | adapters in flight | tokens/s | vs base | p50 ms | p99 ms |", "|---|---|---|---|---|---|"]
        for conc, table in multi.items():
            for label, row in table.items():
                lines.append(f"| {conc} | {label} | {row['tokens_per_s']} | {row['over_base']} | {row['p50_ms']} | "
                             f"{row['p99_ms']} |")
    icl = results.get("icl")
    if icl:
        lines += ["", "## In-context learning (3 examples in the prompt) vs a T2L adapter", "",
                  f"Task {icl['task']}: prompt tokens {icl['prompt_tokens']}, extra {icl['extra_prompt_tokens']} per "
                  f"request; latency ICL {_ms(icl['latency']['icl_3shot'])} vs T2L {_ms(icl['latency']['t2l'])} ms "
                  f"(ratio {icl['icl_over_t2l_latency']})."]
    ft = results.get("finetune")
    if ft:
        lines += ["", "## Fine-tuning a LoRA to the T2L adapter's score", "",
                  f"Task {ft['task']}: base {ft['base_score']:.1f}, T2L {ft['t2l_score']:.1f}; T2L time-to-adapter "
                  f"{ft['t2l_ms']} ms; fine-tuning reached it: {ft['reached']}; ratio "
                  f"{ft['finetune_over_t2l_time']}. {ft.get('note', '')}", "",
                  "| step | train seconds | score |", "|---|---|---|"]
        lines += [f"| {c['step']} | {c['seconds']} | {c['score']:.1f} |" for c in ft["curve"]]
    return "\n".join(lines) + "\n"


def write_report(results: dict, out_json: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = [out_json.with_suffix(".md")]
    written[0].write_text(markdown(results))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for variant, row in results["generation"].items():
        sizes = [int(b) for b in row["batches"]]
        axes[0].plot(sizes, [v["per_adapter_ms"] for v in row["batches"].values()], marker="o", label=variant)
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("descriptions per pass")
    axes[0].set_ylabel("ms per adapter (encode + hypernet)")
    axes[0].set_title("Adapter generation")
    axes[0].legend()
    for conc, table in results.get("multi_adapter", {}).items():
        labels = [k for k in table if k != "base"]
        axes[1].plot([int(k) for k in labels], [table[k]["over_base"] for k in labels], marker="o",
                     label=f"concurrency {conc}")
    axes[1].axhline(1.0, color="k", linewidth=1, label="base model")
    axes[1].axhline(0.85, color="r", linestyle="--", linewidth=1, label="target 0.85")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("distinct adapters in flight")
    axes[1].set_ylabel("throughput / base throughput")
    axes[1].set_title("Multi-adapter serving")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    png = out_json.with_suffix(".png")
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return written + [png]


def write_results(result: dict, out: str | Path, markdown_of: Callable[[dict], str]) -> Path:
    """`out` (bench/results/<name>.json) and the markdown table beside it (.md); returns `out`."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    path.with_suffix(".md").write_text(markdown_of(result))
    return path


def bench_main(argv: Sequence[str] | None, prog: str, doc: str, config_cls: type, run: Callable[[Any], dict],
               markdown_of: Callable[[dict], str], plot_of: Callable[[dict, Path], Any] | None = None) -> int:
    """A benchmark's command line in the project's one config style (--config YAML, --set KEY=VALUE of
    `config_cls`): run it, write its results files (the config's `out`, its .md and, with `plot_of`, its .png)
    and print the table."""
    import argparse

    parser = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0])
    add_config_arguments(parser, config_cls.__name__)
    config = config_from_args(config_cls, parser.parse_args(argv), parser)
    result = run(config)
    write_results(result, config.out, markdown_of)
    if plot_of is not None:
        plot_of(result, Path(config.out).with_suffix(".png"))
    print(markdown_of(result))
    return 0
