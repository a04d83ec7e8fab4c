"""`t2l` end to end on a tiny base model saved to disk (the encoder is the packaged all-MiniLM-L6-v2)."""

import json

import pytest
import torch

from t2l.cli import main
from tests.helpers import tiny_llama


@pytest.fixture
def tiny_base(tmp_path, monkeypatch):
    monkeypatch.setenv("T2L_HOME", str(tmp_path / "home"))
    folder = tmp_path / "tiny-base"
    tiny_llama().save_pretrained(folder)
    return folder


def test_init_info_generate_and_peft_load(tiny_base, tmp_path, capsys):
    from peft import PeftModel

    ckpt = tmp_path / "ckpt"
    assert main(["checkpoint", "init", "--out", str(ckpt), "--base-model", str(tiny_base), "--embed-dim", "384",
                 "--latent-size", "16", "--head-in-size", "32", "--head-noise", "0.01", "--variant", "S"]) == 0
    assert json.loads(capsys.readouterr().out)["trained"] is False
    assert main(["checkpoint", "info", str(ckpt)]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["variant"] == "S"
    out = tmp_path / "adapter"
    assert main(["generate", "--checkpoint", str(ckpt), "--out", str(out), "--check-base-model", str(tiny_base),
                 "Answer with the antonym of the given word."]) == 0
    capsys.readouterr()
    model = PeftModel.from_pretrained(tiny_llama(), out).eval()
    ids = torch.randint(0, 128, (1, 5))
    with torch.no_grad():
        assert not torch.allclose(model(ids).logits, tiny_llama()(ids).logits)
    two = tmp_path / "two"
    assert main(["generate", "--checkpoint", str(ckpt), "--out", str(two), "first task", "second task"]) == 0
    assert sorted(p.name for p in two.iterdir()) == ["adapter-000", "adapter-001"]


def test_cli_errors_are_one_clear_line(tiny_base, tmp_path, capsys):
    assert main(["generate", "--checkpoint", str(tmp_path / "none"), "--out", str(tmp_path / "o"), "x"]) == 2
    assert "is not a t2l checkpoint" in capsys.readouterr().err
    ckpt = tmp_path / "ckpt"
    main(["checkpoint", "init", "--out", str(ckpt), "--base-model", str(tiny_base), "--embed-dim", "384",
          "--latent-size", "16", "--head-in-size", "32"])
    assert main(["generate", "--checkpoint", str(ckpt), "--out", str(tmp_path / "o"), "   "]) == 2
    assert "task description is empty" in capsys.readouterr().err
    other = tmp_path / "other-base"
    tiny_llama(num_hidden_layers=3).save_pretrained(other)
    assert main(["generate", "--checkpoint", str(ckpt), "--out", str(tmp_path / "o"), "--check-base-model",
                 str(other), "a task"]) == 2
    assert "does not fit this base model" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_eval_flags_yaml_and_set_build_one_config(tmp_path, monkeypatch, capsys):
    """`t2l eval` flags are shortcuts over the EvalRunConfig YAML and --set (the run itself is replaced)."""
    import training.eval_command as eval_command

    seen = []
    monkeypatch.setattr(eval_command, "run_configured", lambda config: seen.append(config) or {"ok": True})
    path = tmp_path / "eval.yaml"
    path.write_text("out_dir: from-yaml\ninputs: {methods: [base, oracle]}\nscoring: {examples_per_task: 3}\n")
    assert main(["eval", "--config", str(path), "--set", "scoring.max_len=512", "--examples", "5",
                 "--tasks", "tiers", "--reuse-methods", "base"]) == 0
    config = seen[0]
    assert (config.out_dir, config.inputs.methods, config.inputs.tasks) == ("from-yaml", ("base", "oracle"), "tiers")
    assert (config.scoring.examples_per_task, config.scoring.max_len, config.reuse_methods) == (5, 512, ("base",))
    assert json.loads(capsys.readouterr().out) == {"ok": True}


def test_eval_refuses_bad_input_in_one_line(tmp_path, capsys):
    assert main(["eval", "--out", str(tmp_path / "e"), "--sft", str(tmp_path / "missing")]) == 2
    assert "--sft" in capsys.readouterr().err
    assert main(["eval", "--out", str(tmp_path / "e"), "--methods", "nope"]) == 2
    assert "unknown methods ['nope']" in capsys.readouterr().err
    assert main(["eval", "--set", "inputs.nope=1"]) == 2
    assert "unknown EvalInputs fields" in capsys.readouterr().err
    assert main(["eval", "--tasks", "tiers", "--reuse-methods", "base"]) == 2
    assert "needs --reuse" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()


def test_the_cli_loads_no_torch_until_a_subcommand_needs_it():
    """What the `# lazy:` imports of t2l/cli.py claim: importing the CLI (`t2l --help`, `t2l keys`, `t2l data`) pulls in
    neither torch nor the service, the trainers or the benchmarks."""
    import subprocess
    import sys

    probe = ("import sys, t2l.cli; heavy = [m for m in ('torch', 'transformers', 'server.app', 'training.sft', "
             "'bench.run') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr
