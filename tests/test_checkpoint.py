import hashlib
import json
from pathlib import Path

import pytest
import torch

from hypernet import (CheckpointError, Coverage, DescriptionIndex, Neighbour, generate_adapters, load_checkpoint,
                      save_checkpoint, write_description_index)
from hypernet.checkpoint import META_FILE, WEIGHTS_FILE
from hypernet.description_index import DEFAULT_THRESHOLD, INDEX_FILE
from tests.helpers import HashingEncoder, tiny_hypernet, tiny_llama, tiny_llama_config

TASKS = ["Answer with the antonym of the given word.", "Count the vowels in the word."]


def _saved(tmp_path, **kw):
    net = tiny_hypernet(tiny_llama(), head_noise=0.05, **kw)
    digest = save_checkpoint(tmp_path / "ckpt", net, "tiny-llama", "test/hashing", provenance={"steps": 0})
    return net, digest, tmp_path / "ckpt"


def test_round_trip_gives_identical_adapters_without_a_base_model(tmp_path):
    net, digest, folder = _saved(tmp_path, variant="M")
    ckpt = load_checkpoint(folder)
    assert ckpt.digest == digest and ckpt.base_model == "tiny-llama" and ckpt.encoder == "test/hashing"
    assert ckpt.config == net.config and ckpt.targets == net.targets and ckpt.provenance == {"steps": 0}
    emb = HashingEncoder().embed(TASKS)
    with torch.no_grad():
        want = net(emb)
    got = generate_adapters(ckpt, HashingEncoder(), TASKS)
    for i, adapter in enumerate(got):
        assert adapter.metadata["checkpoint_digest"] == digest
        for x, y in zip(adapter.a + adapter.b, [a[i] for a in want.a] + [b[i] for b in want.b]):
            assert torch.equal(x, y)


def test_frozen_offset_and_centre_travel_with_the_checkpoint(tmp_path):
    """The shipped recipe (suite.yaml): no head bias, a frozen multi-task LoRA offset, a task centre. Both are
    buffers, so the loaded checkpoint must regenerate the same adapters with no offset folder at hand."""
    from hypernet import Adapter

    net = tiny_hypernet(tiny_llama(), head_noise=0.05, ab_offset=True, head_use_bias=False)
    g = torch.Generator().manual_seed(1)
    net.set_offset(Adapter(net.targets, tuple(torch.randn(8, t.in_features, generator=g) for t in net.targets),
                           tuple(torch.randn(t.out_features, 8, generator=g) for t in net.targets), 8, 16.0, True,
                           "tiny"))
    net.set_task_center(torch.randn(16, generator=g))
    save_checkpoint(tmp_path / "ckpt", net, "tiny-llama", "test/hashing", provenance={"steps": 0})
    ckpt = load_checkpoint(tmp_path / "ckpt")
    assert ckpt.config.ab_offset and not ckpt.config.head_use_bias
    with torch.no_grad():
        want = net(HashingEncoder().embed(TASKS))
    got = generate_adapters(ckpt, HashingEncoder(), TASKS)
    for i, adapter in enumerate(got):
        for x, y in zip(adapter.a + adapter.b, [a[i] for a in want.a] + [b[i] for b in want.b]):
            assert torch.equal(x, y)
    blank = tiny_hypernet(tiny_llama(), head_noise=0.05, ab_offset=True, head_use_bias=False)
    with torch.no_grad():  # the same heads without the offset give other adapters: the offset really came back
        assert not torch.equal(blank(HashingEncoder().embed(TASKS)).b[0], want.b[0])


def test_digest_depends_on_weights_and_config(tmp_path):
    net, digest, _ = _saved(tmp_path)
    assert save_checkpoint(tmp_path / "again", net, "tiny-llama", "test/hashing", {"steps": 0}) == digest
    assert save_checkpoint(tmp_path / "other", net, "tiny-llama", "test/hashing", {"steps": 1}) != digest
    with torch.no_grad():
        net.task_encoder.mlp[0].bias.add_(1e-3)
    assert save_checkpoint(tmp_path / "moved", net, "tiny-llama", "test/hashing", {"steps": 0}) != digest


