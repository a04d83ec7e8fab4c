"""t2l.expected_check: the statistics on known cases, and the whole check on a synthetic checkpoint whose index has
orthogonal rows (so every expected accuracy is known), without an encoder or any download."""

import json
from types import SimpleNamespace

import pytest
import torch

from t2l import expected_check as ec
from t2l import expected_stats as es


def test_ranks_average_ties_and_spearman_matches_known_permutations():
    assert es.rank([10, 20, 20, 30, 20]) == [1, 3, 3, 5, 3]
    assert es.spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(1 - 6 * 4 / (5 * 24))  # 0.8, no ties
    assert es.spearman([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1.0)
    assert es.spearman([1, 2, 3, 4], [1, 8, 27, 1000]) == pytest.approx(1.0)  # monotone, not linear
    assert es.pearson([1, 2, 3, 4], [1, 8, 27, 1000]) < 0.9
    assert es.spearman([1, 2, 3], [5, 5, 5]) is None and es.pearson([0, 0], [1, 2]) is None
    with pytest.raises(ValueError):
        es.pearson([1], [1])
    x, y = [0, 0, 20, 20, 40, 60, 0, 20], [3.0, 1.0, 9.0, 2.0, 8.0, 8.0, 1.0, 30.0]  # ties on both sides
    scipy_stats = pytest.importorskip("scipy.stats")
    assert es.spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y).statistic, abs=1e-12)
    lo, hi = es.spearman_interval(x, y, rounds=300)
    assert -1 <= lo <= hi <= 1


def test_bins_are_half_open_with_the_last_closed_and_calibration_averages_each_bin():
    assert [es.bin_of(v) for v in (0, 4.999, 5, 14.9, 15, 30, 49.99, 50, 100)] == [0, 0, 1, 1, 2, 3, 3, 4, 4]
    for bad in (-0.1, 100.01):
        with pytest.raises(ValueError):
            es.bin_of(bad)
    table = es.calibration([1, 3, 60, 100], [0, 20, 40, 80])
    assert [b["n"] for b in table] == [2, 0, 0, 0, 2] and table[-1]["bin"] == "[50, 100]"
    assert table[0]["mean_expected"] == 2 and table[0]["mean_measured"] == 10 and table[1]["mean_measured"] is None
    got = ec.compare([1, 3, 60, 100], [0, 20, 40, 80], constant=25.0)
    assert got["mae"] == pytest.approx((1 + 17 + 20 + 20) / 4)
    assert got["baseline"]["mae"] == pytest.approx((25 + 5 + 15 + 55) / 4)
    assert got["hindsight_constant_mae"] == pytest.approx((35 + 15 + 5 + 45) / 4) and got["spearman"] == 1.0


def _task(name, descriptions, n_examples):
    from training.tasks import Example, Task

    return Task(name=name, family="suite.x" if name.startswith("suite:") else name, kind="generative",
                metric="exact_str_match", keywords=(), descriptions=tuple(descriptions),
                examples=tuple(Example(f"in {i}", ("out",)) for i in range(n_examples)), source_description="",
                n_train=0)


TIERS = {  # tier -> [(task, its evaluation descriptions, examples, measured t2l_sft %)]
    "new_combinations": [("suite:a+x", ("da", "db"), 5, 60.0), ("suite:b+x", ("db",), 3, 0.0),
                         ("suite:c+x", ("dc",), 5, 0.0)],
    "heldout_tasks": [("suite:h1", ("da",), 5, 40.0), ("suite:h2", ("dc",), 5, 0.0),
                      ("bb1", ("da",), 5, 20.0), ("bb2", ("db",), 5, 20.0)],
    "seen_ops_new_descriptions": [("suite:a", ("da",), 5, 80.0), ("suite:b", ("db",), 5, 20.0),
                                  ("suite:c", ("dc",), 5, 0.0)],
}
ROWS = {"da": [1.0, 0, 0], "db": [0, 1.0, 0], "dc": [0, 0, 1.0]}  # description -> embedding (index rows: eye(3))


