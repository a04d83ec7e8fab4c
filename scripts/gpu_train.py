"""The shipped recipe trained at scale on one lent GPU, in one 10-minute call (issue #21 item 7).

The GPU machine has torch, transformers, peft and sentence-transformers, but no model files, no network, and at
most 64 MiB travels per call, the repository included. So what the run needs beyond the repository is packed here
and sent in parts over consecutive calls (files the machine keeps while it stays warm):

  pack   (here)    a T2L home: the base model's GGUF (converted there exactly as `t2l assets prepare` does here), the
                   BIG-bench cache (training tasks capped at --examples-per-task, every evaluated task whole), the
                   `gguf` wheel, and every description embedding the run asks for, computed here by the real encoder
                   (stored fp16: 18 MB instead of 37) -> one tar split into parts that fit beside the repository,
                   .gpu/manifest.json with their sha256; prints the device calls
  stage  (device)  copy the part a call carries into the stage folder
  run    (device)  stage the last part, verify them all, unpack, convert the GGUF, train (budget_s), evaluate,
                   and write the checkpoint into $OUT in files of at most 15 MiB (the device returns 16 MiB a file)
  fetch  (here)    join the returned files into a checkpoint folder and check that it loads (its digest)

    make gpu-pack                                    # = python scripts/gpu_train.py pack
    device run: python3 scripts/gpu_train.py stage --part .gpu/part-00      carry [.gpu/manifest.json, .gpu/part-00]
    ...                                                                     (one call a part, while warm)
    device run: python3 scripts/gpu_train.py run --out $OUT                 carry [.gpu/manifest.json, .gpu/part-NN]
    python scripts/gpu_train.py fetch FILES_AT --to runs/sft-gpu/checkpoint
    t2l eval --tasks tiers --sft runs/sft-gpu/checkpoint ...                (here, on CPU)

Tested end to end on CPU with a tiny configuration (tests/test_gpu_train.py): pack, stage part by part, run, fetch.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ground.assets import sha256_file as sha256  # noqa: E402  (after the path: the script runs from a checkout)

MIB = 2**20
DEVICE_TREE_LIMIT = 64 * MIB  # what travels per call: the repository + the carried part
RETURN_FILE_LIMIT = 15 * MIB  # what comes back per file (16 MiB, with room)
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


# ---- the precomputed encoder -----------------------------------------------------------------------------------
class PrecomputedEncoder:
    """A TaskEncoder over embeddings computed beforehand by the real one: texts -> (N, dim) float32."""

    def __init__(self, folder: Path, name: str) -> None:
        from safetensors.torch import load_file

        texts = json.loads((folder / "texts.json").read_text())
        vectors = load_file(str(folder / "vectors.safetensors"))["vectors"].float()  # (N, dim)
        self.rows = dict(zip(texts, vectors))
        self.dim, self.name = int(vectors.shape[1]), name

    def embed(self, texts):
        import torch

        missing = [t for t in texts if t not in self.rows]
        if missing:
            raise KeyError(f"{len(missing)} description(s) were not precomputed by `pack`, e.g. {missing[0]!r}")
        return torch.stack([self.rows[t] for t in texts])


def run_texts(config):
    """(the run's plan, every group of texts the run embeds) -- in the groups it embeds them (a task's descriptions
    together, as training.data.EmbeddingTable does): training and held-out tasks, and the steering rows'."""
    from transformers import AutoTokenizer

    from ground.assets import prepare_base_model
    from training.plan import make_plan
    from training.steering import steering_items

    plan = make_plan(config, AutoTokenizer.from_pretrained(prepare_base_model(config.base_model)))
    groups = [list(t.descriptions) for t in plan.train_tasks]
    groups += [list(t.descriptions) for t in {t.name: t for t, _, _ in plan.held}.values()]
    for tasks in plan.tiers.values():
        groups += [list(t.descriptions) for t in tasks]
        rows = steering_items(tasks, config.steering_per_task, config.seed)
        groups.append(sorted({r[3] for r in rows}))  # the random descriptions (seeded)
    return plan, groups


