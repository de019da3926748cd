"""Typed specs: the one definition of every setting — its default, range and description.

pydantic v2 models (chosen over dataclasses because one model gives validation with messages
that name the key, defaults, cross-field validators, discriminated unions and the JSON schema,
where dataclasses would need a second library for each). Everything else is generated from
them: the defaults :func:`metainv.config.resolve` fills in, the JSON schema
(``schemas/config.schema.json``, :func:`config_json_schema`) and the configuration reference of
the docs.

- :mod:`metainv.specs.config`: the top level (data, tasks, denoiser, tables, claims, figures,
  resources);
- :mod:`metainv.specs.experiment`: one model per method, discriminated on ``method``.
"""

from __future__ import annotations

import json
import typing
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel, ValidationError

from metainv.errors import ConfigError
from metainv.specs.base import Spec
from metainv.specs.config import Config, ConfigSchema, Denoiser
from metainv.specs.experiment import DEFAULT_METHOD, METHODS

SCHEMA_FILE = "config.schema.json"


def config_json_schema() -> dict[str, Any]:
    """The JSON schema of a whole configuration, each experiment typed by its method."""
    schema = ConfigSchema.model_json_schema(mode="validation")
    # the specs pick the model by `method` (and model_from); a raw entry may fit several
    # members (a model_from UNet is also a valid UNet), so the schema asks for any one
    experiments = schema["properties"]["experiments"]["additionalProperties"]
    experiments["anyOf"] = experiments.pop("oneOf")
    _drop_model_defaults(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "metainv configuration"
    return schema


def _drop_model_defaults(schema: Any) -> None:
    """A field whose value is a nested model lists its defaults in that model's own section;
    the whole object repeated as the field's default would be a second copy."""
    if isinstance(schema, dict):
        if "$ref" in schema or "allOf" in schema:
            schema.pop("default", None)
        for value in schema.values():
            _drop_model_defaults(value)
    elif isinstance(schema, list):
        for value in schema:
            _drop_model_defaults(value)


def schema_path() -> Path:
    """The packaged, generated ``config.schema.json`` (tests check it is up to date)."""
    return Path(str(resources.files("metainv.schemas").joinpath(SCHEMA_FILE)))


def write_json_schema(path: str | Path | None = None) -> Path:
    """Regenerate ``config.schema.json`` (``python -m metainv.specs``)."""
    from metainv.atomic import write_text

    path = Path(path) if path is not None else schema_path()
    write_text(path, json.dumps(config_json_schema(), indent=1, ensure_ascii=False) + "\n")
    return path


def validate_model(model: type[BaseModel], data: Any, where: str) -> BaseModel:
    """``model.model_validate(data)``; a failure is a :class:`ConfigError` naming the key(s)."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(error_message(e, model, where)) from None


def error_message(error: ValidationError, model: type[BaseModel], where: str) -> str:
    """One line per distinct key: ``where.key.path: message`` (pydantic's message, the value
    given, and for an unknown key the allowed keys)."""
    lines: dict[str, list[str]] = {}
    for e in error.errors(include_url=False):
        path, owner = _walk(model, e["loc"])
        key = ".".join([where, *path]) if path else where
        if e["type"] == "extra_forbidden":
            name = path[-1] if path else "?"
            key = ".".join([where, *path[:-1]]) if path[:-1] else where
            allowed = ", ".join(owner.model_fields) if owner is not None else "?"
            msg = f"{name!r} was unexpected; allowed keys: {allowed}"
        elif e["type"] == "missing":
            msg = "required, missing"
        else:
            msg = f"{e['msg']} (got {_short(e.get('input'))})"
        lines.setdefault(key, [])
        if msg not in lines[key]:
            lines[key].append(msg)
    return "; ".join(f"{key}: {' or '.join(msgs)}" for key, msgs in lines.items())


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _walk(model: type[BaseModel], loc: Iterable) -> tuple[list[str], type[BaseModel] | None]:
    """The field names along a pydantic error location (union tags and type names dropped),
    and the model that owns the last one (for the allowed keys of an unknown key)."""
    path: list[str] = []
    current: Any = model
    owner: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            if path:
                path[-1] += f"[{part}]"
            current = _inner(current, list)
            continue
        cls = _model_of(current, part)
        if cls is not None and part not in cls.model_fields and _tag_of(current, part) is not None:
            current = _tag_of(current, part)  # a discriminated-union tag: not a key
            owner = current
            continue
        if cls is not None and part in cls.model_fields:
            owner = cls
            path.append(part)
            current = cls.model_fields[part].annotation
            continue
        mapping = _inner(current, dict)
        if mapping is not None:
            path.append(str(part))
            current = mapping
            continue
        if cls is not None:  # an unknown key of that model
            owner = cls
            path.append(str(part))
            current = None
            continue
        # a type name of a plain union member ('int', "literal['half']"): not a key
    return path, owner


def _members(annotation: Any) -> list[Any]:
    """The members of ``annotation`` with Annotated/Optional/Union unwrapped."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return [m for a in typing.get_args(annotation) for m in _members(a)]
    return [annotation]


def _model_of(annotation: Any, part: str) -> type[BaseModel] | None:
    """The one model among the members (or the model owning ``part`` among several)."""
    models = [m for m in _members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]
    for m in models:
        if part in m.model_fields:
            return m
    return models[0] if len(models) == 1 else None


def _tag_of(annotation: Any, tag: str) -> type[BaseModel] | None:
    """The union member a discriminator tag names (``blur`` → Blur, ``meta`` → MetaExperiment)."""
    for m in _members(annotation):
        if isinstance(m, type) and issubclass(m, BaseModel):
            for name in ("kind", "method"):
                f = m.model_fields.get(name)
                if f is not None and tag in typing.get_args(_members(f.annotation)[0]):
                    return m
            if tag == "classical" and "classical" in m.model_fields:
                return m
    return None


def _inner(annotation: Any, container: type) -> Any:
    for m in _members(annotation):
        if typing.get_origin(m) is container:
            args = typing.get_args(m)
            return args[-1] if args else Any
    return None


__all__ = ["Spec", "Config", "ConfigSchema", "Denoiser", "METHODS", "DEFAULT_METHOD", "config_json_schema",
           "schema_path", "write_json_schema", "validate_model", "error_message"]