def test_half_precision_checkpoint_loads(tmp_path):
    net = tiny_hypernet(tiny_llama(), head_noise=0.05)
    save_checkpoint(tmp_path / "half", net, "tiny-llama", "test/hashing", dtype="bfloat16")
    ckpt = load_checkpoint(tmp_path / "half")
    w = ckpt.model.heads["q_proj"].weight
    assert w.dtype == torch.float32
    torch.testing.assert_close(w, net.heads["q_proj"].weight.detach(), rtol=1e-2, atol=1e-3)


def test_tampered_or_missing_checkpoint_is_refused(tmp_path):
    _, _, folder = _saved(tmp_path)
    raw = bytearray((folder / WEIGHTS_FILE).read_bytes())
    raw[-1] ^= 0x01
    (folder / WEIGHTS_FILE).write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="digest mismatch"):
        load_checkpoint(folder)
    with pytest.raises(CheckpointError, match="not a t2l checkpoint"):
        load_checkpoint(tmp_path / "nowhere")
    (folder / META_FILE).write_text("{broken")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(folder)


def test_wrong_base_model_is_refused_with_the_difference(tmp_path):
    _, _, folder = _saved(tmp_path)
    ckpt = load_checkpoint(folder)
    ckpt.check_base_model(tiny_llama_config())  # the right one passes
    with pytest.raises(CheckpointError, match=r"made for 'tiny-llama'.*v_proj.*32->16.*32->32"):
        ckpt.check_base_model(tiny_llama_config(num_key_value_heads=4))
    with pytest.raises(CheckpointError, match="4 target layers expected, the model has 6"):
        ckpt.check_base_model(tiny_llama_config(num_hidden_layers=3))


def test_encoder_width_mismatch_is_named(tmp_path):
    _, _, folder = _saved(tmp_path)
    with pytest.raises(ValueError, match="gives 8-d embeddings; the checkpoint expects 16-d"):
        generate_adapters(load_checkpoint(folder), HashingEncoder(dim=8), TASKS)


def test_meta_is_readable_json(tmp_path):
    _, digest, folder = _saved(tmp_path)
    meta = json.loads((folder / META_FILE).read_text())
    assert meta["digest"] == digest and meta["encoder"] == {
        "name": "test/hashing", "dim": 16, "pooling": "mean", "add_full_stop": False, "normalize": "l2",
        "backend": "sentence-transformers", "unicode_form": "NFKC", "collapse_whitespace": True}
    assert meta["peft_key_template"] == "base_model.model.{path}.lora_{AB}.weight"
    assert len(meta["targets"]) == 4 and meta["config"]["variant"] == "L"


def test_checkpoint_of_an_older_architecture_is_refused_clearly(tmp_path):
    _, _, folder = _saved(tmp_path)
    meta = json.loads((folder / META_FILE).read_text())
    meta["config"].update({"hidden": 256, "n_blocks": 2})
    from hypernet.checkpoint import _digest

    meta["digest"] = _digest((folder / WEIGHTS_FILE).read_bytes(), meta)
    (folder / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"unknown HyperConfig fields: \['hidden', 'n_blocks'\].*retrained"):
        load_checkpoint(folder)


# ---- description index (the description-quality signal) ---------------------------------------------------------
INDEXED = {"antonym": ["Answer with the antonym of the given word.", "Give the opposite of this word."],
           "vowels": ["Count the vowels in the word.", "How many vowels does this word have?"],
           "plural": ["Write the plural of the noun.", "Give the plural form of this noun."]}


def _index_rows():
    names = [task for task, texts in INDEXED.items() for _ in texts]
    texts = [t for texts in INDEXED.values() for t in texts]
    return names, texts, HashingEncoder().embed(texts)


def test_checkpoint_without_description_index_loads_with_the_signal_unavailable(tmp_path):
    _, digest, folder = _saved(tmp_path)
    ckpt = load_checkpoint(folder)
    assert ckpt.description_index is None and ckpt.digest == digest
    assert "description_index" not in json.loads((folder / META_FILE).read_text())


