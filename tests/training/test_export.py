"""`t2l train export`: a stopped run's latest state becomes a checkpoint a later session continues from."""

import json

import pytest
import torch

from hypernet import load_checkpoint, save_checkpoint
from training.export import main
from training.sft import SFTConfig
from training.state import save_state
from tests.helpers import tiny_hypernet, tiny_llama


def _run_with_states(tmp_path, steps):
    """A run folder whose states hold weights that differ from its init_from checkpoint (as training leaves them)."""
    net = tiny_hypernet(tiny_llama(), head_noise=0.05)
    save_checkpoint(tmp_path / "start", net, "tiny-llama", "test/hashing", {"steps": 10})
    config = SFTConfig(hyper=net.config, init_from=str(tmp_path / "start"), init_step=10, steps=40,
                       keep_states=2)
    optimizer = torch.optim.AdamW(net.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    for step in steps:
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.01 * step)
        save_state(tmp_path / "run", step, net, optimizer, scheduler, config)
    return net


def test_export_writes_the_latest_states_weights_and_the_step_to_continue_from(tmp_path, capsys):
    net = _run_with_states(tmp_path, [20, 30])
    log = [{"step": s, "loss": 1.0} for s in range(11, 34)] + [{"step": 20, "eval_loss": 2.0}]
    (tmp_path / "run" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    kept = tmp_path / "metrics.jsonl"  # an earlier session's part of the run, and a line past its end that goes
    kept.write_text("".join(json.dumps({"step": s, "loss": 0.5}) + "\n" for s in (1, 10, 11)))

    assert main([str(tmp_path / "run"), "--to", str(tmp_path / "warm"), "--metrics", str(kept)]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 30

    warm = load_checkpoint(tmp_path / "warm")
    assert warm.provenance["steps"] == 30 and warm.provenance["config"]["init_step"] == 10
    for name, value in net.state_dict().items():  # the last state's weights (step 30), in float16
        torch.testing.assert_close(warm.model.state_dict()[name], value.half().float(), rtol=0, atol=0)
    rows = [json.loads(ln) for ln in kept.read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 10] + list(range(11, 31))
    assert [r["loss"] for r in rows[:2]] == [0.5, 0.5] and {"step": 20, "eval_loss": 2.0} in rows


def test_export_over_its_own_init_from_keeps_the_folder_readable(tmp_path):
    _run_with_states(tmp_path, [20])
    assert main([str(tmp_path / "run"), "--to", str(tmp_path / "start")]) == 0  # a continued run's warm folder
    assert load_checkpoint(tmp_path / "start").provenance["steps"] == 20


def test_export_names_what_is_missing(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(SystemExit):
        main([str(tmp_path / "run"), "--to", str(tmp_path / "warm")])


def test_continue_step_is_the_states_own_while_a_state_exists_else_the_warm_step(tmp_path):
    """A resumed run keeps the init_step it started with (its schedule); a fresh machine starts at warm's step."""
    from training.export import continue_step

    _run_with_states(tmp_path, [20, 30])
    assert main([str(tmp_path / "run"), "--to", str(tmp_path / "warm")]) == 0
    assert continue_step(tmp_path / "run", tmp_path / "warm") == 10  # the states' init_step, not warm's 30
    assert continue_step(tmp_path / "gone", tmp_path / "warm") == 30