# ---- pack (here) -----------------------------------------------------------------------------------------------
def repo_bytes() -> int:
    """What travels with every call besides the carried part: tracked and untracked, not ignored files."""
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.split(b"\0")
    return sum((ROOT / n.decode()).stat().st_size for n in names if n and (ROOT / n.decode()).is_file())


def subset_cache(cache: Path, out: Path, full: set[str], capped: set[str], cap: int, seed: int) -> None:
    """A BIG-bench cache (same format and stamp) holding only the named tasks, `capped` ones with at most `cap`
    examples (a seeded choice); every other task's records are copied whole."""
    import gzip

    import numpy as np

    from training.bigbench_source import read_index, task_file

    index = read_index(cache)
    names = sorted(full | capped)
    (out / "tasks").mkdir(parents=True, exist_ok=True)
    for name in names:
        src, dst = task_file(cache, name), task_file(out, name)
        if name in capped and name not in full:
            with gzip.open(src, "rt", encoding="utf-8") as f:
                record = json.load(f)
            if len(record["examples"]) > cap:
                pick = np.random.default_rng([seed, len(name)]).permutation(len(record["examples"]))[:cap]
                record["examples"] = [record["examples"][int(i)] for i in sorted(pick)]
            with gzip.open(dst, "wt", encoding="utf-8") as f:
                json.dump(record, f)
        else:
            shutil.copyfile(src, dst)
    index["tasks"] = {n: index["tasks"][n] for n in names}
    (out / "index.json").write_text(json.dumps(index))


