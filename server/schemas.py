"""Request and response bodies (pydantic v2). Limits that depend on settings are checked in the service layer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Stop = str | list[str] | None


def _description_in_prompt() -> Any:
    # Strict: only JSON true/false/null (never "yes" or 1), so a typo is a 400 rather than a silent guess.
    return Field(None, strict=True, description=(
        "with `task`: also send the description to the model, as \"{task}\\n\\n{input}\" (the user turn training "
        "and evaluation use); null: the server's T2L_DESCRIPTION_IN_PROMPT; true without `task` is a 400"))


def _stops(value: Stop) -> Stop:
    if isinstance(value, list) and len(value) > 4:
        raise ValueError("at most 4 stop sequences")
    return value


class _Sampling(BaseModel):
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0 = greedy")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    stop: Stop = Field(None, description="up to 4 strings that end the completion")
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    stream: bool = False

    _check_stop = field_validator("stop")(classmethod(lambda cls, v: _stops(v)))


# ---- adapters ---------------------------------------------------------------------------------------------------
class AdapterCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task: str = Field(..., description="Plain-language description of the task", examples=[
        "Answer with the antonym of the given word."])


class NearestTask(BaseModel):
    task: str = Field(..., description="a training task of the checkpoint")
    similarity: float = Field(..., description="cosine similarity of the description to that task's nearest "
                                               "training description")


class Coverage(BaseModel):
    """The description-quality signal (null when the checkpoint carries no description index)."""

    score: float = Field(..., description="cosine similarity to the nearest training description, after centring "
                                          "as the hypernetwork centres")
    threshold: float = Field(..., description="the checkpoint's calibrated cut-off (its coverage.json says how)")
    in_distribution: bool = Field(..., description="score >= threshold; false: the adapter is likely noise")
    nearest: list[NearestTask] = Field(..., description="the 3 nearest training tasks, nearest first")


def _coverage() -> Any:
    return Field(None, description="description-quality signal; null when the checkpoint has no description index")


class AdapterInfo(BaseModel):
    id: str
    object: Literal["adapter"] = "adapter"
    cached: bool
    generation_ms: float
    base_model: str
    checkpoint: str
    description: str
    loaded: bool = False
    coverage: Coverage | None = _coverage()
    timings: dict[str, float] = Field(default_factory=dict, description="this lookup: embed_ms and hypernet_ms "
                                      "when generated, cache_ms when cached, adapter_ms in all")


# ---- /v1/generate -----------------------------------------------------------------------------------------------
class GenerateRequest(_Sampling):
    model_config = ConfigDict(extra="forbid")
    task: str = Field(..., examples=["Answer with the antonym of the given word."])
    prompt: str = Field(..., examples=["hot"])
    max_tokens: int | None = Field(None, ge=1, description="new tokens at most (default: T2L_DEFAULT_MAX_TOKENS)")
    chat: bool = Field(True, description="wrap the prompt as a user message in the model's chat template")
    description_in_prompt: bool | None = _description_in_prompt()


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class GenerateResponse(BaseModel):
    text: str
    adapter_id: str
    finish_reason: str | None
    usage: Usage
    timings: dict[str, Any]
    coverage: Coverage | None = _coverage()


# ---- OpenAI ------------------------------------------------------------------------------------------------------
class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart]

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class StreamOptions(BaseModel):
    include_usage: bool = False


class _OpenAIBase(_Sampling):
    # Unknown OpenAI fields (user, logit_bias, ...) are accepted and ignored, as OpenAI-compatible servers do.
    model_config = ConfigDict(extra="ignore")
    model: str = Field(..., description="the base model id, or an adapter id t2l-<16 hex>")
    n: int = Field(1, ge=1)
    stream_options: StreamOptions | None = None
    task: str | None = Field(None, description="t2l extension: generate (or reuse) an adapter for this task")
    description_in_prompt: bool | None = _description_in_prompt()


class ChatCompletionRequest(_OpenAIBase):
    messages: list[ChatMessage] = Field(..., min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)


def _token_ids(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(type(t) is int for t in value)  # bool is no token


class CompletionRequest(_OpenAIBase):
    prompt: str | list[str] | list[int] | list[list[int]] = Field(
        ..., description="a string or a list of token ids, or a list holding exactly one of either")
    max_tokens: int | None = Field(16, ge=1)

    @field_validator("prompt", mode="before")
    @classmethod
    def _one_prompt(cls, v: Any) -> Any:
        # Checked before the union so that an error names `prompt` itself, not one of the union's members.
        if isinstance(v, str) or _token_ids(v):
            return v
        if isinstance(v, list) and len(v) != 1 and all(isinstance(p, (str, list)) for p in v):
            raise ValueError("exactly one prompt per request")
        if isinstance(v, list) and len(v) == 1 and (isinstance(v[0], str) or _token_ids(v[0])):
            return v
        raise ValueError("must be a string, a non-empty list of token ids (integers), or a list holding one of "
                         "either")
