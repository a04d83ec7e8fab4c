"""The image steps `make docker-test` and `make scale-test` share: a Docker engine, the base images, the offline
wheelhouse, the cpu image build, the secret scan of an image, the optional gpu builder check, and removing what a
run built. Each step times itself and writes its section of the run's results (docker_harness.Recorder). Standard
library only (scripts/docker_test.py says why)."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time

from docker_harness import (DOCKER_DIR, LOCAL_BASES, LOCAL_PYTHON, ROOT, Recorder, build_client, compose_client,
                            compose_default, dir_fingerprint, dockerfile_default, image_bytes, log, run)

APP_IMAGE = "t2l:0.1.0-cpu"
PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----")
API_KEYS_SET = re.compile(rb"T2L_API_KEYS(_FILE)?=[^\s\"'$]")
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|APIKEY|PRIVATE_KEY|CREDENTIAL)", re.I)
VERSION_COMMAND = {"python": "python3 --version", "redis": "redis-server --version", "haproxy": "haproxy -v | head -1"}


class Images:
    """The engine and images of one run. `args` has local_bases, pull_timeout, reuse, keep."""

    def __init__(self, args: argparse.Namespace, rec: Recorder):
        self.args, self.rec, self.result = args, rec, rec.result
        self.started_dockerd: int | None = None
        self.built: list[str] = []  # images this run created, removed at the end unless --keep
        self.build: list[str] = []
        self.compose: list[str] = []
        self.bases_chosen: dict = {}

    def api_before_25(self) -> bool:
        """Docker Engine < 25 (API 1.44) refuses healthcheck.start_interval: compose.engine-pre25.yml then."""
        return tuple(int(x) for x in self.result["engine"]["api"].split(".")) < (1, 44)

    # -- a Docker engine
    def engine(self) -> None:
        start = time.monotonic()
        out = run(["bash", str(DOCKER_DIR / "ensure_dockerd.sh")], timeout=900, capture=True)
        words = out.stdout.split()
        if words and words[0] == "started":
            self.started_dockerd = int(words[1])
        self.result["dockerd"] = "started by this run (as root)" if self.started_dockerd else "already running"
        server = run(["docker", "version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}"]).stdout.split()
        self.build = build_client()
        self.compose = compose_client()
        self.result["engine"] = {"server": server[0], "api": server[1], "build_client": self.build[0],
                                 "compose": run([*self.compose, "version", "--short"]).stdout.strip(),
                                 "cpus": sorted(os.sched_getaffinity(0))}
        self.rec.step("engine", start)

    # -- base images
    def bases(self, extra: dict[str, str] | None = None) -> None:
        """The base images by kind (python, redis, and `extra` {kind: public default}, e.g. scale-test's haproxy):
        the public one when present or pullable, else built from Debian packages (LOCAL_BASES)."""
        start = time.monotonic()
        wanted = {"python": dockerfile_default("PYTHON_IMAGE"), "redis": compose_default("REDIS_IMAGE"),
                  **(extra or {})}
        chosen, missing = {}, []
        for kind, image in wanted.items():
            if self.args.local_bases:
                missing.append(kind)
                continue
            if run(["docker", "image", "inspect", image], check=False, timeout=60).returncode == 0:
                chosen[kind] = {"image": image, "source": "public (present)"}
                continue
            pull = run(["docker", "pull", image], check=False, timeout=self.args.pull_timeout) \
                if self.args.pull_timeout > 0 else None
            if pull is not None and pull.returncode == 0:
                chosen[kind] = {"image": image, "source": "public (pulled)"}
            else:
                reason = (pull.stderr.strip().splitlines() or ["?"])[-1] if pull is not None else "not tried"
                log(f"{image}: cannot pull ({reason}); building a local base from Debian packages")
                missing.append(kind)
        if missing:
            before = {img: image_bytes(img) is not None for img in [*(LOCAL_BASES[k] for k in missing),
                                                                   "t2l-local/debian:bookworm-minbase"]}
            run(["bash", str(DOCKER_DIR / "local_bases.sh"), *missing], timeout=1200)
            for kind in missing:
                image = LOCAL_BASES[kind]
                chosen[kind] = {"image": image, "source": "local (debootstrap, reused)" if before[image]
                                else "local (debootstrap, built now)"}
            self.built += [img for img, existed in before.items() if not existed]
        for kind, info in chosen.items():
            info["bytes"] = image_bytes(info["image"])
            if info["source"].startswith("local"):
                info["version"] = run(["docker", "run", "--rm", "--entrypoint", "sh", info["image"], "-c",
                                       VERSION_COMMAND[kind]], timeout=120).stdout.strip()
        self.result["bases"] = self.bases_chosen = chosen
        self.rec.step("bases", start)

    # -- the wheelhouse
    def wheelhouse(self) -> None:
        start = time.monotonic()
        folder = DOCKER_DIR / "wheelhouse" / "cpu"
        # the stamp lives outside the folder the image build bind-mounts (a new file there would change that
        # layer's cache key); build/ is ignored by git and kept out of the build context
        stamp = ROOT / "build" / "docker-wheelhouse-cpu.stamp"
        stamp.parent.mkdir(exist_ok=True)
        python_base = self.bases_chosen["python"]["image"]
        base_id = run(["docker", "image", "inspect", "--format", "{{.Id}}", python_base]).stdout.strip()
        fingerprint = dir_fingerprint([ROOT / "constraints" / "cpu.txt", ROOT / "pyproject.toml",
                                       DOCKER_DIR / "wheelhouse.sh"]) + " " + base_id
        reused = stamp.is_file() and stamp.read_text().strip() == fingerprint and self.args.reuse
        if not reused:
            for wheel in folder.glob("*.whl"):  # (the folder's tracked .keep stays)
                wheel.unlink()
            # VERIFY_IMAGE: the set is checked (and completed) by the base image's own Python, offline
            run(["bash", str(DOCKER_DIR / "wheelhouse.sh"), "cpu"], timeout=1800,
                env={**os.environ, "PYTHON": sys.executable, "VERIFY_IMAGE": python_base})
            stamp.write_text(fingerprint + "\n")
        wheels = list(folder.glob("*.whl"))
        self.result["wheelhouse"] = {"folder": str(folder.relative_to(ROOT)), "wheels": len(wheels),
                                     "bytes": sum(w.stat().st_size for w in wheels), "reused": reused}
        self.rec.step("wheelhouse", start)

    # -- the cpu image, offline
    def image_build(self) -> None:
        cmd = [*self.build, "build", "--target", "cpu", "-t", APP_IMAGE, "--progress", "plain",
               "--build-arg", f"PYTHON_IMAGE={self.bases_chosen['python']['image']}", "--build-arg", "WHEELHOUSE=1",
               "."]
        env = {**os.environ, "DOCKER_BUILDKIT": "1"}
        existed = image_bytes(APP_IMAGE) is not None
        builds = {}
        for kind in (["cached"] if self.args.reuse else ["cold", "cached"]):
            start = time.monotonic()
            full = cmd[:2] + (["--no-cache"] if kind == "cold" else []) + cmd[2:]
            out = run(full, timeout=3600, check=False, env=env)
            if out.returncode != 0:
                raise RuntimeError(f"docker build ({kind}) failed:\n{out.stderr[-4000:]}")
            builds[f"{kind}_s"] = self.rec.step(f"build_{kind}", start)
            steps = len(re.findall(r"^#\d+ \[", out.stderr, re.M))
            cached = len(re.findall(r"^#\d+ CACHED$", out.stderr, re.M))
            builds[f"{kind}_cached_steps"] = f"{cached}/{steps}"
        if not existed:
            self.built.append(APP_IMAGE)
        self.result["build"] = {"target": "cpu", "tag": APP_IMAGE, "offline": True, "command": " ".join(cmd[1:]),
                                **builds}
        self.result["images"] = {APP_IMAGE: image_bytes(APP_IMAGE)}

    # -- what an image must not hold
    def scan(self, image: str) -> dict:
        """Every file of the image (docker export of a created container): no .env file, no private key or key
        file outside third-party packages, no *.whl (the wheelhouse stays out), no secret-looking ENV or ARG."""
        cid = run(["docker", "create", image]).stdout.strip()
        findings, files, site_keys = [], 0, 0
        try:
            proc = subprocess.Popen(["docker", "export", cid], stdout=subprocess.PIPE)
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                for member in tar:
                    name = "/" + member.name.lstrip("./")
                    if not member.isfile():
                        continue
                    files += 1
                    base = name.rsplit("/", 1)[-1]
                    third_party = "/site-packages/" in name or name.startswith(("/usr/", "/etc/ssl/"))
                    if base == ".env" or base.startswith(".env."):
                        findings.append(f".env file: {name}")
                    elif base.endswith(".whl") and not name.startswith("/usr/share/python-wheels/"):
                        # (Debian's python3-venv keeps its ensurepip wheels there; ours must never enter)
                        findings.append(f"wheel in image: {name}")
                    elif re.search(r"(\.pem|\.key|id_rsa|id_ed25519|\.p12)$", base):
                        if third_party:
                            site_keys += 1
                        else:
                            findings.append(f"key file: {name}")
                    elif name.startswith(("/app/", "/var/lib/t2l/", "/root/")) and member.size < 5_000_000:
                        data = tar.extractfile(member).read()
                        if PRIVATE_KEY.search(data) or API_KEYS_SET.search(data):
                            findings.append(f"secret-looking content: {name}")
            proc.wait(timeout=60)
        finally:
            run(["docker", "rm", cid], check=False, timeout=60)
        config = json.loads(run(["docker", "image", "inspect", image]).stdout)[0]["Config"]
        for entry in config.get("Env") or []:
            name = entry.split("=", 1)[0]
            if SECRET_NAME.search(name.replace("TOKENIZERS", "")):
                findings.append(f"ENV {name}")
        history = run(["docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", image]).stdout
        for arg in re.findall(r"\b([A-Z_]+)=", history):
            if SECRET_NAME.search(arg.replace("TOKENIZERS", "")):
                findings.append(f"build-time variable {arg}")
        assert not findings, findings
        return {"files_scanned": files, "third_party_cert_or_key_files": site_keys, "findings": findings}

    # -- optional: what of the gpu target builds offline here
    def gpu_builder(self) -> None:
        """The gpu target's builder stage, offline, on the Debian minbase image in place of the CUDA base (no CUDA
        base image can be made here): gpu-base's apt layer, the CUDA wheels of vllm 0.32.0 from a gpu wheelhouse,
        the package install, its import check. Not run: the gpu runtime stage on a CUDA base, anything on a GPU."""
        start = time.monotonic()
        info: dict = {"base": "t2l-local/debian:bookworm-minbase (stands in for CUDA_IMAGE; Python 3.11, where the "
                              "CUDA base's Ubuntu 24.04 has 3.12)"}
        self.result["gpu"] = info
        base = "t2l-local/debian:bookworm-minbase"
        if image_bytes(base) is None:
            run(["bash", str(DOCKER_DIR / "local_bases.sh"), "python"], timeout=1200)
            self.built += [base, LOCAL_PYTHON]
        wh_start = time.monotonic()
        run(["bash", str(DOCKER_DIR / "wheelhouse.sh"), "gpu"], timeout=3600,
            env={**os.environ, "PYTHON": sys.executable, "VERIFY_IMAGE": LOCAL_PYTHON})
        wheels = list((DOCKER_DIR / "wheelhouse" / "gpu").glob("*.whl"))
        info["wheelhouse"] = {"wheels": len(wheels), "bytes": sum(w.stat().st_size for w in wheels),
                              "seconds": round(time.monotonic() - wh_start, 1)}
        tag = "t2l-gpu-builder:offline-check"
        build_start = time.monotonic()
        out = run([*self.build, "build", "--target", "gpu-builder", "-t", tag, "--progress", "plain",
                   "--build-arg", f"CUDA_IMAGE={base}", "--build-arg", "WHEELHOUSE=1", "."], timeout=3600,
                  check=False, env={**os.environ, "DOCKER_BUILDKIT": "1"})
        info["build_s"] = round(time.monotonic() - build_start, 1)
        info["build_ok"] = out.returncode == 0
        if out.returncode != 0:
            info["build_error"] = out.stderr[-3000:]
        else:
            self.built.append(tag)
            info["image_bytes"] = image_bytes(tag)
            probe = run(["docker", "run", "--rm", "--network", "none", tag, "python", "-c",
                         "import importlib.metadata as m, torch, server.app, t2l.cli; "
                         "print(m.version('vllm'), torch.__version__, torch.version.cuda, torch.cuda.is_available())"],
                        check=False, timeout=600)
            info["probe"] = (probe.stdout.strip() or probe.stderr.strip()[-500:])
            info["probe_ok"] = probe.returncode == 0
        info["not_run"] = ["the gpu runtime stage on a real CUDA base (nvidia/cuda cannot be pulled or made here)",
                           "vLLM on CUDA: no GPU on this machine", "the compose gpu profile"]
        self.rec.step("gpu_builder", start)
        if not (info["build_ok"] and info.get("probe_ok")):
            raise RuntimeError("gpu builder stage did not build offline; see result['gpu']")

    # -- the end
    def remove(self, done: dict, also: list[str] = ()) -> None:
        """Remove the images this run built (and `also`), unless --keep; a dockerd this run started is pruned and
        stopped. What was done goes into `done`."""
        if self.args.keep:
            done["images_kept"] = self.built
        else:
            built = self.built + [img for img in also if img not in self.built and image_bytes(img) is not None]
            removed = []
            for image in reversed(built):  # the app image first, the bases after
                if run(["docker", "rmi", image], check=False, timeout=300).returncode == 0:
                    removed.append(image)
            done["images_removed"] = removed
        if self.started_dockerd and not self.args.keep:
            # the daemon is this run's own: its build cache (GBs of builder layers) goes too
            out = run(["docker", "builder", "prune", "-a", "-f"], check=False, timeout=600)
            freed = re.search(r"Total reclaimed space:\s*(\S+)", out.stdout)
            done["build_cache_pruned"] = freed.group(1) if freed else out.returncode == 0
            os.kill(self.started_dockerd, signal.SIGTERM)
            for _ in range(60):
                if run(["docker", "info"], check=False, timeout=30).returncode != 0:
                    break
                time.sleep(1)
            done["dockerd_stopped"] = True
