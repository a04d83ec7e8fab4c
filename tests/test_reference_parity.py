"""Parity with the reference implementation (SakanaAI/text-to-lora, commit 8ba7749, `HyperModulator`).

How tests/fixtures/reference/ was produced (once, outside this project; only the data is committed):
  - `git archive` of the reference's src/ at 8ba7749 on PYTHONPATH, with the reference's own pins of
    transformers 4.46.2, peft 0.13.2, tokenizers 0.20.3, huggingface_hub 0.26.5 installed into a separate
    --target folder ahead of ours (torch 2.13 CPU); evaluation-only imports the module never calls
    (torchmetrics, wandb, pandas, vllm, ...) answered by empty stand-in modules. PYTHONHASHSEED=0.
  - A tiny in-process LlamaForCausalLM (hidden 32, 3 layers, 4 heads / 2 KV heads: q_proj 32->32, v_proj 32->16)
    wrapped in peft.PeftModel(LoraConfig(r=4, lora_alpha=8, use_rslora=True, target_modules=[q_proj, v_proj])).
  - For each case, `HyperModulator(model, "lora", module_names, ...)` with task_emb_size 16, latent_size 16,
    head_in_size 24 and the arguments `create_hypermod` derives from the run's args (SFT: zero_init_head, and
    match_lora_init + head bias without a multi-task LoRA; recon: default head init, factorized, pred_z_score):
        L (neither flag), M (shared_AB_head), S (shared_AB_head + autoreg_gen, rotary rank positions),
        S_learned_pos (+ learnable_pos_emb), L_mt_offset (random AB_offset, no head bias),
        M_recon_zscore (recon with random mean/std reconstruction targets).
  - init_state_dict.safetensors: the state dict as constructed; state_dict.safetensors: the same after adding
    N(0, 0.05) noise to every trainable tensor (so every part of the network reaches the output).
  - io.safetensors: 3 task embeddings (random, L2-normalised x sqrt(16), the reference's embedding scale), and
    for both state dicts `gen_lora(layer_indices, task_encoder(emb)[i:i+1])` per task under
    "<init|trained>.task<i>.<PEFT key>"; plus each module's lora_A init from the PeftModel (`peft_init.*`),
    from which the reference built its head bias.
  - L/save_lora/: the reference's `save_lora(gen_lora(...task 0...), peft_config, dir)` folder.
  - module_order.json: `list(hyp.module_to_int)`, the module-type order (peft keeps target_modules as a set; its
    order follows string hashing, hence PYTHONHASHSEED). args.yaml / adapter_config.json: what a run records.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from hypernet import Adapter, load_checkpoint
from hypernet.model import lora_init_bias
from hypernet.reference import (ReferenceImportError, config_from_reference, import_reference,
                                import_reference_checkpoint, module_order)

FIXTURES = Path(__file__).parent / "fixtures" / "reference"
CASES = ["L", "M", "S", "S_learned_pos", "L_mt_offset", "M_recon_zscore"]


def _case(name: str):
    import yaml

    folder = FIXTURES / name
    return (folder, yaml.safe_load((folder / "args.yaml").read_text()),
            json.loads((folder / "adapter_config.json").read_text()),
            json.loads((folder / "module_order.json").read_text()),
            load_file(str(folder / "io.safetensors")))


def _assert_matches(lora, io, which: str) -> None:
    for i, t in enumerate(lora.targets):
        for n in range(lora.size):
            key = f"{which}.task{n}.base_model.model.{t.path}.lora_"
            torch.testing.assert_close(lora.a[i][n], io[key + "A.weight"], rtol=0, atol=1e-5)
            torch.testing.assert_close(lora.b[i][n], io[key + "B.weight"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("which", ["trained", "init"])
def test_generated_A_and_B_equal_the_reference(name, which):
    folder, args, peft, order, io = _case(name)
    state = load_file(str(folder / ("state_dict.safetensors" if which == "trained" else "init_state_dict.safetensors")))
    net = import_reference(state, args, peft, modules=order)
    with torch.no_grad():
        lora = net(io["task_emb"])  # all 3 tasks in one pass; the reference ran them one at a time
    assert lora.size == 3 and len(lora.targets) == 6
    _assert_matches(lora, io, which)


@pytest.mark.parametrize("name", ["L", "M", "S", "S_learned_pos"])
def test_our_sft_init_rule_gives_the_reference_head_bias(name):
    folder, args, peft, order, io = _case(name)
    init = load_file(str(folder / "init_state_dict.safetensors"))
    config = config_from_reference(init, args, peft, order)
    for module in order:
        d_out = init[f"AB_offset.B.{module}"].shape[1]
        assert float(init[f"heads.{module}.weight"].abs().max()) == 0.0
        want = lora_init_bias(config.variant, io[f"peft_init.{module}.lora_A"], d_out)
        torch.testing.assert_close(init[f"heads.{module}.bias"], want, rtol=0, atol=1e-7)


def test_config_read_from_args_and_shapes():
    expect = {"L": ("L", True, False, "none"), "M": ("M", True, False, "none"), "S": ("S", True, False, "none"),
              "S_learned_pos": ("S", True, False, "none"), "L_mt_offset": ("L", False, True, "none"),
              "M_recon_zscore": ("M", False, False, "zscore")}
    for name, (variant, bias, offset, recon) in expect.items():
        folder, args, peft, order, _ = _case(name)
        state = load_file(str(folder / "state_dict.safetensors"))
        for given in (args, {}):  # with args.yaml, and from the shapes alone
            c = config_from_reference(state, given, peft, order)
            assert (c.variant, c.head_use_bias, c.latent_size, c.head_in_size, c.embed_dim, c.rank) == \
                (variant, bias, 16, 24, 16, 4), (name, given)
            assert c.alpha == 8.0 and c.use_rslora
            if given:
                assert (c.ab_offset, c.recon_mode) == (offset, recon), name
                assert c.learnable_pos_emb == (name == "S_learned_pos")


def gte_stand_in(tmp_path, width: int = 16) -> Path:
    """A local emb_model folder whose config.json says `width`: the import reads the encoder's width from it."""
    folder = tmp_path / f"gte-stand-in-{width}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"hidden_size": width}))
    return folder