def pack(args) -> int:
    import torch
    from safetensors.torch import save_file

    from ground.assets import PACKAGED_BASE_MODELS, _package_file, prepare_encoder, t2l_home
    from training.config import parse_sets
    from training.sft import SFTConfig
    from training.sft_setup import load_encoder
    from training.tasks import prepare_bigbench

    config = SFTConfig.from_yaml(args.config, **parse_sets(args.set or ()))
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    home = out / "home"
    (home / "models").mkdir(parents=True)
    spec = PACKAGED_BASE_MODELS.get(config.base_model)
    if spec is not None:  # a packaged GGUF: converted on the device (the fp32 folder would be 538 MB)
        shutil.copyfile(_package_file(spec), home / "models" / GGUF_NAME)
    else:  # a local folder (the tiny test model): sent as it is
        shutil.copytree(config.base_model, home / "models" / "base")
    plan, groups = run_texts(config)
    # the BIG-bench tasks the run draws from (capped) and evaluates on (whole), as the plan itself loaded them
    train = {t.name for t in plan.train_tasks if not t.family.startswith("suite.")}
    evaluated = {t.name for t, _, _ in plan.held if not t.family.startswith("suite.")}
    if train | evaluated:  # none where the plan runs without BIG-bench (no cache here: the suite alone, as there)
        subset_cache(prepare_bigbench(), home / "data" / "bigbench", evaluated, train - evaluated,
                     args.examples_per_task, config.seed)
    encoder = load_encoder(config, torch.device("cpu")) if args.encoder is None else args.encoder
    texts, vectors = [], []
    for group in groups:  # embedded in the groups the run embeds them in
        vectors.append(encoder.embed(list(group)).float())
        texts += list(group)
    table = dict(zip(texts, torch.cat(vectors)))  # a text asked for twice keeps its last (identical) row
    (home / "embeddings").mkdir()
    (home / "embeddings" / "texts.json").write_text(json.dumps(list(table)))
    save_file({"vectors": torch.stack(list(table.values())).to(torch.float16).contiguous()},
              str(home / "embeddings" / "vectors.safetensors"))
    wheels = home / "wheels"
    wheels.mkdir()
    if spec is not None:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(wheels),
                        f"gguf=={_version('gguf')}"], check=True)
    (home / "run.json").write_text(json.dumps({"config": str(Path(args.config)), "set": list(args.set or ()),
                                               "base_model": config.base_model, "encoder": config.encoder,
                                               "gguf_sha256": spec.sha256 if spec else None}))
    blob = out / "pack.tar"
    with tarfile.open(blob, "w") as tar:
        tar.add(home, arcname="home")
    shutil.rmtree(home)
    size = int(args.part_mib * MIB) if args.part_mib else DEVICE_TREE_LIMIT - repo_bytes() - 2 * MIB
    if size < MIB:
        raise SystemExit(f"the repository alone is {repo_bytes() / MIB:.1f} MiB: no room for a part")
    parts = split_file(blob, out, "part", size)
    blob.unlink()
    manifest = {"parts": {p.name: sha256(p) for p in parts}, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ")}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    rel = out.relative_to(ROOT) if out.is_absolute() and out.is_relative_to(ROOT) else out
    print(f"{len(parts)} parts of <= {size / MIB:.1f} MiB in {rel}; device calls, in order, while the machine is warm:")
    for p in parts[:-1]:
        print(f"  python3 scripts/gpu_train.py stage --part {rel}/{p.name}   carry [{rel}/manifest.json, {rel}/{p.name}]")
    print(f"  python3 scripts/gpu_train.py run --part {rel}/{parts[-1].name} --out $OUT   "
          f"carry [{rel}/manifest.json, {rel}/{parts[-1].name}]")
    return 0


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def split_file(path: Path, folder: Path, stem: str, size: int) -> list[Path]:
    """path -> folder/stem-00, stem-01, ... of at most `size` bytes each."""
    parts = []
    with path.open("rb") as f:
        for i, chunk in enumerate(iter(lambda: f.read(size), b"")):
            parts.append(folder / f"{stem}-{i:02d}")
            parts[-1].write_bytes(chunk)
    return parts


# ---- stage and run (device) ------------------------------------------------------------------------------------
def stage(args) -> int:
    """Copy the carried part into the stage folder, checked against the manifest; report what is still missing."""
    part, folder = Path(args.part), Path(args.stage)
    manifest = json.loads((part.parent / "manifest.json").read_text())
    if manifest["parts"].get(part.name) != sha256(part):
        raise SystemExit(f"{part} does not match {part.parent / 'manifest.json'} (packed by another `pack`?)")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(part, folder / part.name)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    missing = [n for n in manifest["parts"] if not (folder / n).is_file()]
    print(json.dumps({"staged": part.name, "missing": missing}))
    return 0


def unpack(folder: Path) -> Path:
    """Verify every staged part, join and unpack them; returns the T2L home."""
    manifest = json.loads((folder / "manifest.json").read_text())
    bad = [n for n, digest in manifest["parts"].items() if not (folder / n).is_file() or sha256(folder / n) != digest]
    if bad:
        raise SystemExit(f"parts missing or damaged in {folder}: {bad} (the machine went back between calls? "
                         "stage them again)")
    joined = folder / "pack.tar"
    with joined.open("wb") as out:
        for name in manifest["parts"]:
            out.write((folder / name).read_bytes())
    with tarfile.open(joined) as tar:
        tar.extractall(folder, filter="data")
    joined.unlink()
    return folder / "home"


def prepare_home(home: Path) -> dict:
    """Install the gguf wheel if needed and convert the GGUF into the folder `ground.assets` expects."""
    from ground.assets import AssetError, convert_gguf

    meta = json.loads((home / "run.json").read_text())
    gguf = home / "models" / GGUF_NAME
    if gguf.exists():
        try:
            import gguf as _  # noqa: F401
        except ImportError:
            site = home / "site"
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target",
                            str(site), *map(str, (home / "wheels").glob("*.whl"))], check=True)
            sys.path.insert(0, str(site))
        digest = sha256(gguf)
        if meta["gguf_sha256"] and digest != meta["gguf_sha256"]:
            raise AssetError(f"{gguf} arrived damaged (sha256 {digest[:12]}...)")
        convert_gguf(gguf, home / "models" / meta["base_model"].split("/")[-1],
                     f"gpu_train:{GGUF_NAME}", digest)
        gguf.unlink()
    return meta


def write_back(src: Path, out: Path, limit: int = RETURN_FILE_LIMIT) -> list[str]:
    """Copy every file of `src` into `out`, splitting those over `limit` bytes into NAME.part-NN."""
    out.mkdir(parents=True, exist_ok=True)
    names = []
    for path in sorted(p for p in src.iterdir() if p.is_file()):
        if path.stat().st_size > limit:
            names += [p.name for p in split_file(path, out, path.name + ".part", limit)]
        else:
            shutil.copyfile(path, out / path.name)
            names.append(path.name)
    return names


