"""Request and response bodies (pydantic v2). Limits that depend on settings are checked in the service layer; the
OpenAPI document states them too (server/routes/docs.py), so a request the schema admits is one the service takes.

Where a validator checks more than its type says (a blank description, at most 4 stop strings, one prompt per
request), `WithJsonSchema` states that check in the schema without changing the validation or its error message.
Request bodies are strict (STRICT): a field takes the JSON type its schema names, as OpenAI's API does, instead of
pydantic's coercions (0 or "no" for false, "2" for 2), which no JSON Schema can state.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from .engines.base import SamplingSpec

# Python's whitespace (str.isspace, what `\s` matches and hypernet.normalize_description strips), spelled out so
# every regex dialect reads the pattern the same (ECMA's `\s` also takes U+FEFF, which a description may hold).
WHITESPACE = "\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NON_BLANK = f"[^{WHITESPACE}]"  # a JSON Schema pattern is a search: somewhere a character that is not whitespace

# A task description: empty or whitespace-only ones are refused (400); its length limit, T2L_MAX_DESCRIPTION_CHARS
# (of the text once normalised), is a setting: the served schema adds it as maxLength.
TaskDescription = Annotated[str, WithJsonSchema({"type": "string", "minLength": 1, "pattern": NON_BLANK})]
Stop = str | Annotated[list[str], WithJsonSchema({"type": "array", "items": {"type": "string"}, "maxItems": 4})] | None
STRICT = ConfigDict(strict=True)  # on each request model: a model's strictness does not reach the models in it


def _integral(value: Any) -> Any:
    # JSON has one number type: 3.0 is the integer 3 (JSON Schema's "integer" takes it too), so strict ints do
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return int(value) if type(value) is float and value.is_integer() else value


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
    model_config = STRICT
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0 = greedy")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    stop: Stop = Field(None, description="up to 4 strings that end the completion")
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    stream: bool = False

    _check_stop = field_validator("stop")(classmethod(lambda cls, v: _stops(v)))
    _ints = field_validator("seed", "n", "max_tokens", "max_completion_tokens", mode="before", check_fields=False)(
        classmethod(lambda cls, v: _integral(v)))

    def sampling(self, max_tokens: int | None) -> SamplingSpec:
        """The request's sampling as the service and engines take it, converted here once (one stop string becomes a
        one-item tuple); max_tokens None: the server's default."""
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        return SamplingSpec(max_tokens=max_tokens, temperature=self.temperature, top_p=self.top_p, stop=stop,
                            seed=self.seed)


# ---- adapters ---------------------------------------------------------------------------------------------------
class AdapterCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    task: TaskDescription = Field(..., description="Plain-language description of the task", examples=[
        "Answer with the antonym of the given word."])


class NearestTask(BaseModel):
    task: str = Field(..., description="a training task of the checkpoint")
    similarity: float = Field(..., description="cosine similarity of the description to that task's nearest "
                                               "training description")


class ExpectedAccuracy(BaseModel):
    """What the checkpoint's own evaluation says about descriptions like this one (hypernet.description_index)."""

    exact: float = Field(..., ge=0, le=100, description="similarity-weighted mean exact match (%) of the nearest "
                                                        "evaluated training tasks, on held-out inputs and wordings")
    from_: list[NearestTask] = Field(..., alias="from", description="the evaluated tasks it comes from, nearest first")

    model_config = {"populate_by_name": True, "serialize_by_alias": True}


class Coverage(BaseModel):
    """The description-quality signal (null when the checkpoint carries no description index)."""

    score: float = Field(..., description="cosine similarity to the nearest training description, after centring "
                                          "as the hypernetwork centres")
    threshold: float = Field(..., description="the checkpoint's calibrated cut-off (its coverage.json says how)")
    in_distribution: bool = Field(..., description="score >= threshold; false: the adapter is likely noise")
    nearest: list[NearestTask] = Field(..., description="the 3 nearest training tasks, nearest first")
    expected_accuracy: ExpectedAccuracy | None = Field(
        None, description="measured exact match of the nearest evaluated training tasks on held-out inputs; null "
                          "when the checkpoint carries no accuracy.json")


def _coverage() -> Any:
    return Field(None, description="description-quality signal; null when the checkpoint has no description index")


ADAPTER_ID = "^t2l-[0-9a-f]{16}$"


