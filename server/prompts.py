"""The prompt of a request, as a value, and the one function that turns it into token ids.

Three shapes reach the service: chat messages (/v1/chat/completions, /v1/generate with chat), raw text
(/v1/completions, /v1/generate without chat) and token ids (/v1/completions, as OpenAI accepts them). With
`description_in_prompt`, the normalised description goes where the `placement` setting says: "user", before the
text as training and evaluation write it ("{description}\\n\\n{input}", in the last user message of a chat), or
"system", as the chat's system message (a raw text prompt has no turns: it always takes the "user" form). Every
rule of that format is ground.prompt's, the one prompt builder training, evaluation and the server share
(tests/training/test_prompt_parity.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ground.prompt import Placement, chat_ids, describe_messages, raw_ids, with_description

from .failures import BadRequest


@dataclass(frozen=True)
class ChatPrompt:
    messages: tuple[tuple[str, str], ...]  # (role, content); role is system, user or assistant

    @classmethod
    def of(cls, messages: list[dict[str, str]]) -> "ChatPrompt":
        return cls(tuple((m["role"], m["content"]) for m in messages))


@dataclass(frozen=True)
class TextPrompt:
    text: str


@dataclass(frozen=True)
class TokenPrompt:
    ids: tuple[int, ...]


Prompt = ChatPrompt | TextPrompt | TokenPrompt


def param_of(prompt: Prompt) -> str:
    """The request field that carries the prompt (named by errors about it)."""
    return "messages" if isinstance(prompt, ChatPrompt) else "prompt"


def prompt_ids(tokenizer: Any, prompt: Prompt, description: str | None, placement: Placement = "user") -> list[int]:
    """Token ids of `prompt`, with `description` (already normalised) put in it at `placement` when given.
    Token-id prompts are taken as they are: the service never asks to put a description into one."""
    if isinstance(prompt, TokenPrompt):
        vocab = len(tokenizer)
        bad = next((i for i in prompt.ids if not 0 <= i < vocab), None)
        if bad is not None:
            raise BadRequest(f"prompt: token id {bad} is outside this model's vocabulary (0..{vocab - 1})",
                             param="prompt")
        return list(prompt.ids)
    if isinstance(prompt, TextPrompt):
        return raw_ids(tokenizer, with_description(description, prompt.text))
    messages = [{"role": role, "content": content} for role, content in prompt.messages]
    try:
        return chat_ids(tokenizer, describe_messages(description, messages, placement))
    except ValueError:
        raise BadRequest("description_in_prompt: the messages have no user message to put the description in "
                         "(send \"description_in_prompt\": false to leave it out)", param="messages") from None
