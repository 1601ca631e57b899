"""From schedule entries in local wall-clock time to UTC instants, DST-correct.

The rules, also in the README:
- `at` and `rrule` times are wall-clock times of each audience's time zone.
- A wall time that does not exist (the spring-forward gap) is an error for a one-off `at`; for a
  recurrence it moves forward by the length of the gap (02:30 -> 03:30), as RFC 5545 says, with a
  warning.
- A wall time that happens twice (fall back) means its first occurrence, the earlier instant, as
  RFC 5545 says, with a warning.
- A time inside the audience's quiet hours moves to the end of the quiet period, with a warning.
"""

from __future__ import annotations

import datetime as datetime_module
import re
import types
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import dateutil.rrule
from dateutil.rrule import rrule, rrulestr

from campaign.definition import QuietHours, ScheduleEntry
from campaign.fields import RRULE_EXAMPLE

_UNTIL = re.compile(r"(?:^|;)UNTIL=([^;]*)", re.IGNORECASE)
# A recurrence is bounded by the campaign window; FREQ=MINUTELY over months is a typo, not a plan.
MAX_OCCURRENCES_PER_ENTRY = 10_000


class ScheduleProblem(ValueError):
    """Raised when a schedule entry cannot be turned into instants; the message says why."""


@dataclass(frozen=True)
class Slot:
    """One moment a message goes out to one audience."""

    scheduled_at: datetime  # UTC
    local_time: datetime  # aware, in the audience's zone
    warnings: tuple[str, ...] = ()


@lru_cache(maxsize=256)  # one entry serves every audience of its message
def wall_times(entry: ScheduleEntry, start: date, end: date) -> tuple[datetime, ...]:
    """The naive local date-times an entry names within the campaign window [start, end].

    Raises:
        ScheduleProblem: the time is outside the window, or the recurrence is unusable.
    """
    first = datetime.combine(start, time())
    last = datetime.combine(end, time(23, 59, 59))
    if entry.at is not None:
        moment = datetime.fromisoformat(entry.at.replace(" ", "T"))
        if not first <= moment <= last:
            raise ScheduleProblem(
                f"{entry.at} is outside the campaign window {start} to {end}: "
                "move it inside or widen the window"
            )
        return (moment,)
    assert entry.rrule is not None  # guaranteed by ScheduleEntry's validator
    try:
        rule = rrulestr(entry.rrule, dtstart=first)
        times: list[datetime] = []
        for moment in _until_year(rule, last.year + 1):
            if moment > last:
                break
            times.append(moment)
            if len(times) > MAX_OCCURRENCES_PER_ENTRY:
                raise ScheduleProblem(
                    f"'{entry.rrule}' yields more than {MAX_OCCURRENCES_PER_ENTRY} times in the "
                    "campaign window: check FREQ and INTERVAL, or add COUNT"
                )
    except (ValueError, TypeError) as exc:
        if isinstance(exc, ScheduleProblem):
            raise
        raise ScheduleProblem(
            f"'{entry.rrule}' cannot be expanded: check it against RFC 5545 (e.g. {RRULE_EXAMPLE})"
        ) from None
    if not times:
        raise ScheduleProblem(
            f"'{entry.rrule}' yields no time within {start} to {end}: "
            f"{_why_no_time(entry.rrule, first, last)}"
        )
    return tuple(times)


def _why_no_time(text: str, first: datetime, last: datetime) -> str:
    """What to change in a rule that yields no time in [first, last], by what stops it.

    COUNT is at least 1 (campaign.fields), and the rule starts at `first`, so COUNT never
    empties a rule: either UNTIL ends it before its first time, or its BY... parts never meet
    in the window.
    """
    until = _UNTIL.search(text)
    if until is not None:
        rest = _UNTIL.sub("", text).lstrip(";")
        unbounded = rrulestr(rest, dtstart=first)
        first_time = next(iter(_until_year(unbounded, last.year + 1)), None)
        if first_time is not None and first_time <= last:
            return (
                f"UNTIL={until.group(1)} ends it before its first time, "
                f"{first_time:%Y-%m-%d %H:%M}: move UNTIL later or remove it"
            )
    return "its BY... parts never meet in the window (30 February never comes): check them"


