"""The `description_in_prompt` option: the task description goes into the prompt too ("{task}\\n\\n{input}", the user
turn training and evaluation write), beside the adapter. The app in process (FakeEngine, tiny checkpoint, the
in-process chat tokenizer, real Redis) started with T2L_DESCRIPTION_IN_PROMPT=true, and a CompletionService with the
default off built from the same parts."""

from __future__ import annotations

import pytest

from server.completions import CompletionService, with_description
from server.failures import BadRequest
from tests.server.conftest import fast_serving

TASK = "Answer with the antonym of the given word."
RAW_TASK = "  Answer with the   antonym of the\n given word. "  # normalises to TASK


@pytest.fixture(scope="module")
def live_on(fast_parts, redis_client, tmp_path_factory):
    # the user-turn form (T2L_DESCRIPTION_PLACEMENT=user; the served default is system, tested below on its own)
    with fast_serving(fast_parts, tmp_path_factory.mktemp("dip"), description_in_prompt=True,
                      description_placement="user") as client:
        yield client


@pytest.fixture(scope="module")
def svc_on(live_on) -> CompletionService:
    return live_on.app.state.runtime.completions


@pytest.fixture(scope="module")
def svc_off(live_on) -> CompletionService:
    """The same adapters, engine and tokenizer, with the server default left at its default (off)."""
    rt, on = live_on.app.state.runtime, live_on.app.state.runtime.completions
    return CompletionService(rt.adapters, rt.engine, on.tokenizer, rt.model_name, on.limits, on.admission)


def post(client, path, **body):
    return client.post(path, json=body)


def text_of(svc: CompletionService, ids: list[int]) -> str:
    return svc.tokenizer.decode(ids)


# ---- the prompt builders -----------------------------------------------------------------------------------------
def test_settings_default_is_on_and_reads_the_environment(monkeypatch):
    from server.settings import Settings

    monkeypatch.delenv("T2L_DESCRIPTION_IN_PROMPT", raising=False)
    assert Settings(_env_file=None).description_in_prompt is True  # chosen on the everyday set (docs/everyday.md)
    monkeypatch.setenv("T2L_DESCRIPTION_IN_PROMPT", "false")
    assert Settings(_env_file=None).description_in_prompt is False


def test_with_description_is_the_training_format():
    assert with_description("Do X.", "input") == "Do X.\n\ninput"
    assert with_description(None, "input") == "input"


def test_generate_prompt_has_the_normalised_description_then_the_input(svc_on, svc_off):
    expected = svc_on.chat_ids([{"role": "user", "content": f"{TASK}\n\nhot"}])
    plain = svc_on.chat_ids([{"role": "user", "content": "hot"}])
    for svc in (svc_on, svc_off):
        assert svc.generate_ids(RAW_TASK, "hot", True, True) == expected
        assert svc.generate_ids(RAW_TASK, "hot", True, False) == plain
        assert svc.generate_ids(RAW_TASK, "hot", False, True) == svc.text_ids(f"{TASK}\n\nhot")
        assert svc.generate_ids(RAW_TASK, "hot", False, False) == svc.text_ids("hot")
    # absent (None): the server default
    assert svc_on.generate_ids(RAW_TASK, "hot", True, None) == expected
    assert svc_off.generate_ids(RAW_TASK, "hot", True, None) == plain
    text = text_of(svc_on, expected)
    assert f"{TASK}\n\nhot" in text and text.index(TASK) < text.index("hot")
    assert TASK not in text_of(svc_on, plain)


def test_chat_prompt_prefixes_only_the_last_user_message(svc_on, svc_off):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "first"},
                {"role": "assistant", "content": "ok"}, {"role": "user", "content": "cold"}]
    prefixed = [*messages[:3], {"role": "user", "content": f"{TASK}\n\ncold"}]
    assert svc_on.chat_prompt_ids(messages, RAW_TASK, None) == svc_on.chat_ids(prefixed)
    assert svc_off.chat_prompt_ids(messages, RAW_TASK, True) == svc_on.chat_ids(prefixed)
    assert svc_on.chat_prompt_ids(messages, RAW_TASK, False) == svc_on.chat_ids(messages)
    assert svc_off.chat_prompt_ids(messages, RAW_TASK, None) == svc_on.chat_ids(messages)
    assert messages[3]["content"] == "cold"  # the caller's list is not changed
    text = text_of(svc_on, svc_on.chat_prompt_ids(messages, TASK, True))
    assert text.count(TASK) == 1 and text.index("first") < text.index(TASK) < text.index("cold")


