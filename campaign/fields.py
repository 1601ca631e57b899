"""The values a campaign file holds, each checked whole, with what was probably meant.

Every pattern is matched in full (`re.fullmatch`: `$` would accept a trailing newline, and
`"ky\\n"` would pass as a locale whose posts then vanish). YAML reads some unquoted words as
something else (`no` is false, `22:00` is the number 1320, `1:00:00` is 3600): a value of the
wrong kind is refused with what YAML made of it, never reinterpreted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from difflib import get_close_matches
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dateutil.rrule import rrulestr
from pydantic import AfterValidator, BeforeValidator, StringConstraints, WithJsonSchema

from campaign.locales import is_known_locale
from campaign.terminal import quoted

SLUG = r"[a-z0-9][a-z0-9_-]*"
ENV_NAME = r"[A-Z][A-Z0-9_]*"
LOCAL_DATETIME = r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?"
CLOCK = r"([01]\d|2[0-3]):([0-5]\d)"
QUIET_HOURS = rf"{CLOCK}-{CLOCK}"
DATE = r"\d{4}-\d{2}-\d{2}"
# A folder under the template root: plain names, optionally nested; never `..` nor absolute.
TEMPLATE_FOLDER = r"[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*"

MAX_NAME = 64
MAX_TEMPLATE_FOLDER = 200

# Names the operating system gives meaning to, which differ from machine to machine.
_MACHINE_ZONES = frozenset({"localtime", "Factory", "posixrules"})
# An access key id of AWS, the most common secret pasted where a variable name belongs.
_AWS_KEY_ID = re.compile(r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}")
_UNTIL_UTC = re.compile(r"UNTIL=(\d{8}T\d{6})Z", re.IGNORECASE)
_INTERVAL = re.compile(r"(?:^|;)INTERVAL=([^;]*)", re.IGNORECASE)


def check_timezone(name: str) -> str:
    if name in _MACHINE_ZONES or name.startswith(("posix/", "right/")):
        raise ValueError(
            f"{quoted(name)} means whatever the machine is set to, which differs between "
            "machines: name the zone (e.g. Asia/Bishkek, Europe/Belgrade)"
        )
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"{quoted(name)} is not an IANA time zone{_zone_hint(name)}") from None
    return name


def _zone_hint(name: str) -> str:
    zones = sorted(available_timezones())
    # Only a near-certain match: Europe/Pristina is not Europe/Paris (Kosovo uses Belgrade's).
    close = [z for z in zones if z.lower() == name.lower()] or get_close_matches(
        name, zones, n=1, cutoff=0.9
    )
    return f": did you mean {close[0]}?" if close else " (e.g. Asia/Bishkek, Europe/Belgrade)"


def check_locale(code: str) -> str:
    if not is_known_locale(code):
        raise ValueError(
            f"{quoted(code)} is not a known language code (ISO 639-1, optionally with a region "
            "or script: ky, ru, en, sq, sr, sr-Latn)"
        )
    return code


def check_slug(value: str) -> str:
    if not re.fullmatch(SLUG, value):
        raise ValueError(
            f"{quoted(value)} must be lower-case letters, digits, '-' or '_' (e.g. safe-migration)"
        )
    return value


def check_credentials(value: str) -> str:
    # Never echo the value: it may be the secret itself.
    if not re.fullmatch(ENV_NAME, value):
        raise ValueError(
            "credentials must name an environment variable (e.g. MASTODON_TOKEN), never hold "
            "the secret itself; put the secret in the environment or .env"
        )
    if _AWS_KEY_ID.fullmatch(value) or (len(value) >= 20 and "_" not in value):
        raise ValueError(
            "credentials looks like a secret (an access key), not the name of an environment "
            "variable: put the secret in the environment or .env under a name such as "
            "MASTODON_TOKEN, and write that name here"
        )
    return value


def local_datetime_text(value: Any) -> Any:
    """YAML reads an unquoted `2026-12-18 10:00:00` as a date-time; take it as written."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise ValueError(
                f"{value.isoformat()} has a UTC offset: write the audience's local time "
                "without one, e.g. '2026-12-18 10:00'"
            )
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, int | float | date):
        raise ValueError(f"{value!r} is not a local date-time: write 'YYYY-MM-DD HH:MM' in quotes")
    return value


