"""deploy/k8s: every object against the Kubernetes schemas, each topology wired (kustomize), the t2l, vLLM-resolver
and mistral recipes, and the Redis config shared with compose."""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
import subprocess
import sys
import time
import tomllib

import pytest

from tests.deploy.helpers import (
    DEPLOY, K8S, K8S_VERSIONS, ROOT, T2L_EXTRAS, free_port, index, k8s_objects, kustomize, pod_spec,
    redis_conf_directives, selects, settings_env_names
)


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


def test_k8s_refine_worker_runs_what_make_serve_runs():
    """The worker Deployment: the service's image and ConfigMap (so its Redis), the worker class make serve runs,
    assets prepared as the service's are, and reachable Redis (the topology test checks the NetworkPolicy)."""
    by = index(kustomize(K8S / "t2l"))
    service, worker = pod_spec(by[("Deployment", "t2l")]), pod_spec(by[("Deployment", "t2l-worker")])
    container = worker["containers"][0]
    assert container["image"] == service["containers"][0]["image"]
    assert container["command"][:4] == ["rq", "worker", "-w", "server.refine_worker.RefineWorker"]
    assert container["command"][container["command"].index("--url") + 1] == "$(T2L_REDIS_URL)"
    assert container["command"][-1] == "$(T2L_REFINE_QUEUE)" and "ports" not in container
    assert by[("ConfigMap", "t2l-env")]["data"]["T2L_REFINE_QUEUE"] == "t2l-refine"  # the service's queue too
    assert {"configMapRef": {"name": "t2l-env"}} in container["envFrom"]
    assert worker["initContainers"][0]["command"] == service["initContainers"][0]["command"]
    assert "server.refine_worker.RefineWorker" in (ROOT / "scripts" / "serve_local.sh").read_text()


def vllm_container() -> tuple[dict, dict]:
    by = index(kustomize(K8S / "vllm-resolver"))
    return pod_spec(by[("Deployment", "vllm")])["containers"][0], by[("ConfigMap", "vllm-env")]["data"]


def test_k8s_vllm_resolver_matches_the_plugin_and_checkpoint():
    from hypernet import HyperConfig
    from server.engines.vllm_engine import vllm_lora_modules
    from ground.assets import DEFAULT_BASE_MODEL

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


@pytest.mark.slow  # imports vLLM's CLI: ~10 s on a 2-core CPU
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
