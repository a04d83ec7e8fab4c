"""HFEngine: batched per-sample-adapter decoding equals transformers+peft greedy decoding one at a time."""

from __future__ import annotations

import asyncio

import pytest
import torch

from hypernet import generate_adapters, load_checkpoint
from server.engines.base import SamplingSpec
from server.engines.hf_engine import HFEngine
from tests.helpers import HashingEncoder

pytestmark = pytest.mark.slow  # the real SmolLM2 tokenizer (tiny_base) and transformers decoding
PROMPTS = ["The capital of France is", "One, two, three,", "hello"]


@pytest.fixture(scope="module")
def adapters(tiny_checkpoint):
    ckpt = load_checkpoint(tiny_checkpoint)
    return generate_adapters(ckpt, HashingEncoder(dim=384), ["First task.", "Second task."])


async def _collect(engine, ids, spec, adapter_id):
    parts, last = [], None
    async for delta in engine.generate(ids, spec, adapter_id):
        parts.append(delta.text)
        last = delta
    return "".join(parts), last


def test_batch_with_mixed_adapters_equals_peft_one_by_one(tiny_base, adapters, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    prompts = [tokenizer(p)["input_ids"] for p in PROMPTS]
    spec = SamplingSpec(max_tokens=8)
    plan = [("a0", 0), ("a1", 1), (None, 2)]  # two adapters and the base model in one batch

    async def go():
        engine = HFEngine(str(tiny_base), window_ms=50)
        await engine.start()
        await engine.ensure_loaded("a0", adapters[0])
        await engine.ensure_loaded("a1", adapters[1])
        results = await asyncio.gather(*(_collect(engine, prompts[i], spec, a) for a, i in plan))
        await engine.close()
        return results

    results = asyncio.run(go())
    for (adapter_id, i), (text, last) in zip(plan, results):
        base = AutoModelForCausalLM.from_pretrained(tiny_base).eval()
        model = base if adapter_id is None else PeftModel.from_pretrained(
            base, adapters[int(adapter_id[1])].to_peft(tmp_path / adapter_id)).eval()
        ids = torch.tensor([prompts[i]])
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=8,
                                 do_sample=False, pad_token_id=tokenizer.eos_token_id)
        new = out[0, ids.shape[1]:].tolist()
        eos = tokenizer.eos_token_id
        want = tokenizer.decode(new[:new.index(eos)] if eos in new else new, skip_special_tokens=True)
        assert text == want, (adapter_id, text, want)
        assert last.prompt_tokens == len(prompts[i]) and last.finish_reason in ("stop", "length")


def test_stop_strings_length_and_seeded_sampling(tiny_base):
    async def go():
        engine = HFEngine(str(tiny_base))
        await engine.start()
        ids = engine.tokenizer("hello there")["input_ids"]
        full, last = await _collect(engine, ids, SamplingSpec(max_tokens=6), None)
        stop = full[2:4] if len(full) >= 4 else full[:1]
        cut, cut_last = await _collect(engine, ids, SamplingSpec(max_tokens=6, stop=(stop,)), None)
        s1 = await _collect(engine, ids, SamplingSpec(max_tokens=6, temperature=1.0, seed=3), None)
        s2 = await _collect(engine, ids, SamplingSpec(max_tokens=6, temperature=1.0, seed=3), None)
        await engine.close()
        return full, last, stop, cut, cut_last, s1, s2

    full, last, stop, cut, cut_last, s1, s2 = asyncio.run(go())
    assert last.finish_reason == "length" and last.completion_tokens == 6
    assert cut == full[:full.find(stop)] and cut_last.finish_reason == "stop"
    assert s1[0] == s2[0]


def test_extreme_sampling_values_still_sample_and_a_failed_batch_does_not_leave_the_engine_failed(tiny_base):
    # Found by fuzzing the live server: top_p 7.6e-75 kept no token at all (rounding in the cumsum) and
    # torch.multinomial raised; a tiny temperature turned the logits into inf - inf = NaN.
    logits = torch.tensor([2.0, 1.0, -3.0, 0.5])
    for spec in (SamplingSpec(temperature=1.0, top_p=7.6e-75), SamplingSpec(temperature=1e-300, top_p=0.5),
                 SamplingSpec(temperature=1e-300)):
        assert HFEngine._pick(logits, spec, torch.Generator().manual_seed(0)) == 0  # only the top token is left

    async def go():
        engine = HFEngine(str(tiny_base))
        await engine.start()
        ids = engine.tokenizer("hello")["input_ids"]
        decode = engine._decode
        engine._decode = lambda batch: (_ for _ in ()).throw(RuntimeError("one bad batch"))
        with pytest.raises(Exception, match="one bad batch"):
            await _collect(engine, ids, SamplingSpec(max_tokens=2), None)
        failed = await engine.health()
        engine._decode = decode
        await _collect(engine, ids, SamplingSpec(max_tokens=2), None)
        for _ in range(200):  # the stream ends a moment before the batch's thread returns and health is updated
            recovered = await engine.health()
            if recovered["ok"]:
                break
            await asyncio.sleep(0.05)
        await engine.close()
        return failed, recovered

    failed, recovered = asyncio.run(go())
    assert not failed["ok"] and "one bad batch" in failed["error"]
    assert recovered["ok"] and recovered["error"] is None