def check_local_datetime(value: str) -> str:
    if not re.fullmatch(LOCAL_DATETIME, value):
        raise ValueError(f"{quoted(value)} is not a local date-time 'YYYY-MM-DD HH:MM'")
    try:
        datetime.fromisoformat(value.replace(" ", "T"))
    except ValueError:
        raise ValueError(f"{quoted(value)} is not a real date and time") from None
    return value


def check_rrule(value: str) -> str:
    if "DTSTART" in value.upper() or "\n" in value:
        raise ValueError("write only the RRULE part; it starts on the campaign start date")
    until = _UNTIL_UTC.search(value)
    if until:
        raise ValueError(
            f"UNTIL={until.group(1)}Z is in UTC, but a schedule is in each audience's local "
            f"time: write UNTIL={until.group(1)} without the Z"
        )
    interval = _INTERVAL.search(value)
    if interval and not (interval.group(1).isdigit() and int(interval.group(1)) >= 1):
        raise ValueError(
            f"INTERVAL={interval.group(1)} must be a whole number of at least 1 "
            "(INTERVAL=2 is every other time)"
        )
    problem = _rrule_problem(value)
    if problem is None:
        try:
            rrulestr(value, dtstart=datetime(2000, 1, 1))
        except (ValueError, TypeError, OverflowError, KeyError):
            # Every part was checked above; dateutil's own words would not say what to write.
            problem = "check each part against RFC 5545"
    if problem is not None:
        raise ValueError(
            f"{quoted(value)} is not an RFC 5545 RRULE: {problem}; a rule looks like "
            f"{RRULE_EXAMPLE}"
        )
    return value


def _rrule_problem(value: str) -> str | None:
    """What is wrong with the parts of an RRULE, in the words of RFC 5545; None if nothing.

    dateutil reads more than RFC 5545 allows and says what is wrong in its own terms
    ("not enough values to unpack"), or drops what it does not use (BYMONTHDAY=0).
    """
    text = value[len("RRULE:") :] if value.upper().startswith("RRULE:") else value
    if not text.strip():
        return "it is empty; write NAME=VALUE parts separated by ';'"
    parts: dict[str, str] = {}
    for part in text.split(";"):
        name, equals, written = part.partition("=")
        if not part:
            return "it has an empty part (';;' or a ';' at the end): remove the extra ';'"
        if part != part.strip():
            return f"{quoted(part)} has spaces: write the rule without spaces"
        if not equals or not re.fullmatch(r"[A-Za-z]+", name):
            return f"{quoted(part)} is not a NAME=VALUE part; parts are separated by ';'"
        name = name.upper()
        if name not in _RRULE_PARTS:
            close = get_close_matches(name, _RRULE_PARTS, n=1, cutoff=0.7)
            if close:
                return f"{name} is not a part of an RRULE (did you mean {close[0]}?)"
            return f"{name} is not a part of an RRULE (its parts are {', '.join(_RRULE_PARTS)})"
        if name in parts:
            return f"{name} is given twice: give it once"
        parts[name] = written
    if "FREQ" not in parts:
        return "it needs FREQ, how often it repeats"
    if "COUNT" in parts and "UNTIL" in parts:
        return "COUNT and UNTIL both say when it ends: keep one"
    for name, written in parts.items():
        problem = _RRULE_PARTS[name](written.upper())
        if problem is not None:
            return f"{name}={written} {problem}"
    if parts["FREQ"].upper() not in ("MONTHLY", "YEARLY") and re.search(
        r"\d", parts.get("BYDAY", "")
    ):
        return (
            f"BYDAY={parts['BYDAY']} numbers a weekday within a month or year, which "
            "needs FREQ=MONTHLY or FREQ=YEARLY"
        )
    return None


