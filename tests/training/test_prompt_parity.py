"""One prompt builder (ground.prompt): a served request and a training example with the same input (and the same
description in the prompt, or none) are the same prompt token ids; evaluation builds them the same way."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ground.prompt import chat_ids, describe_messages, prompt_ids, render, user_turn, with_description
from tests.training.conftest import toy_task

DESCRIPTION = "Answer with the antonym of the given word, in lower case."
INPUT = "Word: cold\nAntonym:"


@pytest.fixture(scope="module")
def tokenizer():
    """The real base model's tokenizer (with its chat template), when the offline assets are prepared."""
    from transformers import AutoTokenizer

    from ground.assets import AssetError, prepare_base_model

    try:
        return AutoTokenizer.from_pretrained(prepare_base_model())
    except (AssetError, OSError) as exc:
        pytest.skip(f"base model assets not prepared (t2l assets prepare): {exc}")


def service(tokenizer):
    """server.completions.CompletionService as far as its prompt methods need: the adapter service is only asked
    to normalise the description (what key_for does first)."""
    from hypernet.encoder import normalize_description
    from server.completions import CompletionService

    adapters = SimpleNamespace(key_for=lambda task: (normalize_description(task), "key"))
    return CompletionService(adapters, engine=None, tokenizer=tokenizer, model_name="base", limits=None,
                             admission=None)


def served_ids(tokenizer, text: str, description: str | None) -> tuple[list[int], list[int]]:
    """(chat completion ids, /v1/generate ids) through the CompletionService's public prompt methods."""
    in_prompt = description is not None
    task = description or DESCRIPTION
    served = service(tokenizer)
    return (served.chat_prompt_ids([{"role": "user", "content": text}], task, in_prompt),
            served.generate_ids(task, text, chat=True, in_prompt=in_prompt))


def training_ids(tokenizer, text: str, description: str | None) -> list[int]:
    """The prompt ids of a training example (training.data.encode), its description in the prompt through the
    SFT desc_in_prompt path (training.plan.describe_in_prompt with share 1) when given."""
    from training.data import encode
    from training.plan import describe_in_prompt

    task = toy_task("antonym", "words", [(text, "hot")])
    item = (task, description or DESCRIPTION, task.examples[0])
    (task, desc, example), = describe_in_prompt([item], 1.0 if description else 0.0, seed=0, step=0)
    sample = encode(tokenizer, task.name, desc, example, max_len=512)
    return list(sample.input_ids[: sample.prompt_len])


@pytest.mark.parametrize("description", [None, DESCRIPTION], ids=["plain", "description-in-prompt"])
def test_served_request_and_training_example_tokenise_identically(tokenizer, description):
    trained = training_ids(tokenizer, INPUT, description)
    chat, generate = served_ids(tokenizer, INPUT, description)
    assert trained == chat == generate
    assert trained == chat_ids(tokenizer, user_turn(with_description(description, INPUT)))
    text = tokenizer.decode(trained)
    assert text.rstrip().endswith("assistant") and INPUT in text  # the chat frame, the generation prompt
    assert (DESCRIPTION + "\n\n" + INPUT in text) == (description is not None)


def test_a_chat_gets_the_description_in_its_last_user_message(tokenizer):
    messages = [{"role": "system", "content": "Be brief."}, *user_turn("Word: up"),
                {"role": "assistant", "content": "down"}, *user_turn(INPUT)]
    described = describe_messages(DESCRIPTION, messages)
    assert described[-1]["content"] == with_description(DESCRIPTION, INPUT) and described[:3] == messages[:3]
    assert messages[-1]["content"] == INPUT  # a copy: the request's messages are left alone
    assert service(tokenizer).chat_prompt_ids(messages, DESCRIPTION, True) == chat_ids(tokenizer, described)
    with pytest.raises(ValueError, match="no user message"):
        describe_messages(DESCRIPTION, messages[:1])


def test_the_server_builds_prompts_with_ground_prompt():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "server"
    imported = {node.module for f in root.rglob("*.py") for node in ast.walk(ast.parse(f.read_text()))
                if isinstance(node, ast.ImportFrom) and node.module}
    defined = {node.name for f in root.rglob("*.py") for node in ast.walk(ast.parse(f.read_text()))
               if isinstance(node, ast.FunctionDef)}
    assert "ground.prompt" in imported and "with_description" not in defined


