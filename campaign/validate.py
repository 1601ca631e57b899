"""Turning plain YAML data into a `Campaign`, with every problem located in the file.

All problems are found in one run: when parts of the file are invalid, the valid rest (every
audience, channel and message without an error) is still checked, so that schema, reference and
template problems come together rather than one kind per run.
"""

from __future__ import annotations

import copy
import ipaddress
import keyword
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
from pydantic_core import ErrorDetails

from campaign import platforms
from campaign.definition import Campaign
from campaign.errors import DefinitionError, Problem, Severity
from campaign.fields import MAX_TEMPLATE_FOLDER, check_template_folder
from campaign.model_errors import problem_of
from campaign.source import SourceMap
from campaign.terminal import quoted

NAMED_PARTS = ("audiences", "channels", "messages")
# Top-level keys that have a default: when invalid, the rest is checked with the default.
_OPTIONAL = ("utm", "max_lateness", "fallback_locale")

# Keys every channel may have; the others mean something for some platforms only
# (campaign.platforms says which) and would be silently ignored elsewhere.
_EVERY_CHANNEL = frozenset({"platform", "account", "credentials", "locales", "rate_limit"})
# Names the renderer puts in every template's context; a var of the same name would be hidden.
CONTEXT_NAMES = frozenset(
    {
        "campaign",
        "audience",
        "locale",
        "language",
        "channel",
        "platform",
        "hashtags",
        "link",
        "local_time",
        "scheduled_at",
        "occurrence",
    }
)


@dataclass(frozen=True)
class Checked:
    """What checking a campaign file found: the valid part of it, and every problem."""

    # The campaign without its invalid audiences, channels and messages; None when the file's
    # top level is itself broken (no window, no time zone, ...).
    campaign: Campaign | None
    problems: list[Problem]  # errors and warnings
    # Template folders the messages name, including messages left out for their errors.
    template_folders: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]


def parse_campaign(data: Any, source: SourceMap) -> Campaign:
    """Validate YAML data against the campaign models and the references between its parts.

    Raises:
        DefinitionError: with every problem found, each at its line.
    """
    checked = check_campaign(data, source)
    if checked.errors or checked.campaign is None:
        raise DefinitionError(checked.errors)
    return checked.campaign


def check_campaign(data: Any, source: SourceMap) -> Checked:
    """Every problem of a campaign file's data, and the campaign made of its valid parts."""
    if not isinstance(data, dict):
        return Checked(None, [source.problem((), "a campaign file must be a mapping of keys")])
    problems: list[Problem] = []
    errors: list[ErrorDetails] = []
    campaign: Campaign | None = None
    try:
        campaign = Campaign.model_validate(data)
    except pydantic.ValidationError as exc:
        errors = exc.errors()
        problems.extend(problem_of(error, source) for error in errors)
    references = list(check_references(data, source))
    problems.extend(references)
    if errors or references:
        campaign = _salvage(data, errors)
    if campaign is not None:
        problems.extend(check_meaning(campaign, source))
    return Checked(campaign, problems, _template_folders(data))


def check_references(data: dict[Any, Any], source: SourceMap) -> Iterable[Problem]:
    """Names used in one part of the file must be defined in another (read from the raw data,
    so that references are checked even when other parts of the file are invalid)."""
    audiences, channels, messages = (_part(data, name) for name in NAMED_PARTS)
    for name, audience in audiences.items():
        for index, channel in _listed(audience, "channels"):
            if channel not in channels:
                yield source.problem(
                    ("audiences", name, "channels", index),
                    f"channel {quoted(channel)} is not defined (known: {_known(channels)})",
                )
    for name, message in messages.items():
        for index, audience_name in _listed(message, "audiences"):
            if audience_name not in audiences:
                yield source.problem(
                    ("messages", name, "audiences", index),
                    f"audience {quoted(audience_name)} is not defined (known: {_known(audiences)})",
                )


def check_meaning(campaign: Campaign, source: SourceMap) -> Iterator[Problem]:
    """Values that are well-formed but would not do what was written: errors, or warnings."""
    for name, channel in campaign.channels.items():
        applies = _EVERY_CHANNEL | platforms.PLATFORMS[channel.platform].keys
        for key in sorted(channel.model_fields_set - applies):
            owners = [p.name for p in platforms.PLATFORMS.values() if key in p.keys]
            yield source.problem(
                ("channels", name, key),
                f"{key} does not apply to a {channel.platform} channel (only "
                f"{' and '.join(owners)} channels have it): remove it",
            )
        url = channel.api_url
        if url is not None and url.scheme == "http" and not _is_local(url.host or ""):
            yield _warning(
                source,
                ("channels", name, "api_url"),
                f"api_url uses http://, so the token would cross the network unencrypted: "
                f"use https://{url.host}",
            )
    for name, message in campaign.messages.items():
        for key in message.vars:
            if key in CONTEXT_NAMES:
                yield source.problem(
                    ("messages", name, "vars", key),
                    f"vars.{key} would be hidden by the template context's own '{key}': "
                    "choose another name",
                )
            elif not (key.isidentifier() and not keyword.iskeyword(key)):
                yield source.problem(
                    ("messages", name, "vars", key),
                    f"vars key {quoted(key)} cannot be used in a template: use letters, digits "
                    "and _ (e.g. " + "".join(c if c.isalnum() else "_" for c in key) + ")",
                )
    zones = [(("timezone",), campaign.timezone)] + [
        (("audiences", name, "timezone"), audience.timezone)
        for name, audience in campaign.audiences.items()
    ]
    for location, zone in zones:
        if zone and zone.startswith(("Etc/GMT+", "Etc/GMT-")):
            sign = "-" if zone[7] == "+" else "+"
            yield _warning(
                source,
                location,
                f"{zone} is UTC{sign}{zone[8:]} (POSIX signs are inverted): prefer a named zone "
                "such as Asia/Bishkek, which also follows its country's changes",
            )


