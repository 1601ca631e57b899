"""Turning plain YAML data into a `Campaign`, with every problem located in the file."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pydantic
from pydantic_core import ErrorDetails

from campaign.definition import Campaign
from campaign.errors import DefinitionError, Problem
from campaign.source import SourceMap


def parse_campaign(data: Any, source: SourceMap) -> Campaign:
    """Validate YAML data against the campaign models and the references between its parts.

    Raises:
        DefinitionError: with every problem found, each at its line.
    """
    if not isinstance(data, dict):
        raise DefinitionError([source.problem((), "a campaign file must be a mapping of keys")])
    try:
        campaign = Campaign.model_validate(data)
    except pydantic.ValidationError as exc:
        raise DefinitionError([_problem(error, source) for error in exc.errors()]) from None
    problems = list(check_references(campaign, source))
    if problems:
        raise DefinitionError(problems)
    return campaign


def check_references(campaign: Campaign, source: SourceMap) -> Iterable[Problem]:
    """Names used in one part of the file must be defined in another."""
    for name, audience in campaign.audiences.items():
        for index, channel in enumerate(audience.channels):
            if channel not in campaign.channels:
                yield source.problem(
                    ("audiences", name, "channels", index),
                    f"channel '{channel}' is not defined (known: {_known(campaign.channels)})",
                )
    for name, message in campaign.messages.items():
        for index, audience_name in enumerate(message.audiences or ()):
            if audience_name not in campaign.audiences:
                yield source.problem(
                    ("messages", name, "audiences", index),
                    f"audience '{audience_name}' is not defined "
                    f"(known: {_known(campaign.audiences)})",
                )


def template_root(campaign: Campaign, campaign_file: Path) -> Path:
    """This campaign's template folder: `templates:` relative to the file, or the default."""
    relative = campaign.templates or f"../templates/{campaign.campaign}"
    return (campaign_file.parent / relative).resolve()


def _known(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def _problem(error: ErrorDetails, source: SourceMap) -> Problem:
    location = tuple(error["loc"])
    kind = error["type"]
    if location and location[-1] == "[key]":
        location = location[:-1]
        return source.problem(location, f"name '{location[-1]}': {_reason(error)}")
    where = _dotted(location)
    if kind == "extra_forbidden":
        allowed = _allowed_keys(location[:-1])
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        parent = _dotted(location[:-1]) or "the top level"
        return source.problem(location, f"unknown key '{location[-1]}' in {parent}{hint}")
    if kind == "missing":
        parent = _dotted(location[:-1]) or "the top level"
        return source.problem(location, f"{parent} needs the key '{location[-1]}'")
    if not where:
        return source.problem(location, _reason(error))
    return source.problem(location, f"{where}: {_reason(error)}")


def _reason(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind.startswith("url_"):
        return f"'{error['input']}' is not a full URL (write it as https://www.iom.int/...)"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"'{error['input']}' is not allowed here; expected {expected}"
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _dotted(location: Sequence[int | str]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _allowed_keys(location: Sequence[int | str]) -> list[str]:
    """The keys the model at `location` accepts, found by walking the model's field types."""
    model: Any = Campaign
    for part in location:
        if not (isinstance(model, type) and issubclass(model, pydantic.BaseModel)):
            model = _inner_model(model)
            if model is None:
                return []
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        model = field.annotation
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
