"""The plan: every post a campaign file describes, rendered and checked, or every problem."""

from __future__ import annotations

import gc
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from campaign.coverage import Route, Status
from campaign.definition import Audience, Campaign, Channel
from campaign.errors import DefinitionError, Problem, Severity, TemplateError
from campaign.filters import UtmDefaults
from campaign.locales import language_of
from campaign.post import Post, post_id
from campaign.render import Renderer
from campaign.rules import measure
from campaign.schedule import ScheduleProblem, Slot, occurrences, slots
from campaign.source import SourceMap, load_yaml
from campaign.validate import check_campaign, check_template_root, parse_campaign, template_root

# Posts one campaign file may make. A million renders in under a minute in well under 1 GB and
# is stored by either backend (BENCHMARKS.md); a bigger campaign is several files.
MAX_POSTS = 1_000_000


@dataclass(frozen=True)
class Plan:
    """A campaign and its posts, sorted by time. `warnings` are worth a look, not fatal.

    A plan with `errors` can be shown (every post that could be rendered, including those its
    platform would refuse, and `routes` saying which are missing) but never applied.
    """

    campaign: Campaign
    posts: list[Post]
    warnings: list[Problem]
    source: Path
    errors: list[Problem] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)  # every route, in campaign order
    template_root: str = ""  # as a person would type it; post templates are relative to it


def load_campaign(path: str | Path) -> tuple[Campaign, SourceMap]:
    """Read and validate a campaign file (not its templates).

    Raises:
        DefinitionError: with every problem in the file.
    """
    path = Path(path)
    data, source = load_yaml(path, display=str(path))
    return parse_campaign(data, source), source


def load_plan(
    path: str | Path,
    *,
    launched_at: datetime | None = None,
    allowed_template_roots: Sequence[Path] = (),
) -> Plan:
    """Every post of a campaign file, rendered and checked against its platform's rules.

    `launched_at` anchors schedule entries written relative to the launch (`after:`): when the
    campaign was first applied; None means not launched yet, shown as if launched now.
    Templates must stay inside the campaign's project or one of `allowed_template_roots`.

    Raises:
        DefinitionError: with every problem found in the file, its templates and its posts.
    """
    plan = build_plan(path, launched_at=launched_at, allowed_template_roots=allowed_template_roots)
    if plan.errors:
        raise DefinitionError(plan.errors)
    return plan