def template_root(campaign: Campaign, campaign_file: Path) -> Path:
    """This campaign's template folder: `templates:` relative to the file, or the default."""
    relative = campaign.templates or f"../templates/{campaign.campaign}"
    return (campaign_file.parent / relative).resolve()


def project_root(campaign_file: Path) -> Path:
    """The project a campaign file belongs to, inside which its templates must stay.

    The nearest folder above the file that holds `.git` or `pyproject.toml`; without one, the
    folder that holds the file's folder (`config/..`), unless that is the filesystem root or the
    home folder, then the file's own folder.
    """
    folder = campaign_file.resolve().parent
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists() or (candidate / "pyproject.toml").is_file():
            return candidate
    above = folder.parent
    if above == folder or above == Path(above.anchor) or above == Path.home().resolve():
        return folder
    return above


def check_template_root(
    campaign: Campaign,
    campaign_file: Path,
    source: SourceMap,
    allowed: Sequence[Path] = (),
) -> Problem | None:
    """The template root must stay inside the project or a folder the user allowed: a campaign
    file from elsewhere must not make templates read `/proc/self/environ`."""
    root = template_root(campaign, campaign_file)
    project = project_root(campaign_file)
    if any(root.is_relative_to(folder.resolve()) for folder in (project, *allowed)):
        return None
    shown = os.path.relpath(root) if root.is_relative_to(Path.cwd()) else str(root)
    return source.problem(
        ("templates",),
        f"the template folder {shown} is outside the project {project} (after following "
        "links): keep templates inside the project, or allow the folder with "
        f"--allow-templates-in {shown}",
    )


def _salvage(data: dict[Any, Any], errors: list[ErrorDetails]) -> Campaign | None:
    """The campaign without the parts that have errors, or None when the top level is broken.

    References to a part left out are left out too, so that the rest can still be rendered.
    """
    data = copy.copy(data)
    for _ in range(5):
        for error in errors:
            if not _leave_out(data, tuple(error["loc"]), error["type"]):
                return None
        _drop_dangling_references(data)
        try:
            return Campaign.model_validate(data)
        except pydantic.ValidationError as exc:
            errors = exc.errors()
    return None


def _leave_out(data: dict[Any, Any], location: tuple[Any, ...], kind: str) -> bool:
    """Remove the part of `data` an error is in; False when the error is in no removable part."""
    if (
        len(location) >= 2
        and location[0] in NAMED_PARTS
        and isinstance(data.get(location[0]), dict)
    ):
        part = data[location[0]] = dict(data[location[0]])
        part.pop(location[1], None)
        return True
    if len(location) == 1 and (location[0] in _OPTIONAL or kind == "extra_forbidden"):
        data.pop(location[0], None)
        return True
    return False


def _drop_dangling_references(data: dict[Any, Any]) -> None:
    changed = True
    while changed:
        changed = False
        for part, listed, target in (
            ("audiences", "channels", "channels"),
            ("messages", "audiences", "audiences"),
        ):
            entries = data.get(part)
            known = data.get(target)
            if not isinstance(entries, dict) or not isinstance(known, dict):
                continue
            for name, entry in list(entries.items()):
                if not isinstance(entry, dict) or not isinstance(entry.get(listed), list):
                    continue
                kept = [item for item in entry[listed] if item in known]
                if len(kept) == len(entry[listed]):
                    continue
                changed = True
                entries = data[part] = dict(entries)
                if kept:
                    entries[name] = {**entry, listed: kept}
                else:
                    del entries[name]


def _part(data: dict[Any, Any], name: str) -> dict[Any, Any]:
    part = data.get(name)
    return part if isinstance(part, dict) else {}


def _listed(entry: Any, key: str) -> Iterator[tuple[int, Any]]:
    values = entry.get(key) if isinstance(entry, dict) else None
    if isinstance(values, list):
        yield from ((i, v) for i, v in enumerate(values) if isinstance(v, str | int))


def _template_folders(data: dict[Any, Any]) -> list[str]:
    folders = set()
    for message in _part(data, "messages").values():
        folder = message.get("template") if isinstance(message, dict) else None
        if not isinstance(folder, str) or len(folder) > MAX_TEMPLATE_FOLDER:
            continue  # reported by the schema
        try:
            folders.add(check_template_folder(folder))
        except ValueError:
            continue
    return sorted(folders)


def _is_local(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _warning(source: SourceMap, location: Sequence[str | int], message: str) -> Problem:
    return Problem(source.file, source.line_of(location), message, Severity.WARNING)


def _known(names: Iterable[Any]) -> str:
    return ", ".join(sorted(str(name) for name in names)) or "none"