def _until_year(rule: Any, last_year: int) -> Iterator[datetime]:
    """The occurrences of `rule` that dateutil finds before it passes the end of `last_year`.

    A rule that never matches (`BYMONTH=2;BYMONTHDAY=30`) yields nothing, and dateutil keeps
    looking until the year 9999: ten seconds for FREQ=SECONDLY. dateutil ends its search at
    `datetime.MAXYEAR`, read from its module's globals; running its own iteration with a view of
    those globals in which MAXYEAR is `last_year` bounds the search by the campaign window
    without changing what the rule means. Should dateutil change shape, the unbounded iteration
    is used.
    """
    iterate = vars(rrule)["_iter"]  # see the docstring
    if not isinstance(rule, rrule) or "datetime" not in iterate.__code__.co_names:
        yield from rule
        return
    calendar_view = types.SimpleNamespace(**vars(datetime_module))
    calendar_view.MAXYEAR = min(last_year, datetime_module.MAXYEAR)
    bounded = types.FunctionType(
        iterate.__code__,
        {**vars(dateutil.rrule), "datetime": calendar_view},
        iterate.__name__,
        iterate.__defaults__,
        iterate.__closure__,
    )
    yield from bounded(rule)


def resolve(wall: datetime, zone: ZoneInfo, *, recurring: bool) -> Slot:
    """The instant of a wall-clock time in `zone`, by the module's DST rules.

    Raises:
        ScheduleProblem: a one-off time falls in a DST gap.
    """
    earlier = wall.replace(tzinfo=zone, fold=0)
    later = wall.replace(tzinfo=zone, fold=1)
    utc = earlier.astimezone(UTC)
    local = utc.astimezone(zone)
    warnings: list[str] = []
    if local.replace(tzinfo=None) != wall:
        # fold=0 in a gap uses the offset from before the gap, which lands `gap` later: RFC 5545.
        if not recurring:
            raise ScheduleProblem(
                f"{wall:%Y-%m-%d %H:%M} does not exist in {zone.key} (clocks move forward "
                f"then): pick {local:%H:%M} or another time"
            )
        warnings.append(
            f"{wall:%Y-%m-%d %H:%M} does not exist in {zone.key} (DST gap); moved to {local:%H:%M}"
        )
    elif earlier.utcoffset() != later.utcoffset():
        warnings.append(
            f"{wall:%Y-%m-%d %H:%M} happens twice in {zone.key} (DST ends); using the first, "
            f"{local:%H:%M%z}"
        )
    return Slot(utc, local, tuple(warnings))


def respect_quiet_hours(slot: Slot, quiet: QuietHours | None, zone: ZoneInfo) -> Slot:
    """Move a slot that falls in quiet hours to the end of the quiet period."""
    if quiet is None or not quiet.contains(slot.local_time.time()):
        return slot
    local = slot.local_time
    day = local.date() if local.time() < quiet.end else local.date() + timedelta(days=1)
    moved = resolve(datetime.combine(day, quiet.end), zone, recurring=True)
    when = "the next day " if day != local.date() else ""
    note = f"{local:%H:%M} is in quiet hours {quiet}; moved to {when}{moved.local_time:%H:%M}"
    return Slot(moved.scheduled_at, moved.local_time, (*slot.warnings, *moved.warnings, note))


def occurrences(entry: ScheduleEntry, start: date, end: date) -> int:
    """How many slots `slots` makes of `entry` for any audience (quiet hours and DST move times,
    never drop them); 0 for an entry that cannot be expanded, which `slots` then reports."""
    if entry.rrule is None:
        return 1
    try:
        return len(wall_times(entry, start, end))
    except ScheduleProblem:
        return 0


def slots(
    entry: ScheduleEntry,
    *,
    zone: ZoneInfo,
    quiet: QuietHours | None,
    start: date,
    end: date,
    launch: datetime | None = None,
) -> Iterator[Slot]:
    """Every slot of one schedule entry for one audience; `launch` anchors `after` entries.

    Raises:
        ScheduleProblem: see `wall_times` and `resolve`; an `after` outside the window.
        ValueError: an `after` entry without a launch.
    """
    if entry.after is not None:
        if launch is None:
            raise ValueError("an entry timed from the launch needs the launch")
        instant = (launch + entry.after).astimezone(UTC)
        local = instant.astimezone(zone)
        if not start <= local.date() <= end:
            raise ScheduleProblem(
                f"{local:%Y-%m-%d %H:%M} (launch + {entry.after}) is outside the campaign "
                f"window {start} to {end}: widen the window"
            )
        yield respect_quiet_hours(Slot(instant, local), quiet, zone)
        return
    recurring = entry.rrule is not None
    for wall in wall_times(entry, start, end):
        yield respect_quiet_hours(resolve(wall, zone, recurring=recurring), quiet, zone)