def build_plan(
    path: str | Path,
    *,
    launched_at: datetime | None = None,
    allowed_template_roots: Sequence[Path] = (),
) -> Plan:
    """Every post that can be rendered, with every problem found: what a preview shows.

    Raises:
        DefinitionError: when the campaign file itself is invalid (then there is no plan).
    """
    path = Path(path)
    data, source = load_yaml(path, display=str(path))
    checked = check_campaign(data, source)
    problems = checked.problems
    campaign = checked.campaign
    if campaign is not None:
        outside = check_template_root(campaign, path, source, allowed_template_roots)
        if outside is not None:
            problems, campaign = [*problems, outside], None
    if campaign is None:
        raise DefinitionError([p for p in problems if p.severity is Severity.ERROR])
    # Even with errors in some parts, the valid rest is rendered: every problem in one run.
    builder = _PlanBuilder(campaign, source, path, launched_at)
    for problem in problems:
        builder.report(problem)
    builder.check_templates(checked.template_folders)
    with _fewer_collections():
        posts = sorted(builder.posts(), key=lambda p: (p.scheduled_at, p.audience, p.channel, p.id))
    errors = [p for p in builder.problems if p.severity is Severity.ERROR]
    warnings = [p for p in builder.problems if p.severity is not Severity.ERROR]
    return Plan(
        campaign,
        posts,
        warnings,
        path,
        errors=errors,
        routes=builder.routes(),
        template_root=_display_root(path, campaign),
    )


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

    def __init__(
        self, campaign: Campaign, source: SourceMap, path: Path, launched_at: datetime | None
    ) -> None:
        self.campaign = campaign
        self.source = source
        self.launched = launched_at is not None
        self.launch = (launched_at or datetime.now(UTC)).replace(microsecond=0)
        self.problems: list[Problem] = []
        self._seen_problems: set[Problem] = set()
        self._renderer = Renderer(
            template_root(campaign, path),
            display_root=_display_root(path, campaign),
            fallback_locale=campaign.fallback_locale,
            utm=UtmDefaults(
                source=campaign.utm.source,
                medium=campaign.utm.medium,
                campaign=campaign.utm.campaign or campaign.campaign,
            ),
        )
        # Every route as resolved, and its tally [posts, failed, refused], for the matrix.
        self._resolved: dict[tuple[str, str, str, str], Route] = {}
        self._tallies: dict[tuple[str, str, str, str], list[int]] = {}

    def routes(self) -> list[Route]:
        """Every route of the campaign, with what became of its posts."""
        routes = []
        for key, route in self._resolved.items():
            posts, failed, refused = self._tallies[key]
            routes.append(
                Route(
                    route.message,
                    route.audience,
                    route.locale,
                    route.channel,
                    route.platform,
                    route.status,
                    route.template,
                    route.written_in,
                    posts=posts,
                    failed=failed,
                    refused=refused,
                )
            )
        return routes

    def _record_missing(
        self, message: str, audience: str, locale: str, channel_name: str, channel: Channel
    ) -> None:
        """A route with no template to render it: a gap in the matrix."""
        route = Route(
            message, audience, locale, channel_name, channel.platform, Status.MISSING, None, None
        )
        self._record(route)

    def _record(self, route: Route) -> list[int]:
        key = (route.message, route.audience, route.locale, route.channel)
        self._resolved[key] = route
        return self._tallies.setdefault(key, [0, 0, 0])

    def check_templates(self, folders: list[str]) -> None:
        """Compile every template in these folders: an unused one is checked too."""
        for folder in folders:
            for problem in self._renderer.check_folder(folder):
                self.report(problem)

    def report(self, problem: Problem) -> None:
        if problem not in self._seen_problems:
            self._seen_problems.add(problem)
            self.problems.append(problem)

    def posts(self) -> Iterator[Post]:
        work = self._counted_work()
        seen: dict[str, tuple[str, int]] = {}
        # Two audiences sharing a channel would make one account say the same thing twice at once.
        said: dict[tuple[str, datetime, str], str] = {}
        for message_name, entry_index, post in self._rendered(work):
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

    def _counted_work(self) -> list[_Work]:
        """Every message's routes to each audience and its schedule, counted before anything is
        rendered: a file of a few lines can describe millions of posts, which would take minutes
        and gigabytes to render. Past MAX_POSTS the campaign is refused, and nothing rendered."""
        work: list[_Work] = []
        total = 0
        campaign = self.campaign
        for name, message in campaign.messages.items():
            if not self._renderer.has_folder(message.template):
                self._report_missing_folder(name)
                continue
            for audience_name in message.audiences or list(campaign.audiences):
                routes = list(self._routes(name, audience_name))
                work.append((name, audience_name, routes))
                times = sum(occurrences(e, campaign.start, campaign.end) for e in message.schedule)
                total += len(routes) * times
                if total > MAX_POSTS:
                    self.report(
                        self.source.problem(
                            ("messages", name),
                            f"the campaign makes more than {MAX_POSTS:,} posts (counted up to "
                            f"message '{name}'): split it into several campaign files, or "
                            "shorten its window or schedules",
                        )
                    )
                    return []
        return work

    def _report_missing_folder(self, name: str) -> None:
        message = self.campaign.messages[name]
        self.report(
            self.source.problem(
                ("messages", name, "template"),
                f"template '{message.template}' not found: create the folder "
                f"{self._renderer.display(message.template)}/ with a <locale>.j2 file "
                f"(existing: {', '.join(self._renderer.folders()) or 'none'})",
            )
        )
        for audience_name in message.audiences or list(self.campaign.audiences):
            for locale, channel_name, channel in self._pairs(audience_name):
                self._record_missing(name, audience_name, locale, channel_name, channel)

    def _rendered(self, work: list[_Work]) -> Iterator[tuple[str, int, Post]]:
        """Each post of the work: its message, its schedule entry's index, and the post."""
        for message_name, audience_name, routes in work:
            for entry_index, entry_slots in self._times(message_name, audience_name):
                for occurrence, slot in enumerate(entry_slots):
                    for route in routes:
                        post = self._post(route, slot, occurrence)
                        if post is not None:
                            yield message_name, entry_index, post

    def _times(self, name: str, audience_name: str) -> Iterator[tuple[int, list[Slot]]]:
        """Each schedule entry of a message for one audience: its index, and its times."""
        message = self.campaign.messages[name]
        audience = self.campaign.audiences[audience_name]
        zone = ZoneInfo(self.campaign.audience_timezone(audience_name))
        for entry_index, entry in enumerate(message.schedule):
            if entry.after is not None and not self.launched:
                self.report(
                    Problem(
                        self.source.file,
                        self.source.line_of(("messages", name, "schedule", entry_index)),
                        f"message '{name}' is timed from the campaign's launch (its first "
                        "apply or run); not launched yet, its times are shown as if "
                        "launched now",
                        Severity.WARNING,
                    )
                )
            try:
                entry_slots = list(
                    slots(
                        entry,
                        zone=zone,
                        quiet=audience.quiet_hours,
                        start=self.campaign.start,
                        end=self.campaign.end,
                        launch=self.launch,
                    )
                )
            except ScheduleProblem as exc:
                location = ("messages", name, "schedule", entry_index)
                self.report(self.source.problem(location, f"message '{name}': {exc}"))
                continue
            self._report_moves(name, audience_name, entry_index, entry_slots)
            yield entry_index, entry_slots

    def _report_moves(
        self, message: str, audience: str, entry_index: int, entry_slots: list[Slot]
    ) -> None:
        """What preview shows on each moved post (quiet hours, DST), once per kind for validate."""
        line = self.source.line_of(("messages", message, "schedule", entry_index))
        moves = Counter(warning for slot in entry_slots for warning in slot.warnings)
        for warning, times in moves.items():
            count = f" ({times} times)" if times > 1 else ""
            self.report(
                Problem(
                    self.source.file,
                    line,
                    f"message '{message}', audience '{audience}': {warning}{count}",
                    Severity.WARNING,
                )
            )

    def _routes(self, message_name: str, audience_name: str) -> Iterator[_Route]:
        """Each locale and channel by which a message reaches an audience, resolved once."""
        message = self.campaign.messages[message_name]
        audience = self.campaign.audiences[audience_name]
        for locale, channel_name, channel in self._pairs(audience_name):
            try:
                resolved = self._renderer.resolve(
                    message.template,
                    audience=audience_name,
                    locale=locale,
                    platform=channel.platform,
                )
            except TemplateError as exc:
                self.report(exc.problem())
                self._record_missing(message_name, audience_name, locale, channel_name, channel)
                continue
            tally = self._record(
                Route(
                    message_name,
                    audience_name,
                    locale,
                    channel_name,
                    channel.platform,
                    Status.FALLBACK if resolved.fallback_warning else Status.PRESENT,
                    resolved.name,
                    resolved.locale,
                )
            )
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
                template_file=self._renderer.display(resolved.name),
                written_in=resolved.locale,
                context=context,
                warnings=warnings,
                tally=tally,
            )

    def _pairs(self, audience_name: str) -> Iterator[tuple[str, str, Channel]]:
        """Each locale of an audience with each of its channels that takes that locale."""
        audience: Audience = self.campaign.audiences[audience_name]
        for locale in audience.locales:
            for channel_name in audience.channels:
                channel = self.campaign.channels[channel_name]
                if channel.locales is None or _serves(channel, locale):
                    yield locale, channel_name, channel

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
            route.tally[1] += 1
            return None
        counted = measure(text, route.platform, max_length=route.max_length)
        route.tally[0] += 1
        errors: tuple[str, ...] = ()
        if counted.violations:
            # The advice names the template to shorten, or the platform's own one to add.
            errors = tuple(
                violation.message(route.template_file) for violation in counted.violations
            )
            route.tally[2] += 1
        identity = post_id(
            self.campaign.campaign,
            route.message,
            route.audience,
            route.locale,
            route.channel,
            slot.scheduled_at,
        )
        for error in errors:
            self.report(
                Problem(
                    route.template_file,
                    None,
                    f"post {identity} (message '{route.message}', audience '{route.audience}', "
                    f"{route.locale}, channel '{route.channel}', "
                    f"{slot.local_time:%Y-%m-%d %H:%M %Z}): {error}",
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
            template=route.template,
            errors=errors,
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
    template_file: str  # the template as a person would type its path
    written_in: str  # the template's language: differs from `locale` after a fallback
    context: dict[str, Any]
    warnings: tuple[str, ...]
    tally: list[int]  # [posts, failed, refused], shared with the builder's record of the route


# A message, an audience it reaches, and its routes to that audience.
_Work = tuple[str, str, list[_Route]]


def _serves(channel: Channel, locale: str) -> bool:
    """A channel limited to some locales takes a post in that locale or in its bare language."""
    assert channel.locales is not None
    return locale in channel.locales or language_of(locale) in channel.locales
