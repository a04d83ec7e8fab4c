"""Importing reference checkpoints refuses what would fail late or be silently different, and embeds as the
reference does. Each case is built from the committed fixture (tests/fixtures/reference/, see
test_reference_parity.py): a key's shape changed, a file dropped, args.yaml edited."""

from __future__ import annotations

import json

import pytest
import torch

from hypernet import load_checkpoint
from hypernet.reference import ReferenceImportError, import_reference_checkpoint
from tests.test_reference_parity import write_hypermod


def _resize(sd, key, dim, size):
    """Zeros of `key`'s shape with axis `dim` resized (the stacks in the fixture are zero unless trained)."""
    shape = list(sd[key].shape)
    shape[dim] = size
    sd[key] = torch.zeros(shape)


# ---- 1. the task encoder's width is checked against the encoder's -----------------------------------------------
def test_task_encoder_of_another_width_than_the_encoder_is_refused(tmp_path, capsys):
    from t2l.cli import main

    def narrower(sd):
        sd["task_encoder.mlp.0.weight"] = sd["task_encoder.mlp.0.weight"][:, :15]

    hypermod = write_hypermod(tmp_path, "L", narrower)  # emb_model: a 16-d gte stand-in
    with pytest.raises(ReferenceImportError, match=r"task_encoder\.mlp\.0\.weight reads 15-d task embeddings, but "
                                                   r"the encoder gives 16-d \(emb_model .*gte-stand-in-16.*--args"):
        import_reference_checkpoint(hypermod, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    assert main(["checkpoint", "import-reference", str(hypermod), "--out", str(tmp_path / "bad")]) == 2
    assert "task_encoder.mlp.0.weight reads 15-d" in capsys.readouterr().err


def test_without_emb_model_the_base_llm_width_is_the_one(tmp_path):
    def empty(args):
        args["emb_model"] = ""

    # The fixture's 16-d embeddings are not the tiny Llama's 32-d hidden states: the reference would refuse this.
    with pytest.raises(ReferenceImportError, match=r"reads 16-d task embeddings, but the encoder gives 32-d "
                                                   r"\(emb_model is empty, so the base LLM embeds"):
        import_reference_checkpoint(write_hypermod(tmp_path / "a", "L", edit_args=empty), tmp_path / "bad")

    def hidden_wide(sd):
        sd["task_encoder.mlp.0.weight"] = torch.randn(8, 32)

    import_reference_checkpoint(write_hypermod(tmp_path / "b", "L", hidden_wide, empty), tmp_path / "ok")
    ckpt = load_checkpoint(tmp_path / "ok")
    assert (ckpt.config.embed_dim, ckpt.encoder, ckpt.embedding.pooling) == (32, "tiny-llama", "last_token")


def test_an_encoder_of_unknown_width_needs_embed_dim(tmp_path, capsys):
    from t2l.cli import main

    def unknown(args):
        args["emb_model"] = "test/gte-nowhere"

    hypermod = write_hypermod(tmp_path, "L", edit_args=unknown)
    with pytest.raises(ReferenceImportError, match="cannot tell how wide emb_model 'test/gte-nowhere'.*--embed-dim"):
        import_reference_checkpoint(hypermod, tmp_path / "bad")
    assert main(["checkpoint", "import-reference", str(hypermod), "--out", str(tmp_path / "bad"),
                 "--embed-dim", "17"]) == 2
    assert "reads 16-d task embeddings, but the encoder gives 17-d (--embed-dim)" in capsys.readouterr().err
    assert main(["checkpoint", "import-reference", str(hypermod), "--out", str(tmp_path / "ok"),
                 "--embed-dim", "16"]) == 0
    assert load_checkpoint(tmp_path / "ok").encoder == "test/gte-nowhere"


def test_the_published_encoder_width_is_known_and_an_embed_dim_cannot_contradict_it(tmp_path):
    def gte_large(args):
        args["emb_model"] = "Alibaba-NLP/gte-large-en-v1.5"

    hypermod = write_hypermod(tmp_path, "L", edit_args=gte_large)
    with pytest.raises(ReferenceImportError, match="reads 16-d task embeddings, but the encoder gives 1024-d"):
        import_reference_checkpoint(hypermod, tmp_path / "bad")
    with pytest.raises(ReferenceImportError, match="--embed-dim 16 contradicts the encoder's 1024-d"):
        import_reference_checkpoint(hypermod, tmp_path / "bad", embed_dim=16)


def test_an_emb_model_the_reference_cannot_pool_is_refused(tmp_path):
    def bge(args):
        args["emb_model"] = "BAAI/bge-large-en-v1.5"

    with pytest.raises(ReferenceImportError, match="emb_model 'BAAI/bge-large-en-v1.5': the reference sets a "
                                                   "pooling only for gte"):
        import_reference_checkpoint(write_hypermod(tmp_path, "L", edit_args=bge), tmp_path / "bad")


# ---- 2. per-module shapes the shared heads of M and S cannot vouch for ------------------------------------------
@pytest.mark.parametrize("name, key, dim, size", [
    ("M", "AB_offset.A.q_proj", 2, 31),   # in 31 < out 32: the head (r x max(in, out)) stays as wide
    ("S", "AB_offset.B.v_proj", 1, 15),   # out 15 < in 32
    ("M", "mean_recon_target.B.v_proj", 1, 15),
])
def test_a_stack_of_another_shape_is_refused_naming_it(tmp_path, name, key, dim, size):
    hypermod = write_hypermod(tmp_path, name, lambda sd: _resize(sd, key, dim, size))
    with pytest.raises(ReferenceImportError, match=rf"{key.replace('.', '[.]')} has shape .*{size}.*, while .* have "
                                                   r"\(3, .*base model's"):
        import_reference_checkpoint(hypermod, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_modules_that_disagree_on_the_hidden_size_are_refused(tmp_path):
    def narrower_q_in(sd):  # all three stacks agree, but q_proj and v_proj both read the hidden state
        for stack in ("AB_offset", "mean_recon_target", "std_recon_target"):
            _resize(sd, f"{stack}.A.q_proj", 2, 31)

    with pytest.raises(ReferenceImportError, match=r"AB_offset\.A\.v_proj gives 32, AB_offset\.A\.q_proj gives 31: "
                                                   r".*hidden size.*--base-config"):
        import_reference_checkpoint(write_hypermod(tmp_path, "M", narrower_q_in), tmp_path / "bad")


def test_a_rank_other_than_adapter_configs_is_refused(tmp_path):
    def rank_5(sd):  # S's heads are max(in, out) wide whatever the rank
        for stack in ("AB_offset", "mean_recon_target", "std_recon_target"):
            for module in ("q_proj", "v_proj"):
                _resize(sd, f"{stack}.A.{module}", 1, 5)
                _resize(sd, f"{stack}.B.{module}", 2, 5)

    with pytest.raises(ReferenceImportError, match=r"AB_offset\.A\.v_proj has shape \(3, 5, 32\): 3 layers of rank 5, "
                                                   r"expected 3 layers .* of rank 4 \(adapter_config\.json's r\)"):
        import_reference_checkpoint(write_hypermod(tmp_path, "S", rank_5), tmp_path / "bad")


# ---- 3. args.yaml and adapter_config.json: found where the reference keeps them, never defaulted ----------------
def test_without_args_yaml_the_import_is_refused_naming_where_it_looked(tmp_path, capsys):
    from t2l.cli import main

    hypermod = write_hypermod(tmp_path, "L")
    (hypermod.parent / "args.yaml").unlink()
    with pytest.raises(ReferenceImportError, match=rf"no args\.yaml found \(looked for {hypermod.parent}/args\.yaml\)"
                                                   r".*emb_model.*pass --args PATH"):
        import_reference_checkpoint(hypermod, tmp_path / "bad", base_model="tiny-llama")
    assert main(["checkpoint", "import-reference", str(hypermod), "--out", str(tmp_path / "bad"),
                 "--base-model", "tiny-llama"]) == 2
    assert "no args.yaml found" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    with pytest.raises(ReferenceImportError, match=r"--args .*nowhere\.yaml: no such file"):
        import_reference_checkpoint(hypermod, tmp_path / "bad", tmp_path / "nowhere.yaml")


def test_without_adapter_config_the_import_is_refused(tmp_path):
    hypermod = write_hypermod(tmp_path, "L")
    (hypermod.parent / "adapter_config.json").unlink()
    with pytest.raises(ReferenceImportError, match=r"no adapter_config\.json found .*lora_alpha.*pass "
                                                   r"--adapter-config PATH"):
        import_reference_checkpoint(hypermod, tmp_path / "bad", base_model="tiny-llama")


def test_args_yaml_without_the_keys_the_reference_reads_is_refused(tmp_path):
    def no_emb_model(args):
        del args["emb_model"]

    with pytest.raises(ReferenceImportError, match=r"args\.yaml lacks emb_model: the reference's loader"):
        import_reference_checkpoint(write_hypermod(tmp_path, "L", edit_args=no_emb_model), tmp_path / "bad")

    hypermod = write_hypermod(tmp_path / "b", "L")
    peft = json.loads((hypermod.parent / "adapter_config.json").read_text())
    del peft["lora_alpha"]
    (hypermod.parent / "adapter_config.json").write_text(json.dumps(peft))
    with pytest.raises(ReferenceImportError, match=r"adapter_config\.json lacks lora_alpha"):
        import_reference_checkpoint(hypermod, tmp_path / "bad")


def test_the_run_layout_finds_args_two_folders_up(tmp_path):
    hypermod = write_hypermod(tmp_path, "M", run_layout=True)  # <run>/checkpoints/it_7/hypermod.pt
    assert not (hypermod.parent / "args.yaml").exists()
    import_reference_checkpoint(hypermod, tmp_path / "ckpt")
    ckpt = load_checkpoint(tmp_path / "ckpt")
    assert ckpt.provenance["args_file"] == str(tmp_path / "M" / "args.yaml") and ckpt.config.variant == "M"
    assert ckpt.provenance["adapter_config_file"] == str(tmp_path / "M" / "adapter_config.json")


# ---- 4. the imported spec carries the reference's pre-processing ------------------------------------------------
class Recording:
    """A 16-d TaskEncoder that keeps what it was asked to embed."""

    name, dim = "recording", 16

    def __init__(self):
        self.seen: list[str] = []

    def embed(self, texts):
        self.seen += list(texts)
        return torch.ones(len(texts), 16)


def test_imported_checkpoint_embeds_and_keys_the_text_as_the_reference_does(tmp_path):
    from hypernet import generate_adapters, normalize_description

    import_reference_checkpoint(write_hypermod(tmp_path, "L"), tmp_path / "ckpt")
    ckpt = load_checkpoint(tmp_path / "ckpt")
    assert (ckpt.embedding.unicode_form, ckpt.embedding.collapse_whitespace) == ("none", False)
    raw = "  Ｓort the  ﬁles…\n"
    encoder = Recording()
    adapter, = generate_adapters(ckpt, encoder, [raw])
    assert encoder.seen == ["Ｓort the  ﬁles…"] == [adapter.metadata["description"]]  # stripped, nothing else
    assert normalize_description(raw, spec=ckpt.embedding) == "Ｓort the  ﬁles…"
    assert normalize_description(raw) == "Sort the files..."  # ours, for our checkpoints


# ---- 5. reconstruction flags the reference's own generation refuses ---------------------------------------------
def test_recon_flags_the_reference_cannot_generate_from_are_refused(tmp_path):
    def readme_flags(args):  # the reference README's reconstruction command
        args.update(factorized=False, pred_z_score=True)

    hypermod = write_hypermod(tmp_path / "a", "M_recon_zscore", edit_args=readme_flags)
    with pytest.raises(ReferenceImportError, match=r"factorized false and pred_z_score true: the reference's own "
                                                   r"generation refuses.*pass --args .*pred_z_score: false"):
        import_reference_checkpoint(hypermod, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()

    def as_delta_w(args):  # what the refusal asks for: the run read as the delta W it was fitted to
        args.update(factorized=False, pred_z_score=False)

    import_reference_checkpoint(write_hypermod(tmp_path / "b", "M_recon_zscore", edit_args=as_delta_w),
                                tmp_path / "ok")
    assert load_checkpoint(tmp_path / "ok").config.recon_mode == "scaled"
