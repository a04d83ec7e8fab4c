"""training.tier_curve: points paired on the tasks every point scored, differences with intervals, table and plot."""

import json

import pytest

from training.tier_curve import main, paired, parse_point


def write_eval(path, tiers):
    by_tier = {tier: {"tasks": {name: {"scores": {"t2l_sft": score}} for name, score in tasks.items()}}
               for tier, tasks in tiers.items()}
    path.write_text(json.dumps({"task_set": "tiers", "by_tier": by_tier}))
    return path


def test_points_are_paired_on_shared_tasks_and_compared_with_the_first(tmp_path, capsys):
    first = write_eval(tmp_path / "a.json", {"heldout_tasks": {"x": 0.0, "y": 20.0, "bb": 60.0},
                                             "new_combinations": {"c": 10.0}})
    last = write_eval(tmp_path / "b.json", {"heldout_tasks": {"x": 40.0, "y": 20.0}, "new_combinations": {"c": 0.0}})
    points = [parse_point(f"shipped:14,400:{first}"), parse_point(f"later:55800:{last}")]
    got = paired(points)
    held = got["heldout_tasks"]
    assert held["tasks"] == 2 and held["means"] == [10.0, 30.0]  # bb (not scored later) is left out of both
    assert held["vs_first"][0] | {} == {"mean": 20.0, "low": 0.0, "high": 40.0, "better": 1, "worse": 0}
    assert got["new_combinations"]["vs_first"][0]["worse"] == 1 and "seen_ops_new_descriptions" not in got
    assert main(["--point", f"shipped:14400:{first}", "--point", f"later:55800:{last}", "--out",
                 str(tmp_path / "out")]) == 0
    assert "| heldout_tasks | 2 | 10.0 | 30.0 | +20.0 (+0.0 to +40.0) | 1 / 0 |" in capsys.readouterr().out
    assert (tmp_path / "out" / "accuracy_vs_samples.png").stat().st_size > 10_000


def test_bad_points_are_named(tmp_path):
    other = tmp_path / "o.json"
    other.write_text(json.dumps({"task_set": "heldout"}))
    with pytest.raises(ValueError, match="LABEL:SAMPLES:EVAL_JSON"):
        parse_point("no-samples")
    with pytest.raises(ValueError, match="not a `t2l eval --tasks tiers`"):
        parse_point(f"x:1:{other}")
    with pytest.raises(SystemExit):
        main(["--point", f"x:1:{other}", "--point", f"y:2:{other}", "--out", str(tmp_path)])
