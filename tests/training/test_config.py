"""One config style (training.config): sft, recon, the LoRA baselines and eval are dataclasses loaded from YAML,
then --set, then their flags as shortcuts; ids come from ground.assets."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from hypernet import HyperConfig
from ground.assets import DEFAULT_BASE_MODEL, DEFAULT_ENCODER
from training import lora_library, recon, sft
from training.config import ConfigFile, add_config_arguments, build, config_from_args, parse_sets
from training.eval_run import EvalInputs, EvalRunConfig
from training.evaluate import EvalConfig
from training.lora_library import LoRATrainConfig
from training.recon import ReconConfig
from training.sft import SFTConfig

ROOT = Path(__file__).resolve().parents[2]

@dataclasses.dataclass
class Toy(ConfigFile):
    """A config with a nested HyperConfig, a nested plain dataclass and a tuple field."""

    name: str = "a"  # a string
    sizes: tuple[int, ...] = (1, 2)  # a tuple
    hyper: HyperConfig = dataclasses.field(default_factory=HyperConfig)  # nested, with its own from_dict
    scoring: EvalConfig = dataclasses.field(default_factory=EvalConfig)  # nested, a plain dataclass


def test_build_merges_nested_fields_over_defaults_and_turns_lists_into_tuples():
    toy = build(Toy, {"sizes": [3], "hyper": {"rank": 4}}, **{"hyper.alpha": 2.0, "scoring.seed": 7, "name": "b"})
    assert toy.sizes == (3,) and toy.name == "b"
    assert toy.hyper == HyperConfig(rank=4, alpha=2.0)  # every other HyperConfig field at its default
    assert toy.scoring == EvalConfig(seed=7)
    with pytest.raises(ValueError, match=r"unknown Toy fields: \['nope'\]"):
        build(Toy, {}, nope=1)
    with pytest.raises(ValueError, match="unknown EvalConfig fields in scoring"):
        build(Toy, {}, **{"scoring.nope": 1})
    with pytest.raises(ValueError, match="unknown HyperConfig fields"):
        build(Toy, {"hyper": {"nope": 1}})


@pytest.mark.parametrize("cls", [SFTConfig, ReconConfig, LoRATrainConfig, EvalRunConfig])
def test_every_config_round_trips_through_yaml(cls, tmp_path):
    path = tmp_path / "c.yaml"
    changed = {SFTConfig: {"hyper.rank": 4, "betas": [0.8, 0.9]}, ReconConfig: {"steps": 7, "library": "lib"},
               LoRATrainConfig: {"kind": "multitask", "tasks": 12}, EvalRunConfig: {"inputs.methods": ["base"]}}[cls]
    config = cls.from_dict({}, **changed)
    path.write_text(yaml.safe_dump(config.to_dict()))
    again = cls.from_yaml(path)
    assert again == config and again.to_dict() == config.to_dict()
    assert json.loads(json.dumps(config.to_dict())) == config.to_dict()  # plain data all the way down


def test_every_field_has_a_one_line_doc():
    import inspect

    for cls in (SFTConfig, ReconConfig, LoRATrainConfig, EvalRunConfig, EvalInputs):
        source = inspect.getsource(cls)
        for f in dataclasses.fields(cls):
            line = next(x for x in source.splitlines() if x.strip().startswith(f"{f.name}:"))
            assert "  # " in line, f"{cls.__name__}.{f.name} has no doc comment"


def test_ids_come_from_t2l_assets():
    assert SFTConfig().base_model == LoRATrainConfig().base_model == EvalInputs().base_model == DEFAULT_BASE_MODEL
    assert SFTConfig().encoder == ReconConfig().encoder == DEFAULT_ENCODER


def test_yaml_then_set_then_flags(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("steps: 5\nlr: 0.5\nseed: 3\n")
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, "ReconConfig")
    args = parser.parse_args(["--config", str(path), "--set", "lr=1e-4", "--set", "steps=6"])
    config = config_from_args(ReconConfig, args, parser, {"steps": 9, "out_dir": None})
    assert (config.steps, config.lr, config.seed, config.out_dir) == (9, 1e-4, 3, ReconConfig().out_dir)
    assert parse_sets(["hyper.rank=16", "a=b=c"]) == {"hyper.rank": 16, "a": "b=c"}
    with pytest.raises(SystemExit):
        config_from_args(ReconConfig, parser.parse_args(["--set", "nonsense=1"]), parser)
    with pytest.raises(ValueError, match="KEY=VALUE"):
        config_from_args(ReconConfig, parser.parse_args(["--set", "novalue"]), None)


def _capture(monkeypatch, module, name):
    seen = []
    monkeypatch.setattr(module, name, lambda config, *a, **k: seen.append(config) or {"mean_delta_w_relative_error": 0})
    return seen


def test_trainer_command_lines_build_their_configs(monkeypatch, tmp_path, capsys):
    """The flags the Makefile uses still work, now as shortcuts over YAML + --set."""
    seen = _capture(monkeypatch, recon, "run_recon")
    recon.main(["--library", "lib", "--out", "out", "--steps", "3", "--set", "hyper.rank=4", "--set", "lr=2e-3"])
    assert (seen[0].library, seen[0].out_dir, seen[0].steps, seen[0].lr, seen[0].hyper.rank) == (
        "lib", "out", 3, 2e-3, 4)
    with pytest.raises(SystemExit):
        recon.main(["--out", "out"])  # no library anywhere
    seen = _capture(monkeypatch, lora_library, "run")
    path = tmp_path / "lora.yaml"
    path.write_text("kind: suite-oracle\ntasks: 12\nsteps: 30\n")
    lora_library.main(["--config", str(path), "--out", "o", "--threads", "1"])
    lora_library.main(["oracle", "--tasks", "library", "--library-size", "10", "--out", "o", "--steps", "15"])
    assert (seen[0].kind, seen[0].tasks, seen[0].steps, seen[0].threads) == ("suite-oracle", "12", 30, 1)
    assert (seen[1].kind, seen[1].tasks, seen[1].library_size, seen[1].steps) == ("oracle", "library", 10, 15)
    with pytest.raises(ValueError, match="kind must be"):
        LoRATrainConfig(kind="nope")
    seen = _capture(monkeypatch, sft, "train_sft")
    sft.main(["--config", str(ROOT / "training/configs/tiny.yaml"), "--out", "o", "--resume", "--set", "steps=2"])
    assert (seen[0].out_dir, seen[0].resume, seen[0].steps) == ("o", True, 2)
    capsys.readouterr()
