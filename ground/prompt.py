"""How a request becomes the prompt the base model reads: the one definition that training, evaluation and the
server share, so the model is trained on exactly the tokens it is served.

A request is one user turn holding the input. When the task description goes into the prompt too, it goes in one
of two places (`Placement`): "user", above the input in the same turn (`with_description`:
"<description>\\n\\n<input>"; in a chat, in the last user message), or "system", as the system message (in place
of the template's default one; above a system message the chat already has). `describe_messages` does either.
With a chat template, the messages are rendered by the template with the generation prompt (its default system
prompt included when the messages have none); a tokenizer without a template (or `chat=False`) reads the turns'
text followed by "\\n". The rendered text is tokenised without adding special tokens (the template writes its own),
which is what `apply_chat_template(..., tokenize=True)` does. `prompt_ids` caps the length for training and
evaluation: a long prompt loses the START of the user's text (BIG-bench puts the question last), never the
template's frame. A raw text completion (no turn at all) is `raw_ids`.

A bottom module: it imports nothing of ours and works with any Hugging Face tokenizer.
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": text}
Placement = Literal["user", "system"]  # where a description in the prompt goes
PLACEMENTS: tuple[str, ...] = ("user", "system")


def with_description(description: str | None, text: str) -> str:
    """The user turn's text: `text` alone, or the description, a blank line, then `text`."""
    return text if description is None else f"{description}\n\n{text}"


def user_turn(text: str) -> list[Message]:
    """The messages of a request that is one user turn."""
    return [{"role": "user", "content": text}]


def describe_messages(description: str | None, messages: Sequence[Message], placement: Placement = "user"
                      ) -> list[Message]:
    """A copy of `messages` with the description in it. "user": above the content of the LAST user message
    (`with_description`); ValueError when no message is the user's. "system": as a system message before the
    others, or above the content of the system message the messages start with (`with_description`)."""
    out = [dict(m) for m in messages]
    if description is None:
        return out
    if placement == "system":
        if out and out[0]["role"] == "system":
            out[0]["content"] = with_description(description, out[0]["content"])
        else:
            out.insert(0, {"role": "system", "content": description})
        return out
    if placement != "user":
        raise ValueError(f"unknown placement {placement!r}; choose from {list(PLACEMENTS)}")
    last = max((i for i, m in enumerate(out) if m["role"] == "user"), default=None)
    if last is None:
        raise ValueError("the messages have no user message to put the description in")
    out[last]["content"] = with_description(description, out[last]["content"])
    return out


def uses_template(tokenizer: Any, chat: bool = True) -> bool:
    """Whether prompts for `tokenizer` go through its chat template (asked for, and it has one)."""
    return bool(chat and getattr(tokenizer, "chat_template", None))


def render(tokenizer: Any, messages: Sequence[Message], chat: bool = True) -> str:
    """The prompt text of `messages`: the chat template with the generation prompt, or (no template, or chat off)
    the messages' contents one per line, followed by "\\n"."""
    if uses_template(tokenizer, chat):
        return tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
    return "".join(m["content"] + "\n" for m in messages)


def token_ids(tokenizer: Any, text: str) -> list[int]:
    """`text`'s token ids, no special tokens added."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def chat_ids(tokenizer: Any, messages: Sequence[Message], chat: bool = True) -> list[int]:
    """Token ids of the rendered messages (untruncated): what a chat request is served with."""
    return token_ids(tokenizer, render(tokenizer, messages, chat))


def raw_ids(tokenizer: Any, text: str) -> list[int]:
    """A raw text completion's ids: the text as is, with the tokenizer's own special tokens (BOS, if any)."""
    return list(tokenizer(text, add_special_tokens=True)["input_ids"])


def prompt_ids(tokenizer: Any, text: str, budget: int | None = None, chat: bool = True,
               system: str | None = None) -> list[int]:
    """Token ids of the one-user-turn prompt for `text` (after a `system` message, if given), at most `budget`
    long: a long prompt loses the start of `text`, never the template's frame (unless the frame alone exceeds the
    budget). Untruncated, it is `chat_ids(tokenizer, describe_messages(system, user_turn(text), "system"), chat)`."""
    rendered = render(tokenizer, describe_messages(system, user_turn(text), "system"), chat)
    full = token_ids(tokenizer, rendered)
    if budget is None or len(full) <= budget:
        return full
    at = rendered.rfind(text)
    if at < 0 or not text:  # a template that rewrites the content: keep the tail
        return full[-budget:] if budget > 0 else []
    head, tail = token_ids(tokenizer, rendered[:at]), token_ids(tokenizer, rendered[at + len(text):])
    room = budget - len(head) - len(tail)
    if room <= 0:
        return full[-budget:] if budget > 0 else []
    return head + token_ids(tokenizer, text)[-room:] + tail


__all__ = ["Message", "PLACEMENTS", "Placement", "chat_ids", "describe_messages", "prompt_ids", "raw_ids", "render",
           "token_ids", "user_turn", "uses_template", "with_description"]
