"""The plan: every post a campaign file describes, rendered and checked, or every problem."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from campaign.definition import Campaign, Channel
from campaign.errors import DefinitionError, Problem, Severity, TemplateError
from campaign.locales import language_of
from campaign.post import Post, post_id
from campaign.render import Renderer, UtmDefaults
from campaign.rules import measure
from campaign.schedule import ScheduleProblem, Slot, slots
from campaign.source import SourceMap, load_yaml
from campaign.validate import parse_campaign, template_root


@dataclass(frozen=True)
class Plan:
    """A valid campaign and its posts, sorted by time. `warnings` are worth a look, not fatal."""

    campaign: Campaign
    posts: list[Post]
    warnings: list[Problem]
    source: Path


def load_campaign(path: str | Path) -> tuple[Campaign, SourceMap]:
    """Read and validate a campaign file (not its templates).

    Raises:
        DefinitionError: with every problem in the file.
    """
    path = Path(path)
    data, source = load_yaml(path, display=str(path))
    return parse_campaign(data, source), source


def load_plan(path: str | Path) -> Plan:
    """Every post of a campaign file, rendered and checked against its platform's rules.

    Raises:
        DefinitionError: with every problem found in the file, its templates and its posts.
    """
    path = Path(path)
    campaign, source = load_campaign(path)
    builder = _PlanBuilder(campaign, source, path)
    with _fewer_collections():
        posts = sorted(builder.posts(), key=lambda p: (p.scheduled_at, p.audience, p.channel, p.id))
    errors = [p for p in builder.problems if p.severity is Severity.ERROR]
    if errors:
        raise DefinitionError(errors)
    return Plan(campaign, posts, builder.problems, path)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Let the cyclic garbage collector run less often while a plan is built.

    A plan of 10,000 posts allocates about a million short-lived objects and keeps few; with the
    default threshold the collector runs thousands of times and its full passes scan every
    object the imports created, a tenth of a preview's time. Cycles are still collected, later.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(50_000, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def _display_root(path: Path, campaign: Campaign) -> str:
    """The template root as a person would type it from where they run the command."""
    root = template_root(campaign, path)
    try:
        return os.path.relpath(root)
    except ValueError:  # another drive on Windows
        return str(root)


class _PlanBuilder:
    """Expands one campaign into posts, collecting problems instead of stopping at the first."""

    def __init__(self, campaign: Campaign, source: SourceMap, path: Path) -> None:
        self.campaign = campaign
        self.source = source
        self.problems: list[Problem] = []
        self._seen_problems: set[Problem] = set()
        self._renderer = Renderer(
            template_root(campaign, path),
            display_root=_display_root(path, campaign),
            fallback_locale=campaign.fallback_locale,
        )
        self._utm = UtmDefaults(
            source=campaign.utm.source,
            medium=campaign.utm.medium,
            campaign=campaign.utm.campaign or campaign.campaign,
        )

    def report(self, problem: Problem) -> None:
        if problem not in self._seen_problems:
            self._seen_problems.add(problem)
            self.problems.append(problem)

    def posts(self) -> Iterator[Post]:
        seen: dict[str, tuple[str, int]] = {}
        # Two audiences sharing a channel would make one account say the same thing twice at once.
        said: dict[tuple[str, datetime, str], str] = {}
        for message_name in self.campaign.messages:
            for post, entry_index in self._message_posts(message_name):
                first_audience = said.setdefault(
                    (post.channel, post.scheduled_at, post.text), post.audience
                )
                if first_audience != post.audience:
                    self.report(
                        Problem(
                            self.source.file,
                            self.source.line_of(("messages", message_name)),
                            f"message '{message_name}' posts the same {post.locale} text on "
                            f"'{post.channel}' at {post.local_time:%Y-%m-%d %H:%M} for audiences "
                            f"'{first_audience}' and '{post.audience}': give one of them its own "
                            "channel or template",
                            Severity.WARNING,
                        )
                    )
                if post.id in seen:
                    _, other_index = seen[post.id]
                    self.report(
                        self.source.problem(
                            ("messages", message_name, "schedule", entry_index),
                            f"message '{message_name}' is scheduled twice for audience "
                            f"'{post.audience}' at {post.local_time:%Y-%m-%d %H:%M} (schedule "
                            f"entries {other_index + 1} and {entry_index + 1}): remove one",
                        )
                    )
                    continue
                seen[post.id] = (message_name, entry_index)
                yield post

    def _message_posts(self, name: str) -> Iterator[tuple[Post, int]]:
        message = self.campaign.messages[name]
        if not self._renderer.has_folder(message.template):
            self.report(
                self.source.problem(
                    ("messages", name, "template"),
                    f"template '{message.template}' not found: create the folder "
                    f"{self._renderer.display(message.template)}/ with a <locale>.j2 file "
                    f"(existing: {', '.join(self._renderer.folders()) or 'none'})",
                )
            )
            return
        for audience_name in message.audiences or list(self.campaign.audiences):
            routes = list(self._routes(name, audience_name))
            audience = self.campaign.audiences[audience_name]
            zone = ZoneInfo(self.campaign.audience_timezone(audience_name))
            for entry_index, entry in enumerate(message.schedule):
                try:
                    entry_slots = list(
                        slots(
                            entry,
                            zone=zone,
                            quiet=audience.quiet_hours,
                            start=self.campaign.start,
                            end=self.campaign.end,
                        )
                    )
                except ScheduleProblem as exc:
                    location = ("messages", name, "schedule", entry_index)
                    self.report(self.source.problem(location, f"message '{name}': {exc}"))
                    continue
                for occurrence, slot in enumerate(entry_slots):
                    for route in routes:
                        post = self._post(route, slot, occurrence)
                        if post is not None:
                            yield post, entry_index

    def _routes(self, message_name: str, audience_name: str) -> Iterator[_Route]:
        """Each locale and channel by which a message reaches an audience, resolved once."""
        message = self.campaign.messages[message_name]
        audience = self.campaign.audiences[audience_name]
        for locale in audience.locales:
            for channel_name in audience.channels:
                channel = self.campaign.channels[channel_name]
                if channel.locales is not None and not _serves(channel, locale):
                    continue
                try:
                    resolved = self._renderer.resolve(
                        message.template,
                        audience=audience_name,
                        locale=locale,
                        platform=channel.platform,
                    )
                except TemplateError as exc:
                    self.report(exc.problem())
                    continue
                warnings: tuple[str, ...] = ()
                if resolved.fallback_warning:
                    folder = self._renderer.display(message.template)
                    self.report(Problem(folder, None, resolved.fallback_warning, Severity.WARNING))
                    if resolved.locale in audience.locales:
                        continue  # the audience already gets the post in that language
                    warnings = (resolved.fallback_warning,)
                context: dict[str, Any] = {
                    **message.vars,
                    "campaign": {"id": self.campaign.campaign, "title": self.campaign.title},
                    "audience": {"name": audience_name, "description": audience.description},
                    "locale": locale,
                    "language": language_of(locale),
                    "channel": {"name": channel_name, "platform": channel.platform},
                    "platform": channel.platform,
                    "hashtags": list(message.hashtags),
                    "_utm": self._utm,
                }
                # Without a link, `link` stays undefined and fails loudly under StrictUndefined.
                if message.link is not None:
                    context["link"] = str(message.link)
                yield _Route(
                    message=message_name,
                    audience=audience_name,
                    locale=locale,
                    channel=channel_name,
                    platform=channel.platform,
                    max_length=channel.max_length,
                    timezone=self.campaign.audience_timezone(audience_name),
                    template=resolved.name,
                    written_in=resolved.locale,
                    context=context,
                    warnings=warnings,
                )

    def _post(self, route: _Route, slot: Slot, occurrence: int) -> Post | None:
        context = {
            **route.context,
            "local_time": slot.local_time,
            "scheduled_at": slot.scheduled_at,
            "occurrence": occurrence,  # 0-based number within its schedule entry, for series
        }
        try:
            text = self._renderer.render(route.template, context)
        except TemplateError as exc:
            self.report(exc.problem())
            return None
        counted = measure(text, route.platform, max_length=route.max_length)
        identity = post_id(
            self.campaign.campaign,
            route.message,
            route.audience,
            route.locale,
            route.channel,
            slot.scheduled_at,
        )
        for violation in counted.violations:
            # The advice names the template to shorten, or the platform's own one to add.
            template = self._renderer.display(route.template)
            self.report(
                Problem(
                    template,
                    None,
                    f"post {identity} (message '{route.message}', audience '{route.audience}', "
                    f"{route.locale}, channel '{route.channel}', "
                    f"{slot.local_time:%Y-%m-%d %H:%M %Z}): {violation.message(template)}",
                )
            )
        return Post(
            id=identity,
            campaign=self.campaign.campaign,
            message=route.message,
            audience=route.audience,
            locale=route.written_in,
            channel=route.channel,
            platform=route.platform,
            scheduled_at=slot.scheduled_at,
            local_time=slot.local_time,
            timezone=route.timezone,
            text=text,
            length=counted.length,
            limit=counted.limit,
            warnings=slot.warnings + route.warnings,
        )


@dataclass(frozen=True)
class _Route:
    """One way a message reaches an audience: a locale on a channel, with its template chosen."""

    message: str
    audience: str
    locale: str
    channel: str
    platform: str
    max_length: int | None
    timezone: str
    template: str
    written_in: str  # the template's language: differs from `locale` after a fallback
    context: dict[str, Any]
    warnings: tuple[str, ...]


def _serves(channel: Channel, locale: str) -> bool:
    """A channel limited to some locales takes a post in that locale or in its bare language."""
    assert channel.locales is not None
    return locale in channel.locales or language_of(locale) in channel.locales