def test_description_index_is_in_the_digest_and_checked_on_load(tmp_path):
    _, digest, folder = _saved(tmp_path)
    names, texts, emb = _index_rows()
    new_digest = write_description_index(folder, names, emb, threshold=0.7)
    meta = json.loads((folder / META_FILE).read_text())
    assert new_digest != digest and meta["digest"] == new_digest and meta["description_index"]["rows"] == len(texts)
    ckpt = load_checkpoint(folder)
    assert ckpt.digest == new_digest and ckpt.description_index.threshold == 0.7
    assert sorted(ckpt.description_index.tasks) == sorted(INDEXED)
    # other rows (or another threshold) -> another digest
    assert write_description_index(folder, names[:-1], emb[:-1], threshold=0.7) not in (digest, new_digest)
    write_description_index(folder, names, emb, threshold=0.7)
    assert load_checkpoint(folder).digest == new_digest  # same content, same digest
    raw = bytearray((folder / INDEX_FILE).read_bytes())
    raw[-3] ^= 0x01
    (folder / INDEX_FILE).write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(folder)
    assert load_checkpoint(folder, description_index=False).description_index is None  # tools that rewrite it
    (folder / INDEX_FILE).unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(folder)


def test_index_written_before_the_weights_is_picked_up_by_save(tmp_path):
    names, texts, emb = _index_rows()
    folder = tmp_path / "ckpt"
    assert write_description_index(folder, names, emb) is None  # no checkpoint yet: the file waits for save
    net = tiny_hypernet(tiny_llama(), head_noise=0.05)
    digest = save_checkpoint(folder, net, "tiny-llama", "test/hashing")
    ckpt = load_checkpoint(folder)
    assert ckpt.digest == digest and len(ckpt.description_index) == len(texts)
    assert ckpt.description_index.threshold == DEFAULT_THRESHOLD


def test_index_of_the_wrong_width_is_refused(tmp_path):
    _, _, folder = _saved(tmp_path)
    with pytest.raises(CheckpointError, match="16-d"):
        write_description_index(folder, ["a", "b"], torch.randn(2, 8))


def test_coverage_puts_a_training_description_nearest_itself_and_noise_out_of_distribution(tmp_path):
    _, _, folder = _saved(tmp_path)
    names, texts, emb = _index_rows()
    write_description_index(folder, names, emb, threshold=0.6)
    index = load_checkpoint(folder).description_index
    own = index.coverage(HashingEncoder().embed(texts))
    for name, cov in zip(names, own):
        assert cov.nearest[0].task == name and cov.score > 0.99 and cov.in_distribution
        assert len(cov.nearest) == 3 and len({n.task for n in cov.nearest}) == 3
        assert [n.similarity for n in cov.nearest] == sorted((n.similarity for n in cov.nearest), reverse=True)
    noise = index.coverage(HashingEncoder().embed(["qzx vvk plm", "zzzz wq jj kk"]))
    assert all(not c.in_distribution and c.score < 0.6 for c in noise)
    assert Coverage.from_dict(own[0].to_dict()) == Coverage(round(own[0].score, 4), 0.6,
                                                            tuple(Neighbour(n.task, round(n.similarity, 4))
                                                                  for n in own[0].nearest))


def test_coverage_centres_like_the_model(tmp_path):
    """With a task_center, similarities are cosines of centred vectors: a description sharing only the centre's
    direction with the rows is not close to them."""
    names, _, emb = _index_rows()
    center = emb.mean(0)
    index = DescriptionIndex(names, emb, 0.5, center=center)
    plain = DescriptionIndex(names, emb, 0.5)
    query = center[None] * 3 + 1e-4 * torch.randn(1, 16, generator=torch.Generator().manual_seed(0))
    assert plain.scores(query)[0] > 0.5 and abs(float(index.scores(query)[0])) < 0.5
    shifted = (emb - center) / (emb - center).norm(dim=-1, keepdim=True)
    torch.testing.assert_close(index.similarities(emb), shifted @ shifted.T, atol=1e-5, rtol=0)


SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "t2l-smollm2-135m-sft-L"