def test_completion_prompt_is_prefixed(svc_on, svc_off):
    assert svc_on.completion_prompt_ids("Once", RAW_TASK, None) == svc_on.text_ids(f"{TASK}\n\nOnce")
    assert svc_off.completion_prompt_ids("Once", RAW_TASK, None) == svc_on.text_ids("Once")
    assert svc_off.completion_prompt_ids("Once", RAW_TASK, True) == svc_on.text_ids(f"{TASK}\n\nOnce")


def test_without_a_task_the_default_is_ignored_and_explicit_true_is_refused(svc_on):
    messages = [{"role": "user", "content": "hi"}]
    assert svc_on.chat_prompt_ids(messages, None, None) == svc_on.chat_ids(messages)
    assert svc_on.chat_prompt_ids(messages, None, False) == svc_on.chat_ids(messages)
    with pytest.raises(BadRequest) as err:
        svc_on.chat_prompt_ids(messages, None, True)
    assert err.value.param == "description_in_prompt"
    with pytest.raises(BadRequest) as err:  # nowhere to put it
        svc_on.chat_prompt_ids([{"role": "system", "content": "hi"}], TASK, True)
    assert err.value.param == "messages"


def test_the_system_placement_puts_the_description_in_the_system_message(svc_on):
    """T2L_DESCRIPTION_PLACEMENT=system: a chat gets the description as its system message (above its own system
    message if it has one; no user message needed); raw text has no turns and keeps the user form."""
    rt = svc_on
    system = CompletionService(rt.adapters, rt.engine, rt.tokenizer, rt.model_name, rt.limits, rt.admission,
                               description_in_prompt=True, description_placement="system")
    chat = [{"role": "user", "content": "cold"}]
    assert system.chat_prompt_ids(chat, RAW_TASK, None) == svc_on.chat_ids(
        [{"role": "system", "content": TASK}, *chat])
    own = [{"role": "system", "content": "Be brief."}, *chat]
    assert system.chat_prompt_ids(own, RAW_TASK, None) == svc_on.chat_ids(
        [{"role": "system", "content": f"{TASK}\n\nBe brief."}, *chat])
    only_system = [{"role": "system", "content": "hi"}]
    assert system.chat_prompt_ids(only_system, TASK, True) == svc_on.chat_ids(
        [{"role": "system", "content": f"{TASK}\n\nhi"}])
    assert system.chat_prompt_ids(chat, RAW_TASK, False) == svc_on.chat_ids(chat)
    assert system.completion_prompt_ids("Once", RAW_TASK, None) == svc_on.text_ids(f"{TASK}\n\nOnce")
    text = text_of(svc_on, system.generate_ids(RAW_TASK, "hot", True, None))
    assert TASK in text and f"{TASK}\n\nhot" not in text and text.index(TASK) < text.index("hot")


def test_settings_placement_defaults_to_the_system_message_and_refuses_others(monkeypatch):
    """The default follows the everyday set on the default checkpoint (docs/everyday.md): system 41.5%, user 37.2%."""
    from pydantic import ValidationError

    from server.settings import Settings

    monkeypatch.delenv("T2L_DESCRIPTION_PLACEMENT", raising=False)
    assert Settings(_env_file=None).description_placement == "system"
    monkeypatch.setenv("T2L_DESCRIPTION_PLACEMENT", "user")
    assert Settings(_env_file=None).description_placement == "user"
    monkeypatch.setenv("T2L_DESCRIPTION_PLACEMENT", "assistant")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)


# ---- over HTTP ----------------------------------------------------------------------------------------------------
def test_generate_default_on_field_overrides_and_adapter_is_the_same(live_on, svc_on):
    default = post(live_on, "/v1/generate", task=RAW_TASK, prompt="hot", max_tokens=4).json()
    on = post(live_on, "/v1/generate", task=RAW_TASK, prompt="hot", max_tokens=4, description_in_prompt=True).json()
    off = post(live_on, "/v1/generate", task=RAW_TASK, prompt="hot", max_tokens=4, description_in_prompt=False).json()
    nul = post(live_on, "/v1/generate", task=RAW_TASK, prompt="hot", max_tokens=4, description_in_prompt=None).json()
    with_desc = len(svc_on.chat_ids([{"role": "user", "content": f"{TASK}\n\nhot"}]))
    without = len(svc_on.chat_ids([{"role": "user", "content": "hot"}]))
    assert default["usage"]["prompt_tokens"] == on["usage"]["prompt_tokens"] == nul["usage"]["prompt_tokens"] \
        == with_desc
    assert off["usage"]["prompt_tokens"] == without < with_desc
    assert default["text"] == on["text"]
    # the cache key depends on the description only: one adapter for all of them
    assert len({r["adapter_id"] for r in (default, on, off, nul)}) == 1


