"""One config style for every trainer (sft, recon, lora) and the evaluation: a dataclass whose fields each carry a
one-line doc, loaded from YAML, then `--set key=value` overrides (a nested config's fields with dots:
hyper.rank=16), then the command line's own flags, which are shortcuts for fields (--out sets out_dir).

    python -m training.recon --config my-recon.yaml --set steps=3000 --out runs/recon-2
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping, Sequence, TypeVar

import yaml

C = TypeVar("C", bound="ConfigFile")


def parse_value(text: str) -> Any:
    """A --set value as YAML, except that numbers YAML 1.1 reads as strings (1e-4, 3E5) become floats."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def parse_sets(pairs: Sequence[str]) -> dict[str, Any]:
    """["key=value", ...] -> {key: parsed value}; ValueError on a pair without a key and "="."""
    bad = [pair for pair in pairs if "=" not in pair.strip("=")]
    if bad:
        raise ValueError(f"--set expects KEY=VALUE, got {bad}")
    return {k.strip(): parse_value(v) for k, _, v in (pair.partition("=") for pair in pairs)}


def _nested(cls) -> dict[str, type]:
    """Fields holding a config of their own (a dataclass made by default_factory): name -> its class."""
    return {f.name: f.default_factory for f in dataclasses.fields(cls)
            if isinstance(f.default_factory, type) and dataclasses.is_dataclass(f.default_factory)}


def _plain(value: Any) -> Any:
    """A config value as YAML/JSON writes it: nested configs as dicts, tuples as lists."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _tuples(cls, data: dict[str, Any]) -> dict[str, Any]:
    """Lists (YAML, --set) given for tuple-typed fields become tuples."""
    kinds = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    return {k: tuple(v) if isinstance(v, list) and kinds.get(k, "").startswith("tuple") else v
            for k, v in data.items()}


def build(cls, fields: Mapping[str, Any], **overrides: Any):
    """An instance of the dataclass `cls` from `fields` (a YAML mapping) and `overrides` (dotted names reach into
    nested configs: hyper.hidden=512). Unknown names are a ValueError; unset fields keep their defaults."""
    nested = _nested(cls)
    data = dict(fields)
    for name in nested:
        given = data.get(name) or {}
        data[name] = dict(_plain(given) if not isinstance(given, Mapping) else given)
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if rest and head in nested:
            data[head][rest] = value
        else:
            data[key] = value
    unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
    for name, kind in nested.items():
        merged = {**_plain(kind()), **data[name]}
        if hasattr(kind, "from_dict"):
            data[name] = kind.from_dict(merged)
        else:
            unknown = set(merged) - {f.name for f in dataclasses.fields(kind)}
            if unknown:
                raise ValueError(f"unknown {kind.__name__} fields in {name}: {sorted(unknown)}")
            data[name] = kind(**_tuples(kind, merged))
    return cls(**_tuples(cls, data))


class ConfigFile:
    """Mixin for a config dataclass: to_dict / from_dict / from_yaml in the shared style."""

    def to_dict(self) -> dict[str, Any]:
        """Every field, nested configs as dicts and tuples as lists (what the YAML and the provenance hold)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls: type[C], fields: Mapping[str, Any], **overrides: Any) -> C:
        """`overrides` may name nested fields with dots: hyper.hidden=512."""
        return build(cls, fields, **overrides)

    @classmethod
    def from_yaml(cls: type[C], path: str | os.PathLike, **overrides: Any) -> C:
        return cls.from_dict(yaml.safe_load(Path(path).read_text()) or {}, **overrides)


def add_config_arguments(parser: argparse.ArgumentParser, what: str, required: bool = False) -> None:
    """--config FILE and repeatable --set KEY=VALUE on `parser` (`what`: the config class, for the help)."""
    parser.add_argument("--config", required=required, help=f"YAML file of {what} fields")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override a field; nested with dots (hyper.rank=16); repeatable")


def config_from_args(cls: type[C], args: argparse.Namespace, parser: argparse.ArgumentParser | None,
                     shortcuts: Mapping[str, Any] = ()) -> C:
    """The config of a command line: its YAML (--config, when given), then --set, then the `shortcuts` {field:
    flag value} whose flag was given (value not None). A bad --set pair or field is a usage error of `parser`
    (without one, the ValueError propagates)."""
    try:
        overrides = parse_sets(args.sets)
        overrides.update({k: v for k, v in dict(shortcuts).items() if v is not None})
        return cls.from_yaml(args.config, **overrides) if args.config else cls.from_dict({}, **overrides)
    except ValueError as exc:
        if parser is None:
            raise
        parser.error(str(exc))


__all__ = ["ConfigFile", "add_config_arguments", "build", "config_from_args", "parse_sets", "parse_value"]