def test_shipped_checkpoint_places_its_training_description_in_and_a_random_string_out_of_distribution():
    """The shipped index (written by `t2l checkpoint index`) with the real encoder: a training description of
    suite:state.abbr finds itself; a random string is below the threshold."""
    from hypernet import make_encoder
    from ground.assets import prepare_encoder
    from training.suite.build import build_registry

    ckpt = load_checkpoint(SHIPPED)
    index = ckpt.description_index
    assert index is not None, "run `t2l checkpoint index checkpoints/t2l-smollm2-135m-sft-L`"
    meta = json.loads((SHIPPED / META_FILE).read_text())
    assert meta["description_index"]["sha256"] == hashlib.sha256((SHIPPED / INDEX_FILE).read_bytes()).hexdigest()
    op = next(o for o in build_registry(("ops_countries",), with_bigbench=False).ops if o.name == "state.abbr")
    encoder = make_encoder(prepare_encoder(ckpt.encoder), ckpt.embedding)
    own, noise = index.coverage(encoder.embed([op.train[1], "xq9 vvl0 pz8k qqj 77w"]))
    assert own.nearest[0].task == "suite:state.abbr" and own.score > 0.99 and own.in_distribution
    assert not noise.in_distribution and noise.score < index.threshold


@pytest.mark.slow  # the real task library through MiniLM, calibration and a plot: ~100 s on 2 cores
def test_index_command_writes_index_plot_and_report_and_restamps_the_digest(tmp_path, capsys):
    """`t2l checkpoint index` end to end on a small checkpoint trained (per its provenance) on two suite ops: real
    encoder, real task library, calibration, plot; the checkpoint then loads with the index its digest covers."""
    from hypernet import HyperConfig, HyperLoRA, targets_from_model
    from t2l.cli import main
    from training.coverage import COVERAGE_JSON, COVERAGE_PNG

    torch.manual_seed(0)
    config = HyperConfig(embed_dim=384, latent_size=16, head_in_size=32)
    net = HyperLoRA(config, targets_from_model(tiny_llama(), config.target_modules))
    folder = tmp_path / "ckpt"
    provenance = {"tasks": {"train": ["suite:state.abbr", "suite:word.plural"]}, "config": {"suite_combos": True}}
    before = save_checkpoint(folder, net, "tiny-llama", "sentence-transformers/all-MiniLM-L6-v2", provenance)
    assert main(["checkpoint", "index", str(folder), "--batch-size", "128"]) == 0
    printed = json.loads(capsys.readouterr().out)
    report = json.loads((folder / COVERAGE_JSON).read_text())
    ckpt = load_checkpoint(folder)
    assert printed["digest"] == ckpt.digest != before and (folder / COVERAGE_PNG).stat().st_size > 10_000
    assert sorted(ckpt.description_index.tasks) == ["suite:state.abbr", "suite:word.plural"]
    assert ckpt.description_index.threshold == report["threshold"] == printed["threshold"]
    assert 0 < report["threshold"] < 1 and report["tpr"] > 0.5 and report["fpr"] < 0.5
    assert {"random strings", "unrelated sentences", "seen ops, new wordings"} <= set(report["groups"])
    again = main(["checkpoint", "index", str(folder), "--no-plot"])  # re-running gives the same file and digest
    assert again == 0 and load_checkpoint(folder).digest == ckpt.digest


def test_index_from_another_checkpoint_needs_the_same_encoder_tasks_and_centre(tmp_path, capsys):
    """`t2l checkpoint index CKPT --from OTHER`: the same run at another step takes OTHER's rows and threshold (no
    task library needed); a checkpoint trained on other tasks, or centred differently, is refused."""
    from t2l.cli import main

    names, _, emb = _index_rows()
    net = tiny_hypernet(tiny_llama())
    net.set_task_center(torch.randn(net.config.embed_dim, generator=torch.Generator().manual_seed(1)))
    run = {"config": {"data": "suite", "split": "default", "suite_combos": True, "train_tasks": [],
                      "bigbench_share": 0.1}}
    save_checkpoint(tmp_path / "step-800", net, "tiny", "test/hashing", run)
    write_description_index(tmp_path / "step-800", names, emb, threshold=0.61)
    later = save_checkpoint(tmp_path / "step-2300", net, "tiny", "test/hashing", run, dtype="float16")
    assert main(["checkpoint", "index", str(tmp_path / "step-2300"), "--from", str(tmp_path / "step-800")]) == 0
    printed = json.loads(capsys.readouterr().out)
    source, reused = load_checkpoint(tmp_path / "step-800"), load_checkpoint(tmp_path / "step-2300")
    assert printed["digest"] == reused.digest != later and printed["threshold"] == 0.61
    assert reused.description_index.tasks == source.description_index.tasks
    torch.testing.assert_close(reused.description_index.embeddings, source.description_index.embeddings)
    assert reused.description_index.threshold == 0.61

    other_tasks = {"config": {**run["config"], "bigbench_share": 0.0}}  # no BIG-bench: no mc ops either
    save_checkpoint(tmp_path / "suite-only", net, "tiny", "test/hashing", other_tasks)
    assert main(["checkpoint", "index", str(tmp_path / "suite-only"), "--from", str(tmp_path / "step-800")]) == 2
    assert "trained on different tasks" in capsys.readouterr().err
    net.set_task_center(torch.zeros(net.config.embed_dim))
    save_checkpoint(tmp_path / "uncentred", net, "tiny", "test/hashing", run)
    assert main(["checkpoint", "index", str(tmp_path / "uncentred"), "--from", str(tmp_path / "step-800")]) == 2
    assert "task_center" in capsys.readouterr().err
    assert load_checkpoint(tmp_path / "uncentred").description_index is None  # nothing written