def run(args) -> int:
    from training.config import parse_sets
    from training.sft import SFTConfig, train_sft

    folder = Path(args.stage)
    if args.part:
        stage(argparse.Namespace(part=args.part, stage=args.stage))
    home = unpack(folder)
    meta = prepare_home(home)
    os.environ["T2L_HOME"], os.environ["HF_HUB_OFFLINE"] = str(home), "1"
    sets = {**parse_sets(meta["set"] + list(args.set or ())), "out_dir": str(folder / "run"), "progress": False}
    if (home / "models" / "base").is_dir():
        sets["base_model"] = str(home / "models" / "base")
    config = SFTConfig.from_yaml(ROOT / meta["config"], **sets)
    tick = time.perf_counter()
    final = train_sft(config, encoder=PrecomputedEncoder(home / "embeddings", meta["encoder"]))
    out = Path(args.out)
    files = write_back(final, out / "checkpoint")
    shutil.copyfile(folder / "run" / "metrics.jsonl", out / "metrics.jsonl")
    lines = [json.loads(x) for x in (folder / "run" / "metrics.jsonl").read_text().splitlines()]
    train = [x for x in lines if "loss" in x]
    per_step = train[-1]["samples"] if train else 0
    summary = {"steps": config.steps, "steps_run": config.steps - config.init_step, "samples_per_step": per_step,
               "samples": per_step * (config.steps - config.init_step), "files": files,
               "seconds": round(time.perf_counter() - tick, 1), "last": lines[-1] if lines else {},
               "device": _device_name()}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: summary[k] for k in ("steps", "samples", "seconds", "device")}))
    return 0


def _device_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


# ---- fetch (here) ----------------------------------------------------------------------------------------------
def fetch(args) -> int:
    """Join the returned checkpoint files (NAME.part-NN) into --to and check that the checkpoint loads."""
    from hypernet import load_checkpoint

    src, dst = Path(args.files_at) / "checkpoint", Path(args.to)
    dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.iterdir()):
        if ".part-" in path.name:
            with (dst / path.name.split(".part-")[0]).open("ab" if not path.name.endswith("-00") else "wb") as f:
                f.write(path.read_bytes())
        else:
            shutil.copyfile(path, dst / path.name)
    for extra in ("metrics.jsonl", "summary.json"):
        if (Path(args.files_at) / extra).exists():
            shutil.copyfile(Path(args.files_at) / extra, dst.parent / extra)
    checkpoint = load_checkpoint(dst)  # verifies the digest over every file
    print(json.dumps({"checkpoint": str(dst), "digest": checkpoint.digest, "steps": checkpoint.provenance["steps"]}))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/gpu_train.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="here: pack what the GPU run needs into parts that fit the device calls")
    p.add_argument("--config", default="training/configs/suite-gpu.yaml")
    p.add_argument("--set", nargs="+", metavar="KEY=VALUE", help="overrides of the config (the run applies them too)")
    p.add_argument("--out", default=str(ROOT / ".gpu"))
    p.add_argument("--examples-per-task", type=int, default=256, help="cap on each BIG-bench training task")
    p.add_argument("--part-mib", type=float, help="part size (default: 64 MiB minus the repository, minus 2)")
    p.set_defaults(func=pack, encoder=None)
    for name, func in (("stage", stage), ("run", run)):
        p = sub.add_parser(name, help=f"device: {name}")
        p.add_argument("--part", required=name == "stage", help="the part this call carries")
        p.add_argument("--stage", default="/tmp/t2l-gpu", help="where parts wait between calls")
        if name == "run":
            p.add_argument("--out", required=True, help="$OUT")
            p.add_argument("--set", nargs="+", metavar="KEY=VALUE", help="more overrides (e.g. budget_s=300)")
        p.set_defaults(func=func)
    p = sub.add_parser("fetch", help="here: join the returned checkpoint and check it")
    p.add_argument("files_at")
    p.add_argument("--to", required=True)
    p.set_defaults(func=fetch)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