@pytest.fixture
def synthetic(tmp_path, monkeypatch):
    """A checkpoint folder (accuracy.json, eval.json) whose index and encoder are stand-ins with known answers."""
    from hypernet import DescriptionIndex, EncoderSpec, write_accuracy

    measured = {"suite:a": 80.0, "suite:b": 20.0, "suite:c": 0.0}
    write_accuracy(tmp_path, measured, {"eval": "test"})
    index = DescriptionIndex(["suite:a", "suite:b", "suite:c"], torch.eye(3))
    index.set_accuracy(measured)
    checkpoint = SimpleNamespace(description_index=index, digest="d" * 64, encoder="test/enc",
                                 embedding=EncoderSpec(name="test/enc"))
    embedded = []

    def embed(ckpt, encoder, texts):
        assert ckpt is checkpoint and encoder == "encoder"
        embedded.extend(texts)
        return list(texts), torch.tensor([ROWS[t] for t in texts])

    # (patched where expected_check looks them up)
    monkeypatch.setattr(ec, "load_checkpoint", lambda folder: checkpoint)
    monkeypatch.setattr(ec, "make_encoder", lambda path, spec: "encoder")
    monkeypatch.setattr(ec, "prepare_encoder", lambda name: name)
    monkeypatch.setattr(ec, "embed_descriptions", embed)
    tiers = {tier: [_task(n, d, k) for n, d, k, _ in rows] for tier, rows in TIERS.items()}
    monkeypatch.setattr(ec, "load_tiers", lambda: tiers)
    evaluation = {"config": {"examples_per_task": 5, "seed": 0}, "by_tier": {
        tier: {"tasks": {n: {"family": "f", "n": k, "scores": {"t2l_sft": m}} for n, _, k, m in rows}}
        for tier, rows in TIERS.items()}}
    (tmp_path / "eval.json").write_text(json.dumps(evaluation))
    return tmp_path, evaluation, embedded


def test_expected_accuracy_is_averaged_over_the_evaluated_examples_and_compared_per_tier(synthetic):
    folder, _, embedded = synthetic
    result = ec.check_expected(folder, progress=False)
    assert sorted(embedded) == ["da", "db", "dc"]  # each distinct description embedded once, alone
    combo = result["tasks"]["new_combinations"]["suite:a+x"]
    assert [(d["text"], d["uses"]) for d in combo["descriptions"]] == [("da", 3), ("db", 2)]  # examples 0..4 -> i % 2
    assert combo["expected"] == pytest.approx((3 * 80 + 2 * 20) / 5, abs=0.01)  # 56, not the plain mean 50
    assert result["tasks"]["new_combinations"]["suite:b+x"]["descriptions"][0]["uses"] == 3
    assert combo["descriptions"][0]["from"][0]["task"] == "suite:a"
    constant = (80 + 20 + 0) / 3
    assert result["accuracy_json"]["mean"] == pytest.approx(constant, abs=0.01)
    groups = result["groups"]
    assert list(groups) == ["new_combinations", "heldout_tasks", "heldout_tasks (suite ops)",
                            "heldout_tasks (BIG-bench)", "seen_ops_new_descriptions"]
    assert [groups[g]["n"] for g in groups] == [3, 4, 2, 2, 3]
    assert groups["seen_ops_new_descriptions"]["in_sample"] and not groups["new_combinations"]["in_sample"]
    assert groups["seen_ops_new_descriptions"]["mae"] == pytest.approx(0.0, abs=0.01)  # its own scores
    assert groups["heldout_tasks (BIG-bench)"]["spearman"] is None  # both measured 20: undefined, not 0
    held = groups["heldout_tasks"]
    assert held["baseline"]["mae"] == pytest.approx(sum(abs(m - constant) for m in (40, 0, 20, 20)) / 4, abs=0.01)
    assert held["mae"] == pytest.approx((40 + 0 + 60 + 0) / 4, abs=0.01)  # expected 80, 0, 80, 20