def _whole_numbers(
    low: int, high: int, what: str, *, negative: bool = False
) -> Callable[[str], str | None]:
    """A check of a comma-separated list of whole numbers in [low, high] (or [-high, -low])."""

    def check(written: str) -> str | None:
        for number in written.split(","):
            if not re.fullmatch(r"[+-]?\d{1,4}", number):
                break
            size = int(number)
            if low <= size <= high or (negative and -high <= size <= -low):
                continue
            break
        else:
            return None
        span = f"{low} to {high}" + (f" or -{high} to -{low}" if negative else "")
        return f"must be {what} {span}, separated by commas"

    return check


def _one_of(*choices: str) -> Callable[[str], str | None]:
    def check(written: str) -> str | None:
        if written in choices:
            return None
        return f"must be one of {', '.join(choices)}"

    return check


def _count(written: str) -> str | None:
    if written.isdigit() and int(written) >= 1:
        return None
    return "must be a whole number of at least 1 (COUNT=3 is three times)"


def _until(written: str) -> str | None:
    if re.fullmatch(r"\d{8}(T\d{6})?", written):
        try:
            datetime.strptime(written, "%Y%m%dT%H%M%S" if "T" in written else "%Y%m%d")
        except ValueError:
            return "is not a real date and time"
        return None
    return "must be a local date YYYYMMDD or date-time YYYYMMDDTHHMMSS (e.g. 20270331T235900)"


def _weekdays(written: str) -> str | None:
    if all(re.fullmatch(rf"(?:[+-]?[1-9]\d?)?{_WEEKDAY}", day) for day in written.split(",")):
        return None
    return (
        "must be days MO, TU, WE, TH, FR, SA or SU separated by commas, each optionally "
        "numbered within the month or year (1MO is the first Monday, -1FR the last Friday)"
    )


_WEEKDAY = "(?:MO|TU|WE|TH|FR|SA|SU)"
RRULE_EXAMPLE = "FREQ=WEEKLY;BYDAY=MO;BYHOUR=10"
# Each part of an RRULE (RFC 5545 3.3.10; BYEASTER is dateutil's) and how its value is checked.
_RRULE_PARTS: dict[str, Callable[[str], str | None]] = {
    "FREQ": _one_of("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY"),
    "INTERVAL": _count,  # checked before, with its own message
    "COUNT": _count,
    "UNTIL": _until,
    "BYMONTH": _whole_numbers(1, 12, "months"),
    "BYMONTHDAY": _whole_numbers(1, 31, "days of the month", negative=True),
    "BYYEARDAY": _whole_numbers(1, 366, "days of the year", negative=True),
    "BYWEEKNO": _whole_numbers(1, 53, "weeks of the year", negative=True),
    "BYDAY": _weekdays,
    "BYHOUR": _whole_numbers(0, 23, "hours"),
    "BYMINUTE": _whole_numbers(0, 59, "minutes"),
    "BYSECOND": _whole_numbers(0, 59, "seconds"),
    "BYSETPOS": _whole_numbers(1, 366, "positions", negative=True),
    "BYEASTER": _whole_numbers(0, 366, "days from Easter", negative=True),
    "WKST": _one_of("MO", "TU", "WE", "TH", "FR", "SA", "SU"),
}


def check_template_folder(value: str) -> str:
    if not re.fullmatch(TEMPLATE_FOLDER, value):
        raise ValueError(
            f"{quoted(value)} is not a template folder name: letters, digits, '-' and '_', "
            "in sub-folders separated by '/' (e.g. launch), inside the template root"
        )
    return value