def test_openai_chat_and_completions(live_on, svc_on):
    import openai

    client = openai.OpenAI(base_url="http://testserver/v1", api_key="unused", max_retries=0, http_client=live_on)
    model = client.models.list().data[0].id
    # list-of-parts content: the joined text parts, the description before the first
    parts = [{"type": "text", "text": "co"}, {"type": "text", "text": "ld"}]
    out = client.chat.completions.create(model=model, messages=[{"role": "user", "content": parts}], max_tokens=3,
                                         extra_body={"task": TASK})
    off = client.chat.completions.create(model=model, messages=[{"role": "user", "content": parts}], max_tokens=3,
                                         extra_body={"task": TASK, "description_in_prompt": False})
    assert out.usage.prompt_tokens == len(svc_on.chat_ids([{"role": "user", "content": f"{TASK}\n\ncold"}]))
    assert off.usage.prompt_tokens == len(svc_on.chat_ids([{"role": "user", "content": "cold"}]))
    assert out.model == off.model and out.model.startswith("t2l-")
    text = client.completions.create(model=model, prompt="Once", max_tokens=3, extra_body={"task": TASK})
    assert text.usage.prompt_tokens == len(svc_on.text_ids(f"{TASK}\n\nOnce"))
    # no task: the server default does not apply (base model, prompt unchanged)
    base = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "cold"}], max_tokens=3)
    assert base.model == model and base.usage.prompt_tokens == off.usage.prompt_tokens


def test_token_limits_count_the_longer_prompt(live_on, svc_on):
    prompt = "word " * 40  # leaves room for 1..64 new tokens (the test settings' limit) with this tokenizer
    settings = live_on.app.state.runtime.settings
    room = settings.max_model_len - len(svc_on.chat_ids([{"role": "user", "content": prompt}]))
    grown = len(svc_on.chat_ids([{"role": "user", "content": f"{TASK}\n\n{prompt}"}])) \
        - len(svc_on.chat_ids([{"role": "user", "content": prompt}]))
    assert 1 <= room <= settings.max_tokens_limit and grown > 0
    off = post(live_on, "/v1/generate", task=TASK, prompt=prompt, max_tokens=room, description_in_prompt=False)
    assert off.status_code == 200, off.text
    on = post(live_on, "/v1/generate", task=TASK, prompt=prompt, max_tokens=room)
    assert on.status_code == 400 and on.json()["error"]["code"] == "context_length_exceeded"


@pytest.mark.parametrize("path, body", [
    ("/v1/generate", {"task": TASK, "prompt": "x", "description_in_prompt": "yes"}),
    ("/v1/generate", {"task": TASK, "prompt": "x", "description_in_prompt": 1}),
    ("/v1/chat/completions", {"model": "m", "task": TASK, "messages": [{"role": "user", "content": "x"}],
                              "description_in_prompt": "true"}),
    ("/v1/completions", {"model": "m", "task": TASK, "prompt": "x", "description_in_prompt": [True]}),
])
def test_a_non_bool_is_a_400_in_the_envelope(live_on, path, body):
    r = post(live_on, path, **body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "description_in_prompt"
    assert "bool" in error["message"]


@pytest.mark.parametrize("path, body, param", [
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}, "description_in_prompt"),
    ("/v1/completions", {"prompt": "x"}, "description_in_prompt"),
    ("/v1/chat/completions", {"messages": [{"role": "system", "content": "x"}], "task": TASK}, "messages"),
])
def test_true_without_a_task_or_user_message_is_a_400(live_on, path, body, param):
    r = post(live_on, path, model=live_on.app.state.runtime.model_name, description_in_prompt=True, **body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param and r.json()["error"]["type"] == "invalid_request_error"