def test_evaluation_rows_use_the_same_prompt(tokenizer):
    from training.evaluate import EvalConfig, Method, build_rows

    task = toy_task("antonym", "words", [(INPUT, "hot")])
    config = EvalConfig(examples_per_task=1, max_len=512)
    for with_desc in (False, True):
        method = Method("m", with_description=with_desc, description=lambda t, i: DESCRIPTION)
        row, = build_rows(method, [task], tokenizer, config)
        assert row.prompt == training_ids(tokenizer, INPUT, DESCRIPTION if with_desc else None)


def test_the_chat_render_is_what_apply_chat_template_tokenises(tokenizer):
    """chat_ids tokenises the rendered template without adding special tokens, as HF's tokenize=True does."""
    messages = [{"role": "system", "content": "Be brief."}, *user_turn(with_description(DESCRIPTION, INPUT))]
    direct = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    direct = direct["input_ids"] if hasattr(direct, "keys") else direct
    assert chat_ids(tokenizer, messages) == list(direct)


def test_truncation_keeps_the_frame_and_the_end_of_the_text(tokenizer):
    long = " ".join(f"w{i}" for i in range(300)) + " QUESTION?"
    full = prompt_ids(tokenizer, long)
    cut = prompt_ids(tokenizer, long, budget=60)
    assert len(cut) == 60 < len(full)
    head = render(tokenizer, user_turn(long)).split(long)[0]
    assert cut[:len(tokenizer(head, add_special_tokens=False)["input_ids"])] == full[:len(
        tokenizer(head, add_special_tokens=False)["input_ids"])]  # the template's frame stays
    assert cut[-8:] == full[-8:] and "QUESTION?" in tokenizer.decode(cut)  # and the end of the text


def test_without_a_template_the_prompt_is_the_text_and_a_newline(tokenizer):
    assert prompt_ids(tokenizer, INPUT, chat=False) == tokenizer(INPUT + "\n", add_special_tokens=False)["input_ids"]
    assert with_description(None, INPUT) == INPUT and with_description("d", "x") == "d\n\nx"


def test_prompt_module_is_a_bottom_module():
    """ground/prompt.py imports nothing of ours, so the server can use it without importing training."""
    import ast
    from pathlib import Path

    import ground.prompt

    tree = ast.parse(Path(ground.prompt.__file__).read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not names & {"ground", "hypernet", "server", "training", "t2l"}


def test_the_system_placement_replaces_the_default_system_prompt(tokenizer):
    """placement "system": the description is the system message (the template's default one is gone); a chat's
    own system message keeps its text below the description; the user turns are untouched."""
    described = describe_messages(DESCRIPTION, user_turn(INPUT), "system")
    assert described == [{"role": "system", "content": DESCRIPTION}, *user_turn(INPUT)]
    text = tokenizer.decode(chat_ids(tokenizer, described))
    default = tokenizer.decode(chat_ids(tokenizer, user_turn(INPUT)))
    assert DESCRIPTION in text and DESCRIPTION + "\n\n" + INPUT not in text and INPUT in text
    own_default = default.split(INPUT)[0].split("user")[0]  # the template's default system turn
    assert own_default.strip() and own_default not in text.split(INPUT)[0]
    chat = [{"role": "system", "content": "Be brief."}, *user_turn(INPUT)]
    assert describe_messages(DESCRIPTION, chat, "system")[0]["content"] == with_description(DESCRIPTION, "Be brief.")
    assert chat[0]["content"] == "Be brief."  # a copy
    with pytest.raises(ValueError, match="unknown placement"):
        describe_messages(DESCRIPTION, chat, "assistant")


def test_prompt_ids_with_a_system_description_is_that_chat_and_truncates_the_text_only(tokenizer):
    system = prompt_ids(tokenizer, INPUT, system=DESCRIPTION)
    assert system == chat_ids(tokenizer, describe_messages(DESCRIPTION, user_turn(INPUT), "system"))
    assert system != prompt_ids(tokenizer, with_description(DESCRIPTION, INPUT))
    long = " ".join(f"w{i}" for i in range(300)) + " QUESTION?"
    cut = prompt_ids(tokenizer, long, budget=80, system=DESCRIPTION)
    assert len(cut) == 80 and DESCRIPTION in tokenizer.decode(cut) and "QUESTION?" in tokenizer.decode(cut)


def test_evaluation_rows_put_a_system_description_where_the_chat_user_would(tokenizer):
    from training.evaluate import EvalConfig, Method, build_rows

    task = toy_task("antonym", "words", [(INPUT, "hot")])
    method = Method("m", with_description=True, placement="system", description=lambda t, i: DESCRIPTION)
    row, = build_rows(method, [task], tokenizer, EvalConfig(examples_per_task=1, max_len=512))
    assert row.prompt == prompt_ids(tokenizer, INPUT, 512, system=DESCRIPTION)