class AdapterInfo(BaseModel):
    id: str = Field(..., pattern=ADAPTER_ID)
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
    model_config = ConfigDict(extra="forbid", strict=True)
    task: TaskDescription = Field(..., examples=["Answer with the antonym of the given word."])
    prompt: str = Field(..., min_length=1, examples=["hot"])
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
    model_config = ConfigDict(extra="allow", strict=True)
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart]

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class StreamOptions(BaseModel):
    model_config = STRICT
    include_usage: bool = False


class _OpenAIBase(_Sampling):
    # Unknown OpenAI fields (user, logit_bias, ...) are accepted and ignored, as OpenAI-compatible servers do.
    model_config = ConfigDict(extra="ignore", strict=True)
    model: str = Field(..., description="the base model id, or an adapter id t2l-<16 hex>")
    n: int = Field(1, ge=1)
    stream_options: StreamOptions | None = None
    task: TaskDescription | None = Field(None, description="t2l extension: generate (or reuse) an adapter for this "
                                                           "task")
    description_in_prompt: bool | None = _description_in_prompt()


class ChatCompletionRequest(_OpenAIBase):
    messages: list[ChatMessage] = Field(..., min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)


def _token_ids(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(type(t) is int for t in value)  # bool is no token


_TOKEN_IDS = {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1}  # served: maximum vocab-1
# What `_one_prompt` takes: a string or token ids, alone or as a list's only item.
_TEXT = {"type": "string", "minLength": 1}  # an empty prompt has no token to start from
PROMPT_SCHEMA = {"anyOf": [_TEXT, _TOKEN_IDS, {"type": "array", "items": _TEXT, "minItems": 1, "maxItems": 1},
                           {"type": "array", "items": _TOKEN_IDS, "minItems": 1, "maxItems": 1}]}


class CompletionRequest(_OpenAIBase):
    prompt: Annotated[str | list[str] | list[int] | list[list[int]], WithJsonSchema(PROMPT_SCHEMA)] = Field(
        ..., description="a string or a list of token ids, or a list holding exactly one of either")
    max_tokens: int | None = Field(16, ge=1)

    @field_validator("prompt", mode="before")
    @classmethod
    def _one_prompt(cls, v: Any) -> Any:
        # Checked before the union so that an error names `prompt` itself, not one of the union's members.
        v = [_integral(p) for p in v] if isinstance(v, list) else v
        if v == "" or v == [""]:
            raise ValueError("is empty: it must hold at least one token")
        if isinstance(v, str) or _token_ids(v):
            return v
        if isinstance(v, list) and len(v) != 1 and all(isinstance(p, (str, list)) for p in v):
            raise ValueError("exactly one prompt per request")
        if isinstance(v, list) and len(v) == 1 and (isinstance(v[0], str) or _token_ids(v[0])):
            return v
        raise ValueError("must be a string, a non-empty list of token ids (integers), or a list holding one of "
                         "either")


# ---- what the routes answer with (they build these as dicts; the models document them) ---------------------------
ErrorType = Literal["invalid_request_error", "authentication_error", "permission_error", "not_found_error",
                    "rate_limit_error", "server_error", "service_unavailable"]


class ErrorDetail(BaseModel):
    message: str
    type: ErrorType
    param: str | None = Field(..., description="the request field at fault, when one is")
    code: str | None = Field(..., description="for a client to branch on: context_length_exceeded, "
                             "model_not_found, invalid_api_key, insufficient_scope, rate_limit_exceeded, "
                             "server_busy, queue_timeout, engine_error, timeout, body_too_large, ...")


class ErrorResponse(BaseModel):
    """OpenAI's error envelope: every error of the service has this body (server/errors.py)."""

    error: ErrorDetail


class AdapterDeleted(BaseModel):
    id: str
    object: Literal["adapter.deleted"]
    deleted: Literal[True]
    engine_unloaded: bool = Field(..., description="the engine had it loaded")


class CacheFlushed(BaseModel):
    object: Literal["cache.flushed"]
    deleted: dict[str, int] = Field(..., description="adapters dropped per tier: memory, redis")


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: str


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: str | None
    logprobs: None


class TextChoice(BaseModel):
    index: int
    text: str
    finish_reason: str | None
    logprobs: None


class ChatCompletionResponse(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str = Field(..., description="the adapter id when one ran, else the base model")
    choices: list[ChatChoice]
    usage: Usage


class CompletionResponse(BaseModel):
    id: str
    object: Literal["text_completion"]
    created: int
    model: str = Field(..., description="the adapter id when one ran, else the base model")
    choices: list[TextChoice]
    usage: Usage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    root: str
    parent: str | None = Field(None, description="adapters: the base model (absent for the base model)")


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelCard] = Field(..., description="the base model, then the adapters loaded in the engine")


class Health(BaseModel):
    status: Literal["ok", "failed"]
    error: str | None = Field(None, description="why startup failed (503)")


class Readiness(BaseModel):
    status: Literal["ok", "degraded", "engine_failed", "starting", "failed", "draining"]
    ready: bool
    error: str | None = Field(None, description="while not ready: why startup failed, or null while starting")
    engine: dict[str, Any] | None = None
    cache: dict[str, Any] | None = None
    model: str | None = None
    checkpoint: str | None = None


# One event of a text/event-stream response as Open API 3.1 readers take `schema` there: each `data` holds one JSON
# object (a chunk, or the error envelope when the stream fails midway) and the last one is `[DONE]`.
SSE_EVENT = {"type": "object", "required": ["data"], "properties": {
    "data": {"type": "string", "description": "a JSON object, or [DONE] (the last event)"},
    "event": {"type": "string", "const": "message"}}}


# ---- /v1/adapters/refine and /v1/jobs ---------------------------------------------------------------------------
class RefineExample(BaseModel):
    """One example: the request (`input`, one user turn, or `messages`, a chat) and the answer wanted."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"oneOf": [  # a null counts as absent
        {"required": ["input"], "properties": {"input": {"type": "string"}}},
        {"required": ["messages"], "properties": {"messages": {"type": "array"}}}]})
    input: str | None = Field(None, min_length=1, description="the user turn (as in a chat request's one message)")
    messages: list[ChatMessage] | None = Field(None, min_length=1, description="a chat, as the request will send it")
    output: str = Field(..., min_length=1, pattern=NON_BLANK, description="the answer the adapter should give")

    @model_validator(mode="after")
    def _one_request(self) -> "RefineExample":
        if (self.input is None) == (self.messages is None):
            raise ValueError("give exactly one of input and messages")
        return self


class RefineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"oneOf": [
        {"required": ["task"], "properties": {"task": {"type": "string"}}},
        {"required": ["adapter_id"], "properties": {"adapter_id": {"type": "string"}}}]})
    task: TaskDescription | None = Field(None, description="start from this description's adapter")
    adapter_id: str | None = Field(None, pattern=ADAPTER_ID, description="or from this adapter (refined ones too)")
    examples: list[RefineExample] = Field(..., min_length=1)
    steps: int = Field(40, ge=1, description="optimizer steps")
    lr: float = Field(1e-3, gt=0, le=0.1, description="AdamW learning rate on the adapter's A and B")
    holdout_fraction: float = Field(0.2, ge=0, le=0.5, description="examples held out to score before vs after "
                                                                    "(none below 5 examples)")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="the held-out split and the order of the examples")

    @field_validator("lr", "holdout_fraction", mode="before")
    @classmethod
    def _number(cls, v: Any) -> Any:
        return float(v) if type(v) is int else v  # JSON has one number type: 1 is 1.0

    @field_validator("steps", "seed", mode="before")
    @classmethod
    def _whole(cls, v: Any) -> Any:
        return _integral(v)

    @model_validator(mode="after")
    def _one_start(self) -> "RefineRequest":
        if (self.task is None) == (self.adapter_id is None):
            raise ValueError("give exactly one of task and adapter_id")
        return self


JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class RefineJob(BaseModel):
    id: str = Field(..., description="refine-<16 hex>: the same request gives the same job")
    object: Literal["refine.job"] = "refine.job"
    status: JobStatus
    cached: bool = Field(False, description="the refined adapter already existed: no job ran")
    adapter_id: str | None = Field(None, description="the refined adapter (usable as `model` once succeeded)")
    from_: str | None = Field(None, alias="from", description="the adapter it starts from")
    step: int | None = None
    steps: int | None = None
    loss: float | None = Field(None, description="training loss of the last step")
    eta_s: float | None = Field(None, description="estimated seconds left (running)")
    examples: dict[str, int] | None = Field(None, description="{train, held_out}")
    scores: dict[str, float | None] | None = Field(None, description="exact match (%) on the held-out examples of "
                                                   "the base (exact_base), the base with the description "
                                                   "(exact_base_description), the generated adapter (exact_before) "
                                                   "and the refined one (exact_after); first and last training loss")
    error: str | None = None

    model_config = {"populate_by_name": True, "serialize_by_alias": True}