def write_hypermod(tmp_path, name, mutate=None, edit_args=None, run_layout=False) -> Path:
    """The fixture as the reference saves it: torch.save(state_dict) with the heads in training order, args.yaml and
    adapter_config.json beside it (the hub's layout) or, with run_layout, in <run>/ for <run>/checkpoints/it_7/.
    args.yaml's emb_model becomes a 16-d gte stand-in: the fixture's task embeddings are 16-d random vectors, while
    its recorded emb_model '' would mean the tiny Llama's own 32-d hidden states (the reference's loader would refuse
    it as recorded). `edit_args(args)` changes args.yaml's dict in place before it is written."""
    import yaml

    folder, args, peft, order, _ = _case(name)
    state = load_file(str(folder / "state_dict.safetensors"))
    ordered = OrderedDict((k, state[k]) for k in sorted(state, key=lambda k: (
        k.startswith("heads."), order.index(k.split(".")[1]) if k.startswith("heads.") else 0, k)))
    if mutate:
        mutate(ordered)
    args["emb_model"] = str(gte_stand_in(tmp_path))
    if edit_args:
        edit_args(args)
    run = tmp_path / name
    out = run / "checkpoints" / "it_7" if run_layout else run
    out.mkdir(parents=True)
    torch.save(ordered, out / "hypermod.pt")
    (run / "args.yaml").write_text(yaml.safe_dump(args))
    (run / "adapter_config.json").write_text((folder / "adapter_config.json").read_text())
    return out / "hypermod.pt"




def test_imported_checkpoint_writes_the_reference_peft_folder(tmp_path):
    hypermod = write_hypermod(tmp_path, "L")
    assert module_order(torch.load(hypermod, weights_only=True)) == ["v_proj", "q_proj"]
    digest = import_reference_checkpoint(hypermod, tmp_path / "ckpt")
    ckpt = load_checkpoint(tmp_path / "ckpt")
    assert ckpt.digest == digest and ckpt.base_model == "tiny-llama"
    assert ckpt.provenance["imported_from"] == "SakanaAI/text-to-lora"
    assert ckpt.provenance["module_order"] == ["v_proj", "q_proj"] and len(ckpt.provenance["source_sha256"]) == 64
    assert ckpt.embedding.pooling == "cls" and ckpt.embedding.normalize == "l2_sqrt_d"  # a gte emb_model
    assert ckpt.embedding.add_full_stop
    io = load_file(str(FIXTURES / "L" / "io.safetensors"))
    with torch.no_grad():
        adapter = Adapter.from_batch(ckpt.model(io["task_emb"][:1]), ckpt.base_model)[0]
    ours = load_file(str(adapter.to_peft(tmp_path / "adapter") / "adapter_model.safetensors"))
    theirs = load_file(str(FIXTURES / "L" / "save_lora" / "adapter_model.safetensors"))
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        torch.testing.assert_close(ours[key], theirs[key], rtol=0, atol=1e-5)
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    ref_config = json.loads((FIXTURES / "L" / "save_lora" / "adapter_config.json").read_text())
    for field in ("r", "lora_alpha", "use_rslora", "peft_type"):
        assert config[field] == ref_config[field]
    assert sorted(config["target_modules"]) == sorted(ref_config["target_modules"])


def test_wrong_shape_or_stray_key_is_refused_naming_the_key(tmp_path):
    def shrink(sd):
        sd["mlp2.mlp.1.weight"] = sd["mlp2.mlp.1.weight"][:-1]

    with pytest.raises(ReferenceImportError, match=r"key 'mlp2\.mlp\.1\.weight' has shape \(63, 16\), "
                                                   r"expected \(64, 16\)"):
        import_reference_checkpoint(write_hypermod(tmp_path, "M", shrink), tmp_path / "bad")
    assert not (tmp_path / "bad").exists()

    def drop(sd):
        del sd["out_emb_norm.weight"]

    with pytest.raises(ReferenceImportError, match="missing key 'out_emb_norm.weight'"):
        import_reference_checkpoint(write_hypermod(tmp_path, "S", drop), tmp_path / "bad")

    def stray(sd):
        sd["mlp4.weight"] = torch.zeros(2)

    with pytest.raises(ReferenceImportError, match="unexpected key 'mlp4.weight'"):
        import_reference_checkpoint(write_hypermod(tmp_path, "L", stray), tmp_path / "bad")


def test_cli_import_and_info(tmp_path, capsys):
    from t2l.cli import main

    hypermod = write_hypermod(tmp_path, "S")
    assert main(["checkpoint", "import-reference", str(hypermod), "--out", str(tmp_path / "ckpt")]) == 0
    capsys.readouterr()
    assert main(["checkpoint", "info", str(tmp_path / "ckpt")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["origin"].startswith("imported from SakanaAI/text-to-lora")
    assert info["config"]["variant"] == "S" and info["encoder"]["pooling"] == "cls"

    def shrink(sd):
        sd["heads.q_proj.weight"] = sd["heads.q_proj.weight"][:, :-1]

    bad = write_hypermod(tmp_path, "L", shrink)
    assert main(["checkpoint", "import-reference", str(bad), "--out", str(tmp_path / "bad")]) == 2
    assert "heads.q_proj.weight" in capsys.readouterr().err