def test_a_stale_eval_json_is_refused_and_main_writes_the_three_reports(synthetic, tmp_path):
    folder, evaluation, _ = synthetic
    out = tmp_path / "out"
    assert ec.main([str(folder), "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"expected_check.json", "expected_check.md", "expected_check.png"}
    text = (out / "expected_check.md").read_text()
    assert "## heldout_tasks (BIG-bench)" in text and "in-sample" in text and "| [50, 100] |" in text
    assert json.loads((out / "expected_check.json").read_text())["groups"]["new_combinations"]["n"] == 3
    evaluation["by_tier"]["heldout_tasks"]["tasks"]["bb2"]["n"] = 4
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps(evaluation))
    with pytest.raises(ValueError, match="heldout_tasks"):
        ec.check_expected(folder, stale, progress=False)


def test_variant_figures_reduce_to_the_current_one_and_shrink_towards_the_prior():
    from t2l import expected_variants as ev

    near = ((0.8, 60.0), (0.5, 0.0), (0.3, 20.0), (-0.2, 100.0), (0.1, 40.0))  # (similarity, accuracy), best first
    a = ev.current(near)
    assert a == pytest.approx((0.8 * 60 + 0.3 * 20) / 1.6, abs=1e-4)
    assert ev.pseudo_count(near, p=10.0, c=0.0, gamma=1.0, k=3) == pytest.approx(a, abs=1e-4)  # B(c=0) is A
    assert ev.pseudo_count(near, 10.0, 0.0, 0.0, 5) == pytest.approx((60 + 0 + 20 + 40) / 4)  # s <= 0 weighs 0
    assert ev.pseudo_count(((-0.1, 50.0),), 10.0, 0.0, 1.0, 3) == 10.0  # no weight at all: the prior
    previous = a
    for c in (0.01, 0.1, 1.0, 10.0, 1e6):  # more pseudo-count: monotonely closer to p, never past it
        got = ev.pseudo_count(near, 10.0, c, 1.0, 3)
        assert 10.0 <= got <= previous
        previous = got
    assert previous == pytest.approx(10.0, abs=1e-3)
    assert ev.coverage_shrink(a, score=0.4, p=10.0, s0=0.5) == 10.0 and ev.coverage_shrink(a, 1.0, 10.0, 0.5) == a
    assert ev.coverage_shrink(50.0, 0.75, 10.0, 0.5) == pytest.approx(30.0)  # half way: t = 0.25 / 0.5
    assert ev.linear_shrink(50.0, 10.0, 0.25) == 20.0


def test_fitting_sees_only_the_fitting_tier_and_recovers_a_known_shrink():
    from t2l import expected_variants as ev

    def case(name, a, measured, score=0.8):  # two descriptions, same neighbours: the current figure is a
        one = ev.Description(score, ((0.9, float(a)), (-0.1, 0.0)))
        return ev.Case(name, float(measured), (one, ev.Description(score, one.neighbours, uses=2)))

    fitting = [case(f"f{a}", a, 50 + 0.3 * (a - 50)) for a in (0, 20, 40, 60, 80, 100)]  # p = 50, beta = 0.3
    p, params = ev.fit(fitting, "D linear")
    assert p == pytest.approx(50.0) and params == {"beta": 0.3}
    assert ev.predict(fitting[:1], ev.VARIANTS["D linear"][0], p, params)[0] == pytest.approx(35.0, abs=1e-3)
    test = [case(f"t{a}", a, m, score=0.6) for a, m in ((10, 0), (90, 100), (50, 20))]
    moved = [ev.Case(c.name, 100 - c.measured, c.descriptions) for c in test]  # other test scores, same fit
    runs = [ev.compare_variants({"fit": fitting, "test": t}, {ev.LOO: test}, {"d": ("fit", "test")})
            for t in (test, moved)]
    first, second = (r["directions"]["d"]["variants"] for r in runs)
    for v in ev.VARIANTS:  # nothing fitted depends on the test tier; its scores do
        assert (first[v]["p"], first[v]["params"], first[v]["test"]["mean_predicted"]) == (
            second[v]["p"], second[v]["params"], second[v]["test"]["mean_predicted"])
    assert first["D linear"]["test"]["mae"] != second["D linear"]["test"]["mae"]
    assert first["p constant"]["test"]["mae_minus_constant_ci95"] == [0.0, 0.0]
    assert set(runs[0]["tasks"]["test"]["t10"]["d"]) == set(ev.VARIANTS)


def test_the_trained_tier_is_scored_leave_one_out_and_in_sample(synthetic):
    folder, _, _ = synthetic
    result = ec.check_expected(folder, progress=False)
    both = result["variants"]["directions"]["fit on both"]["variants"]["A current"]
    assert both["seen_ops_in_sample"]["mae"] == pytest.approx(0.0, abs=0.01)  # its own score is its figure
    loo = result["tasks"]["seen_ops_new_descriptions"]["suite:a"]["variants"]["fit on both"]["A current"]
    assert loo == pytest.approx((20 + 0) / 2, abs=0.01)  # without suite:a: b and c, both at similarity 0
    assert result["variants"]["directions"]["fit on heldout_tasks"]["test"] == "new_combinations"
    assert "## Variants of the figure" in ec.markdown(result)


def test_the_everyday_set_is_a_group_of_its_own_and_must_be_of_this_checkpoint(synthetic, tmp_path, monkeypatch):
    """--everyday: each task#wording's one description against its measured score; an evaluation of another
    checkpoint, or of another task set, is refused."""
    folder, _, embedded = synthetic
    everyday = [_task("everyday:p", ("da", "dc"), 4), _task("everyday:q", ("db", "da"), 4)]
    monkeypatch.setattr(ec, "load_everyday", lambda: everyday)
    checkpoint = ec.load_checkpoint(folder)
    scores = {"everyday:p#1": 75.0, "everyday:p#2": 0.0, "everyday:q#1": 25.0, "everyday:q#2": 50.0}
    evaluation = {"task_set": "everyday", "summary": {"t2l_sft": 37.5}, "inputs": {"sft": str(folder)},
                  "tasks": {n: {"family": "everyday", "n": 4, "scores": {"t2l_sft": m}} for n, m in scores.items()}}
    source = tmp_path / "everyday.json"
    source.write_text(json.dumps(evaluation))
    result = ec.check_expected(folder, progress=False)
    ec.check_everyday(result, checkpoint, source, progress=False)
    got = result["tasks"]["everyday"]
    assert {n: (r["expected"], r["measured"]) for n, r in got.items()} == {
        "everyday:p#1": (80.0, 75.0), "everyday:p#2": (0.0, 0.0), "everyday:q#1": (20.0, 25.0),
        "everyday:q#2": (80.0, 50.0)}  # da -> suite:a 80, db -> suite:b 20, dc -> suite:c 0
    group = result["groups"]["everyday"]
    assert group["n"] == 4 and not group["in_sample"] and group["mae"] == pytest.approx((5 + 0 + 5 + 30) / 4)
    assert "## everyday" in ec.markdown(result)
    out = tmp_path / "only"  # the everyday group alone, no tier read (a machine that builds other tiers)
    monkeypatch.setattr(ec, "load_tiers", lambda: pytest.fail("--everyday-only reads no tier"))
    assert ec.main([str(folder), "--everyday", str(source), "--everyday-only", "--out", str(out)]) == 0
    alone = json.loads((out / "expected_check_everyday.json").read_text())
    assert list(alone["groups"]) == ["everyday"] and alone["groups"]["everyday"]["mae"] == group["mae"]
    other = dict(evaluation, task_set="tiers")
    source.write_text(json.dumps(other))
    with pytest.raises(ValueError, match="everyday"):
        ec.check_everyday(result, checkpoint, source, progress=False)
    monkeypatch.setattr(ec, "load_checkpoint", lambda f: SimpleNamespace(digest="e" * 64))
    source.write_text(json.dumps(evaluation))
    with pytest.raises(ValueError, match="not this one"):
        ec.check_everyday(result, checkpoint, source, progress=False)
