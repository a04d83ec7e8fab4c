"""The OpenAPI document (/openapi.json, /docs): FastAPI's, made to say what this service does.

FastAPI knows the routes, their bodies and the responses each route declares (`responses=`, built by
server.errors.error_responses). What it cannot know is put right here, from the settings and the served model:
  - no 422: validation errors are 400s (server/errors.py), yet FastAPI documents a 422 for every operation with input;
  - responses that happen only under some settings (`x-t2l-when`) stay only under them, and with T2L_AUTH=on the
    operations that answer 401 declare the bearer scheme;
  - the limits the service checks against the settings (description length, max_tokens, n) and the served model
    (token ids below its vocabulary size), and the rules of description_in_prompt, whose default is a setting.
Clients are generated from this document and gateways validate against it; tests/server/test_openapi.py holds the
service to it with every schemathesis check.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from ..settings import Settings

# x-t2l-when names (server.errors.error_responses) -> whether the settings make those responses happen
WHEN = {"auth": lambda s: s.auth == "on", "rate_limit": lambda s: s.rate_limit_rps > 0,
        "metrics_admin": lambda s: s.metrics_require_admin}
BEARER = {"type": "http", "scheme": "bearer",
          "description": "an API key from `t2l keys create`; scope `use`, or `admin` where the operation says so"}


def install(app: FastAPI, settings: Settings) -> None:
    """Serve `document` as the app's OpenAPI schema: once per vocabulary (none until the model is loaded)."""
    made: dict[int | None, dict] = {}

    def openapi() -> dict[str, Any]:
        runtime = getattr(app.state, "runtime", None)
        vocab = len(runtime.completions.tokenizer) if runtime is not None else None
        if vocab not in made:
            base = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            made[vocab] = document(base, settings, vocab)
        return made[vocab]

    app.openapi = openapi  # type: ignore[method-assign]


def document(doc: dict[str, Any], settings: Settings, vocab: int | None = None) -> dict[str, Any]:
    """FastAPI's document `doc`, made true for `settings` and a model with `vocab` tokens (None: not known yet)."""
    doc = copy.deepcopy(doc)
    if not settings.redis_url:  # refine jobs need Redis: without it those operations do not exist (they say 503 why)
        for path, ops in list(doc["paths"].items()):
            for method in [m for m, op in ops.items() if "refine" in op.get("tags", [])]:
                del ops[method]
            if not ops:
                del doc["paths"][path]
    for operation in (op for ops in doc["paths"].values() for op in ops.values()):
        responses = operation["responses"]
        responses.pop("422", None)
        for status, response in list(responses.items()):
            if not all(WHEN[name](settings) for name in response.pop("x-t2l-when", [])):
                del responses[status]
        if settings.auth == "on" and "401" in responses:
            operation["security"] = [{"bearer": []}]
    components = doc.setdefault("components", {})
    schemas = components.get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):  # referenced by the 422s only
        schemas.pop(name, None)
    if settings.auth == "on":
        components["securitySchemes"] = {"bearer": BEARER}
    for model, fields in limits(settings, vocab).items():
        for field, (kind, keywords) in ((f, rule) for f, rule in fields.items() if rule is not None):
            if not _constrain(schemas[model]["properties"][field], kind, keywords):
                raise ValueError(f"{model}.{field} has no {kind} schema to take {keywords}")
    for model, more in rules(settings).items():
        schemas[model].setdefault("allOf", []).extend(more)
    return doc


def max_tokens(settings: Settings) -> int:
    return min(settings.max_tokens_limit, settings.max_model_len)


def limits(settings: Settings, vocab: int | None) -> dict[str, dict[str, tuple[str, dict] | None]]:
    """model -> field -> (JSON type, keywords for every schema of that type in the field): the checks
    AdapterService.key_for and CompletionService._spec make against the settings, and prompt_ids' vocabulary."""
    task = ("string", {"maxLength": settings.max_description_chars})
    tokens = ("integer", {"maximum": max_tokens(settings)})
    n = ("integer", {"maximum": settings.max_n})
    seed = ("integer", {"maximum": 2**63 - 1})  # FastAPI writes bounds as floats, and float(2**63 - 1) is 2**63
    sampling = {"task": task, "max_tokens": tokens, "seed": seed}
    out = {"AdapterCreate": {"task": task}, "GenerateRequest": sampling,
           # a chat's max_tokens counts only without max_completion_tokens: `rules` says so
           "ChatCompletionRequest": {**sampling, "max_tokens": None, "max_completion_tokens": tokens, "n": n},
           "CompletionRequest": {**sampling, "n": n},
           "RefineRequest": {"task": task, "examples": ("array", {"maxItems": settings.refine_max_examples}),
                             "steps": ("integer", {"maximum": settings.refine_max_steps})}}
    if vocab is not None:
        out["CompletionRequest"]["prompt"] = ("integer", {"maximum": vocab - 1})  # its only integers: token ids
    return out


def rules(settings: Settings) -> dict[str, list[dict]]:
    """The 400s that hang on more than one field, as schema rules. description_in_prompt
    (CompletionService._prompt_description, prompts.prompt_ids): true needs a `task`; completions cannot put it into
    token ids; a chat that gets the description (true, or null when T2L_DESCRIPTION_IN_PROMPT is on) needs a user
    message to put it in, unless T2L_DESCRIPTION_PLACEMENT=system puts it in the system message. A chat's max_tokens is checked only when max_completion_tokens (which wins) is absent."""
    explicit = {"required": ["description_in_prompt"], "properties": {"description_in_prompt": {"const": True}}}
    switched_off = {"required": ["description_in_prompt"], "properties": {"description_in_prompt": {"const": False}}}
    effective = {"not": switched_off} if settings.description_in_prompt else explicit
    with_task = {"required": ["task"], "properties": {"task": {"type": "string"}}}
    needs_task = {"if": explicit, "then": with_task}
    user = {"type": "object", "required": ["role"], "properties": {"role": {"const": "user"}}}
    text_prompt = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    completion_tokens = {"required": ["max_completion_tokens"],
                         "properties": {"max_completion_tokens": {"type": "integer"}}}
    needs_user = [] if settings.description_placement == "system" else [
        {"if": {"allOf": [with_task, effective]}, "then": {"properties": {"messages": {"contains": user}}}}]
    return {"ChatCompletionRequest": [
                needs_task, *needs_user,
                {"if": completion_tokens, "else": {"properties": {"max_tokens": {"maximum": max_tokens(settings)}}}}],
            "CompletionRequest": [needs_task, {"if": explicit, "then": {"properties": {"prompt": text_prompt}}}]}


def _constrain(schema: Any, kind: str, keywords: dict) -> int:
    """Add `keywords` to every subschema of `schema` of JSON type `kind` (through anyOf branches and items); how
    many took them (none: the model changed under the table above)."""
    if isinstance(schema, list):
        return sum(_constrain(item, kind, keywords) for item in schema)
    if not isinstance(schema, dict):
        return 0
    done = 0
    if schema.get("type") == kind:
        schema.update(keywords)
        done = 1
    return done + sum(_constrain(schema[key], kind, keywords) for key in ("anyOf", "oneOf", "allOf", "items")
                      if key in schema)