def date_only(value: Any) -> Any:
    """A calendar date, written YYYY-MM-DD: never a number (`0` would be 1970) nor a time."""
    if isinstance(value, datetime):
        raise ValueError(f"{value.isoformat(sep=' ')} has a time: write only the date, YYYY-MM-DD")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        if not re.fullmatch(DATE, value):
            raise ValueError(f"{quoted(value)} is not a date YYYY-MM-DD")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{quoted(value)} is not a real date") from None
    raise ValueError(f"{value!r} is not a date: write it as YYYY-MM-DD (e.g. 2026-12-18)")


def duration(value: Any) -> Any:
    """An ISO 8601 duration (`PT1H`); a bare number says no unit, so it is refused."""
    if isinstance(value, bool | int | float):
        raise ValueError(
            f"{value!r} is a bare number, not a duration (YAML reads 1:00:00 unquoted as "
            "3600): write an ISO 8601 duration such as PT1H or PT30M"
        )
    return value


def positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero (e.g. PT1H, one hour)")
    return value


def clock(value: Any) -> Any:
    """A local wall-clock time HH:MM, never a number (YAML reads 22:00 unquoted as 1320)."""
    if isinstance(value, time):
        return value.replace(tzinfo=None)
    if isinstance(value, str):
        match = re.fullmatch(CLOCK, value.strip())
        if not match:
            raise ValueError(f"{quoted(value)} is not a time HH:MM (e.g. 22:00)")
        return time(int(match.group(1)), int(match.group(2)))
    raise ValueError(
        f"{value!r} is not a time: write it as 'HH:MM' in quotes (YAML reads 22:00 "
        "unquoted as the number 1320)"
    )


def _string(pattern: str | None = None, max_length: int | None = None, **extra: Any) -> Any:
    schema: dict[str, Any] = {"type": "string", **extra}
    if pattern is not None:
        schema["pattern"] = f"^{pattern}$"
    if max_length is not None:
        schema["maxLength"] = max_length
    return WithJsonSchema(schema)


TimeZoneName = Annotated[
    str,
    StringConstraints(max_length=MAX_NAME),
    AfterValidator(check_timezone),
    _string(max_length=MAX_NAME, examples=["Asia/Bishkek", "Europe/Belgrade"]),
]
Locale = Annotated[
    str,
    StringConstraints(max_length=MAX_NAME),
    AfterValidator(check_locale),
    _string(r"[a-z]{2}(-[A-Z][a-z]{3})?(-([A-Z]{2}|\d{3}))?", MAX_NAME),
]
Slug = Annotated[
    str,
    StringConstraints(max_length=MAX_NAME),
    AfterValidator(check_slug),
    _string(SLUG, MAX_NAME),
]
CredentialRef = Annotated[
    str,
    StringConstraints(max_length=MAX_NAME),
    AfterValidator(check_credentials),
    _string(ENV_NAME, MAX_NAME),
]
LocalDateTime = Annotated[
    str,
    BeforeValidator(local_datetime_text),
    StringConstraints(max_length=MAX_NAME),
    AfterValidator(check_local_datetime),
    _string(LOCAL_DATETIME, MAX_NAME),
]
RRule = Annotated[
    str,
    StringConstraints(max_length=1000),
    AfterValidator(check_rrule),
    _string(max_length=1000, examples=["FREQ=WEEKLY;BYDAY=TU;BYHOUR=19;BYMINUTE=0"]),
]
TemplateFolder = Annotated[
    str,
    StringConstraints(max_length=MAX_TEMPLATE_FOLDER),
    AfterValidator(check_template_folder),
    _string(TEMPLATE_FOLDER, MAX_TEMPLATE_FOLDER),
]
CalendarDate = Annotated[date, BeforeValidator(date_only)]
Duration = Annotated[timedelta, BeforeValidator(duration), AfterValidator(positive)]
Clock = Annotated[time, BeforeValidator(clock), _string(CLOCK)]