def test_expected_accuracy_is_the_weighted_mean_of_the_nearest_measured_tasks(tmp_path):
    """accuracy.json beside the index: a query's expected accuracy comes from its nearest *measured* tasks,
    weighted by similarity; without the file it is None; a bad file is refused."""
    import json

    import pytest
    import torch

    from hypernet import DescriptionIndex, DescriptionIndexError, read_accuracy, write_accuracy

    rows = torch.eye(4)  # four tasks, orthogonal descriptions
    index = DescriptionIndex(["a", "b", "c", "d"], rows)
    query = torch.tensor([[1.0, 0.6, 0.0, 0.0]])  # nearest a (0.857), then b (0.514)
    assert index.coverage(query)[0].expected is None
    write_accuracy(tmp_path, {"a": 80.0, "b": 20.0, "zzz": 50.0}, {"eval": "test"})
    index.set_accuracy(read_accuracy(tmp_path))
    assert "zzz" not in index.accuracy
    got = index.coverage(query, k=2)[0]
    sa, sb = 1 / (1.36 ** 0.5), 0.6 / (1.36 ** 0.5)
    assert got.expected.exact == pytest.approx((sa * 80 + sb * 20) / (sa + sb), rel=1e-4)
    assert [n.task for n in got.expected.tasks] == ["a", "b"]
    index.set_accuracy({"c": 10.0})  # only a far task is measured: it is still the one used, and says how far
    far = index.coverage(query)[0].expected
    assert far.exact == pytest.approx(10.0) and far.tasks[0].task == "c" and far.tasks[0].similarity < 0.01
    assert index.coverage(query)[0].to_dict()["expected_accuracy"]["from"][0]["task"] == "c"
    (tmp_path / "accuracy.json").write_text(json.dumps({"format": "other", "tasks": {}}))
    with pytest.raises(DescriptionIndexError, match="format"):
        read_accuracy(tmp_path)
    with pytest.raises(DescriptionIndexError, match="percentages"):
        write_accuracy(tmp_path, {"a": 180.0}, {})


def test_accuracy_file_is_in_the_digest_and_checked_on_load(tmp_path):
    """accuracy.json changes the digest (adapters cached under the old one never show old figures) and a file edited
    after it was recorded is refused; the expected accuracy reaches Coverage through load_checkpoint."""
    import pytest
    import torch

    from hypernet import write_task_accuracy

    _, digest, folder = _saved(tmp_path)
    names, _, rows = _index_rows()
    write_description_index(folder, names, rows)
    indexed = load_checkpoint(folder)
    assert indexed.description_index.coverage(rows[:1])[0].expected is None
    task = indexed.description_index.tasks[0]
    new = write_task_accuracy(folder, {task: 75.0}, {"eval": "test"})
    ckpt = load_checkpoint(folder)
    assert new not in (digest, indexed.digest) and ckpt.digest == new
    assert ckpt.description_index.coverage(rows[:1])[0].expected.exact == pytest.approx(75.0)
    (folder / "accuracy.json").write_text((folder / "accuracy.json").read_text().replace("75.0", "95.0"))
    with pytest.raises(CheckpointError, match="accuracy.json"):
        load_checkpoint(folder)
    assert torch.equal(ckpt.description_index.embeddings, indexed.description_index.embeddings)
