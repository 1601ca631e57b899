"""`campaign schema` describes the files we ship: checked with a real JSON Schema validator."""

from __future__ import annotations

import contextlib
import datetime
import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from campaign.cli import main

ROOT = Path(__file__).parent.parent
SHIPPED = sorted((ROOT / "config").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    """The printed schema, as an editor's YAML language server would use it."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["schema"]) == 0
    schema = json.loads(printed.getvalue())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def as_editor_reads(path: Path) -> Any:
    """YAML as JSON: editors read YAML 1.2, where an unquoted 2026-12-18 is text, not a date."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(key): plain(item) for key, item in value.items()}
        if isinstance(value, list):
            return [plain(item) for item in value]
        if isinstance(value, datetime.date):
            return value.isoformat()
        return value

    return plain(yaml.safe_load(path.read_text(encoding="utf-8")))


def test_the_repository_ships_campaigns() -> None:
    assert len(SHIPPED) >= 2


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_campaign_matches_the_printed_schema(
    path: Path, validator: jsonschema.Draft202012Validator
) -> None:
    errors = [
        f"{'.'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(as_editor_reads(path))
    ]
    assert errors == []


@pytest.mark.parametrize(
    ("location", "value"),
    [
        (("owner",), "comms team"),
        (("audiences", "migrants-kg", "quiet_hours"), 2200),
        (("audiences", "migrants-kg", "quiet_hours"), "22:00 to 08:00"),
        (("campaign",), "Safe Migration"),
        (("channels", "telegram-kg", "credentials"), "telegram token"),
    ],
)
def test_the_schema_refuses_what_validate_refuses(
    location: tuple[str, ...], value: Any, validator: jsonschema.Draft202012Validator
) -> None:
    # Given the small valid campaign of the tests, which the schema accepts
    data = as_editor_reads(Path(__file__).parent / "campaigns" / "good.yaml")
    assert list(validator.iter_errors(data)) == []

    # When one value is wrong
    parent = data
    for key in location[:-1]:
        parent = parent[key]
    parent[location[-1]] = value

    # Then the editor's schema finds it, where it is (an unknown key: at its mapping)
    errors = list(validator.iter_errors(data))
    assert errors
    where = location if location != ("owner",) else ()
    assert tuple(errors[0].absolute_path) == where
