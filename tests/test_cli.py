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
