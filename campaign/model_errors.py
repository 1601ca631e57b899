"""Pydantic's validation errors as `Problem`s at their line, in the words of a campaign file."""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any

import pydantic
from pydantic_core import ErrorDetails

from campaign.definition import Campaign
from campaign.errors import Problem
from campaign.source import SourceMap
from campaign.terminal import quoted

# Errors where a value YAML read as a number, a truth value or a date should have been text.
_WANTS_TEXT = frozenset({"string_type", "literal_error", "url_type", "enum"})


def problem_of(error: ErrorDetails, source: SourceMap) -> Problem:
    """One pydantic error as a Problem at its line, in the words of a campaign file."""
    location = tuple(error["loc"])
    kind = error["type"]
    if location and location[-1] == "[key]":
        location = location[:-1]
        return source.problem(location, f"name {quoted(location[-1])}: {_reason(error, source)}")
    where = _dotted(location)
    if kind == "extra_forbidden":
        allowed = _allowed_keys(location[:-1])
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        parent = _dotted(location[:-1]) or "the top level"
        return source.problem(location, f"unknown key {quoted(location[-1])} in {parent}{hint}")
    if kind == "missing":
        parent = _dotted(location[:-1]) or "the top level"
        return source.problem(location, f"{parent} needs the key '{location[-1]}'")
    if not where:
        return source.problem(location, _reason(error, source))
    return source.problem(location, f"{where}: {_reason(error, source)}")


def _reason(error: ErrorDetails, source: SourceMap) -> str:
    kind = error["type"]
    value = error.get("input")
    context = error.get("ctx", {})
    if kind.startswith("url_"):
        message = f"{_shown_url(value)} is not a full URL (write it as https://www.iom.int/...)"
    elif kind == "literal_error":
        message = f"{quoted(value)} is not allowed here; expected {context.get('expected', '')}"
    elif kind == "string_too_long":
        message = (
            f"a text of {len(value):,} characters is too long here "
            f"(at most {context.get('max_length'):,})"
        )
    elif kind == "dict_type":
        message = "should be a mapping of keys (key: value, one per line)"
    elif kind == "list_type":
        message = "should be a list: [a, b], or one '- item' per line"
    elif kind == "model_type":
        message = _not_a_mapping(value, error["loc"])
    else:
        message = error["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            message = message.removeprefix(prefix)
    written = source.written.get(tuple(error["loc"]))
    if written is not None and kind in _WANTS_TEXT and "quote" not in message:
        message += f" (YAML reads {quoted(written)} without quotes as {value!r}: put it in quotes)"
    return message


def _shown_url(value: Any) -> str:
    """An invalid URL for a message, without the password it may hold."""
    text = str(value)
    scheme, separator, rest = text.partition("://")
    if separator and "@" in rest.split("/", 1)[0]:
        text = f"{scheme}://***@{rest.split('@', 1)[1]}"
    return quoted(text)


def _dotted(location: Sequence[int | str]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _not_a_mapping(value: Any, location: Sequence[int | str]) -> str:
    """Why a value that is not a mapping cannot be the model that belongs at `location`."""
    keys = _allowed_keys(location)
    listing = ", ".join(keys[:4]) + (", ..." if len(keys) > 4 else "")
    of = f" of {listing}" if listing else ""
    # Never echo the value: a text here may be a secret written in the wrong place.
    return f"should be a mapping (key: value, one per line){of}, not {_kind_of(value)}"


def _kind_of(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "a list"
    return "a text" if isinstance(value, str) else "a value of another kind"


def _allowed_keys(location: Sequence[int | str]) -> list[str]:
    """The keys the model at `location` accepts, found by walking the model's field types."""
    model: Any = Campaign
    for part in location:
        if not (isinstance(model, type) and issubclass(model, pydantic.BaseModel)):
            model = _inner_model(model)
            if model is None:
                return []
            continue
        field_info = model.model_fields.get(str(part))
        if field_info is None:
            return []
        model = field_info.annotation
    model = _unwrap(model)
    if isinstance(model, type) and issubclass(model, pydantic.BaseModel):
        return list(model.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """`Audience | None` -> `Audience`; leaves containers alone."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return options[0] if len(options) == 1 else annotation
    return annotation


def _inner_model(annotation: Any) -> Any:
    """The model held by `dict[str, Model]` or `list[Model]`, for the next step of a location."""
    arguments = typing.get_args(_unwrap(annotation))
    return _unwrap(arguments[-1]) if arguments else None
