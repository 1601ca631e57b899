"""Hostile and broken input: never a traceback, a hang, a silently different campaign or a leak.

One test per class of bad input (issue 11), each with the examples that were reproduced. Every
example is a campaign file generated here from one small valid campaign; each test runs the real
`campaign validate` over all its examples in one subprocess, with its memory capped and a
generous timeout, so that a traceback, a hang or a memory blow-up fails the test. Each example
must end in `file:line: what is wrong and what to do`, and the run in exit status 1.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

MEMORY_LIMIT = 768 * 1024 * 1024  # a validate run needs about 100 MB
TIMEOUT = 90  # seconds for a whole class; each template has a 2 s budget per render

BASE = """\
campaign: hostile
title: Hostile input
timezone: Asia/Bishkek
start: 2026-12-18
end: 2027-03-31
templates: ../templates
max_lateness: PT1H
audiences:
  kg:
    locales: [ky]
    quiet_hours: "22:00-08:00"
    channels: [out]
channels:
  out:
    platform: outbox
messages:
  launch:
    template: launch
    vars: {topic: services}
    schedule:
      - at: "2026-12-18 10:00"
"""


@dataclass(frozen=True)
class Found:
    """What `campaign validate` said about one file."""

    status: int
    lines: list[str]  # its `file:line: message` lines, for the file and its templates
    text: str  # the campaign file

    def at(self, line: int) -> str:
        """The messages about the campaign file at `line`, joined."""
        prefix = re.compile(rf"^config/[\w.-]+\.yaml:{line}: ")
        return "\n".join(prefix.sub("", entry) for entry in self.lines if prefix.match(entry))


class Corpus:
    """Campaign files and templates in a project folder, validated together."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "config").mkdir()
        self.template("launch/ky.j2", "Салам! {{ topic }}")
        self.files: dict[str, str] = {}

    def campaign(self, name: str, text: str) -> str:
        self.files[name] = text
        (self.root / "config" / f"{name}.yaml").write_bytes(text.encode("utf-8", "surrogateescape"))
        return text

    def edit(self, name: str, old: str, new: str) -> str:
        assert old in BASE, old
        return self.campaign(name, BASE.replace(old, new, 1))

    def template(self, path: str, text: str | bytes) -> Path:
        target = self.root / "templates" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, str):
            text = text.encode("utf-8")
        target.write_bytes(text)
        return target

    def with_template(self, name: str, text: str) -> None:
        """A campaign whose message renders `text`, from templates/<name>/ky.j2."""
        self.template(f"{name}/ky.j2", text)
        self.edit(name, "template: launch", f"template: {name}")

    def validate(self, *extra: str, timeout: float = TIMEOUT) -> dict[str, Found]:
        """Run `campaign validate` on every file; what it said, per file."""
        result = subprocess.run(
            [sys.executable, "-m", "campaign", "validate", *extra]
            + [f"config/{name}.yaml" for name in self.files],
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # in the order printed: each file's problems, then its end
            timeout=timeout,
            preexec_fn=_limit_memory,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        output = result.stdout.decode("utf-8", "replace")
        assert "Traceback" not in output, output
        assert "\x1b" not in output, "a raw escape reached the terminal"
        found, block = {}, []
        for line in output.splitlines():
            end = re.match(r"config/([\w.-]+)\.yaml: (ok, |\d+ error\(s\)$)", line)
            if end is None:
                block.append(line)
                continue
            name = end.group(1)
            found[name] = Found(0 if end.group(2) == "ok, " else 1, block, self.files[name])
            block = []
        assert set(found) == set(self.files), output
        assert result.returncode == max(f.status for f in found.values()), output
        return found


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.fixture
def corpus(tmp_path: Path) -> Corpus:
    return Corpus(tmp_path)


def expect(found: Found, written: str | None, *phrases: str) -> None:
    """The file failed, with a message containing every phrase, at the line where `written` is
    (anywhere when None)."""
    assert found.status == 1, found.lines
    message = found.at(line_of(found.text, written)) if written else "\n".join(found.lines)
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in {found.lines}"


def expect_in_template(found: Found, name: str, message: str, line: int = 2) -> None:
    """The file failed, with a message at `line` of its template templates/<name>/ky.j2."""
    assert found.status == 1, found.lines
    where = f"templates/{name}/ky.j2:{line}: "
    assert any(where in entry and message in entry for entry in found.lines), found.lines


# -- never a traceback, never a hang: the campaign file ---------------------------------------


def test_values_yaml_cannot_build_are_errors_at_their_line(corpus: Corpus) -> None:
    for name, start in [
        ("feb-30", "2026-02-30"),
        ("month-13", "2026-13-01"),
        ("year-0", "0000-01-01"),
    ]:
        corpus.edit(name, "start: 2026-12-18", f"start: {start}")
    corpus.edit("huge-number", "max_lateness: PT1H", "max_lateness: " + "9" * 5000)

    found = corpus.validate()

    expect(found["feb-30"], "start:", "'2026-02-30' is not a real date", "put it in quotes")
    expect(found["month-13"], "start:", "'2026-13-01' is not a real date")
    expect(found["year-0"], "start:", "'0000-01-01' is not a real date")
    expect(found["huge-number"], "max_lateness:", "is too large: write a smaller one")


def test_control_characters_are_refused_where_they_are(corpus: Corpus) -> None:
    corpus.edit("nul", "title: Hostile input", "title: Hostile\x00input")
    corpus.edit("escape", "title: Hostile input", "title: Hostile\x1b]0;pwned\x07input")
    corpus.edit("escaped", "title: Hostile input", 'title: "Hostile\\e[2Jinput"')
    corpus.edit("nul-in-vars", "vars: {topic: services}", 'vars: {topic: "serv\\0ices"}')

    found = corpus.validate()

    expect(found["nul"], "title:", "control character \\x00 is not allowed", "remove it")
    expect(found["escape"], "title:", "control character \\x1b is not allowed")
    expect(found["escaped"], "title:", "holds the control character(s) \\x1b: remove them")
    expect(found["nul-in-vars"], "vars:", "holds the control character(s) \\x00")


def test_nesting_and_aliases_without_end_are_refused(corpus: Corpus) -> None:
    deep = "[" * 5000 + "]" * 5000
    corpus.edit("deep-list", "vars: {topic: services}", f"vars: {{topic: {deep}}}")
    corpus.edit("deep-map", "vars: {topic: services}", "vars: " + "{a: " * 3000 + "1" + "}" * 3000)
    corpus.edit("self-alias", "vars: {topic: services}", "vars: {topic: &a [*a]}")
    corpus.edit("merge-loop", "vars: {topic: services}", "vars: &m {topic: x, <<: *m}")

    found = corpus.validate()

    expect(found["deep-list"], "vars:", "nests deeper than 50 levels: flatten")
    expect(found["deep-map"], "vars:", "nests deeper than 50 levels")
    expect(
        found["self-alias"], "vars:", "refers to a collection that contains it", "remove the loop"
    )
    assert found["merge-loop"].status == 1  # PyYAML itself refuses an alias to an open anchor


def test_alias_bombs_are_refused_before_they_expand(corpus: Corpus) -> None:
    levels = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]
    bomb = "vars:\n" + "".join(f"      {level}\n" for level in levels)
    corpus.edit("laughs", "vars: {topic: services}\n", bomb)

    found = corpus.validate()

    expect(found["laughs"], None, "aliases expand the file to more than 100,000 values")


def test_files_that_are_not_utf8_text_are_named(corpus: Corpus) -> None:
    corpus.edit("latin-1", "title: Hostile input", "title: Hostile \udce9 input")
    corpus.campaign("utf-16", "")
    (corpus.root / "config" / "utf-16.yaml").write_bytes(BASE.encode("utf-16"))
    corpus.template("latin-template/ky.j2", "Caf\xe9 {{ topic }}".encode("latin-1"))
    corpus.edit("latin-template", "template: launch", "template: latin-template")
    corpus.campaign("pipe", "")
    (corpus.root / "config" / "pipe.yaml").unlink()
    os.mkfifo(corpus.root / "config" / "pipe.yaml")  # no writer: reading it would wait forever
    corpus.template("fifo-template/ky.j2", "").unlink()
    os.mkfifo(corpus.root / "templates" / "fifo-template" / "ky.j2")
    corpus.edit("fifo-template", "template: launch", "template: fifo-template")

    found = corpus.validate()

    expect(found["latin-1"], "title:", "not UTF-8 text (byte 0xe9", "save it as UTF-8")
    expect(found["utf-16"], None, "not UTF-8 text", "save it as UTF-8")
    assert any(
        "latin-template/ky.j2" in line and "not UTF-8 text (byte 0xe9 on line 1)" in line
        for line in found["latin-template"].lines
    ), found["latin-template"].lines
    expect(found["pipe"], None, "is not a regular file (a pipe or a device)")
    expect(found["fifo-template"], None, "template 'fifo-template/ky.j2' is not a regular file")


def test_oversized_values_are_refused_with_their_size_not_echoed(corpus: Corpus) -> None:
    corpus.edit("big-title", "title: Hostile input", "title: " + "x" * 1_000_000)
    corpus.edit("big-slug", "campaign: hostile", "campaign: " + "y" * 1_000_000)
    corpus.edit("long-template-name", "template: launch", "template: " + "w" * 300)
    corpus.edit("long-folder-name", "template: launch", "template: " + "/".join(["v" * 150] * 2))
    corpus.campaign("huge-file", BASE + "# " + "z" * 3_000_000 + "\n")
    corpus.with_template("long-include", 'Salam\n{% include "x" * 300 %}')

    found = corpus.validate()

    expect(found["big-title"], "title:", "a value of 1,000,000 characters is too long")
    expect(found["big-slug"], "campaign:", "a value of 1,000,000 characters is too long")
    expect(
        found["long-template-name"], "template:", "300 characters is too long here (at most 200)"
    )
    expect(found["long-folder-name"], "template:", "301 characters is too long")
    expect(found["huge-file"], None, "larger than 2,097,152 bytes", "move long texts")
    expect_in_template(
        found["long-include"], "long-include", "cannot be opened: File name too long"
    )
    for result in found.values():
        assert all(len(line) < 1000 for line in result.lines), "a value was echoed whole"


def test_a_few_lines_describing_millions_of_posts_are_refused_before_rendering(
    corpus: Corpus,
) -> None:
    def many(name: str, channels: int, messages: int, rule: str, end: str) -> None:
        names = ", ".join(f"c{number}" for number in range(channels))
        text = BASE.replace("end: 2027-03-31", f"end: {end}").replace("[out]", f"[{names}]")
        text = text.replace("  out:\n    platform: outbox\n", "".join(
            f"  c{number}: {{platform: outbox}}\n" for number in range(channels)
        ))  # fmt: skip
        text = text[: text.index("  launch:")] + "".join(
            f"  m{number}:\n    template: launch\n    schedule: [{{rrule: '{rule}'}}]\n"
            for number in range(messages)
        )
        corpus.campaign(name, text)

    # 7.3 million posts over 100 channels; 1.2 million over one channel, hour by hour: rendered,
    # either took minutes and gigabytes (the memory limit of this test is 768 MB).
    many("wide", 100, 20, "FREQ=DAILY;BYHOUR=10;BYMINUTE=0", "2036-12-01")
    many("long", 1, 120, "FREQ=HOURLY;BYMINUTE=0", "2028-02-01")

    found = corpus.validate(timeout=30)

    expect(found["wide"], "  m2:", "more than 1,000,000 posts", "split it into several")
    expect(found["long"], "  m101:", "more than 1,000,000 posts", "shorten its window")


def test_quiet_hours_written_as_numbers_say_how_to_write_them(corpus: Corpus) -> None:
    quiet = 'quiet_hours: "22:00-08:00"'
    corpus.edit("number", quiet, "quiet_hours: 2200")
    corpus.edit("sexagesimal", quiet, "quiet_hours: {start: 22:00, end: 08:00}")
    corpus.edit("seconds", quiet, "quiet_hours: {start: 79200, end: 28800}")

    found = corpus.validate()

    expect(found["number"], "quiet_hours:", "2200 is not a period", '"HH:MM-HH:MM" in quotes')
    expect(found["sexagesimal"], "quiet_hours:", "1320 is not a time", "YAML reads 22:00 unquoted")
    expect(found["seconds"], "quiet_hours:", "79200 is not a time", "'HH:MM' in quotes")


def test_a_list_or_a_scalar_where_a_mapping_belongs_says_what_belongs_there(
    corpus: Corpus,
) -> None:
    corpus.edit("quiet-list", 'quiet_hours: "22:00-08:00"', "quiet_hours: [22, 8]")
    corpus.edit("utm-list", "max_lateness: PT1H", "max_lateness: PT1H\nutm: [a, b]")
    corpus.edit("limit-list", "platform: outbox", "platform: outbox\n    rate_limit: [1, 60]")
    corpus.edit("entry-text", '- at: "2026-12-18 10:00"', '- "2026-12-18 10:00"')
    corpus.edit("channel-text", "  out:\n    platform: outbox", "  out: S3CRET-T0KEN")

    found = corpus.validate()

    expect(
        found["quiet-list"],
        "quiet_hours:",
        "[22, 8] is not a period",
        '"HH:MM-HH:MM" in quotes (e.g. "22:00-08:00")',
    )
    expect(
        found["utm-list"], "utm:", "should be a mapping", "of source, medium, campaign, not a list"
    )
    expect(found["limit-list"], "rate_limit:", "a mapping", "of requests, per_seconds, not a list")
    expect(
        found["entry-text"], '- "2026', "a mapping (key: value, one per line) of at, rrule, after"
    )
    expect(found["channel-text"], "out:", "a mapping", "of platform, account", "not a text")
    assert "S3CRET" not in "\n".join(found["channel-text"].lines)
    for result in found.values():
        assert "valid dictionary" not in "\n".join(result.lines), result.lines


def test_recurrences_are_searched_only_through_the_campaign_window(corpus: Corpus) -> None:
    at = 'at: "2026-12-18 10:00"'
    never = {
        "secondly-feb-30": "FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30",
        "minutely-feb-30": "FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30",
        "daily-apr-31": "FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31;BYHOUR=9",
    }
    for name, rule in never.items():
        corpus.edit(name, at, f'rrule: "{rule}"')
    corpus.edit("interval-0", at, 'rrule: "FREQ=DAILY;INTERVAL=0;BYHOUR=9;BYMINUTE=0"')
    corpus.edit("until-utc", at, 'rrule: "FREQ=DAILY;BYHOUR=9;UNTIL=20270101T000000Z"')

    # Searched to the year 9999, these took 10 to 20 s each; within the window, milliseconds.
    found = corpus.validate(timeout=15)

    for name in never:
        expect(
            found[name], "- rrule:", "yields no time within 2026-12-18 to 2027-03-31", "30 February"
        )
    expect(found["interval-0"], "- rrule:", "INTERVAL=0 must be a whole number of at least 1")
    expect(found["until-utc"], "- rrule:", "UNTIL=20270101T000000Z is in UTC", "without the Z")


def test_malformed_recurrences_say_what_an_rrule_looks_like(corpus: Corpus) -> None:
    at = 'at: "2026-12-18 10:00"'
    malformed = {
        "garbage": ("garbage", "'garbage' is not a NAME=VALUE part"),
        "empty": ("", "it is empty"),
        "empty-freq": ("FREQ=", "FREQ= must be one of YEARLY, MONTHLY, WEEKLY"),
        "hour-x": ("FREQ=DAILY;BYHOUR=x", "BYHOUR=x must be hours 0 to 23"),
        "hour-99": ("FREQ=DAILY;BYHOUR=99", "BYHOUR=99 must be hours 0 to 23"),
        "unknown-part": ("FOO=1", "FOO is not a part of an RRULE (its parts are FREQ,"),
        "typo-part": ("FREQ=DAILY;BYHOURS=9", "(did you mean BYHOUR?)"),
        "no-freq": ("BYHOUR=9", "it needs FREQ"),
        "trailing-semicolon": ("FREQ=DAILY;BYHOUR=9;", "remove the extra ';'"),
        "weekday": ("FREQ=WEEKLY;BYDAY=TUESDAY", "BYDAY=TUESDAY must be days MO, TU"),
        "month-day-0": ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY=0 must be days of the month"),
        "until-text": ("FREQ=DAILY;UNTIL=monday", "UNTIL=monday must be a local date"),
        "count-and-until": ("FREQ=DAILY;COUNT=2;UNTIL=20270101", "keep one"),
    }
    for name, (rule, _) in malformed.items():
        corpus.edit(name, at, f'rrule: "{rule}"')

    found = corpus.validate()

    for name, (rule, message) in malformed.items():
        expect(
            found[name],
            "- rrule:",
            f"'{rule}' is not an RFC 5545 RRULE: ",
            message,
            "a rule looks like FREQ=WEEKLY;BYDAY=MO;BYHOUR=10",
        )
        assert "unpack" not in found[name].at(line_of(found[name].text, "- rrule:"))


# -- templates: bounded in time and memory -----------------------------------------------------


def test_templates_cannot_compute_without_bound_at_compile_or_render_time(
    corpus: Corpus,
) -> None:
    attacks = {
        "power": ("{{ 9**(9**9) }}", "'**' would make a number of more than 1,000 digits"),
        "repeat": ('{{ "x" * 10**9 }}', "'*' would build about 1,000,000,000 characters"),
        "center": ('{{ "x"|center(10**9) }}', "|center with 1,000,000,000"),
        "percent": ('{{ "%0999999999d"|format(1) }}', "'%' with a width of 999,999,999"),
        "huge-number": ("{{ 10**5000 }}", "more than 1,000 digits"),
        "method": ('{{ "x".ljust(1000000000) }}', ".ljust() with 1,000,000,000"),
        "brace-format": ('{{ "{:>999999999}".format(1) }}', "format with a width of 999,999,999"),
    }
    for name, (text, _) in attacks.items():
        corpus.with_template(name, "Salam\n" + text)

    found = corpus.validate()

    for name, (_, message) in attacks.items():
        expect_in_template(found[name], name, message)


def test_numbers_past_the_largest_fraction_are_errors_at_their_line(corpus: Corpus) -> None:
    too_large = "would make a number too large to compute (beyond about 1.8e308)"
    attacks = {
        "float-power": ("{{ 10.0**400 }}", f"'**' {too_large}"),
        "float-times": ("{{ 1e308 * 10 }}", f"'*' {too_large}"),
        "int-times-float": ("{{ 10**400 * 1.0 }}", f"'*' {too_large}"),
        "float-plus": ("{% set x = 1e308 %}{{ x + x }}", f"'+' {too_large}"),
        "divide": ("{{ 10**400 / 3 }}", "a number too large to compute"),
        "format": ('{{ "%f"|format(10**400) }}', f"|format {too_large}"),
        "literal": ("{{ 1e400 }}", "writes inf, which is no number a post can show"),
        "from-text": ('{{ "nan"|float }}', "writes nan, which is no number a post can show"),
    }
    for name, (text, _) in attacks.items():
        corpus.with_template(name, "Salam\n" + text)

    found = corpus.validate()

    for name, (_, message) in attacks.items():
        expect_in_template(found[name], name, message)
        assert not any("Overflow" in line or "inf' is not" in line for line in found[name].lines)


def test_templates_nested_too_deeply_are_syntax_errors_at_their_line(corpus: Corpus) -> None:
    attacks = {
        "blocks": "{% if 1 %}" * 100 + "x" + "{% endif %}" * 100,
        "parentheses": "{{ " + "(" * 300 + "1" + ")" * 300 + " }}",
        "operators": "{{ " + "+".join(["1"] * 3000) + " }}",
        "macros": "{% macro m() %}" * 200 + "{% endmacro %}" * 200,
    }
    for name, text in attacks.items():
        corpus.with_template(name, "Salam\n" + text)

    found = corpus.validate()

    for name in attacks:
        expect_in_template(found[name], name, "syntax error: too deeply nested or too complex")


def test_templates_that_loop_or_recurse_without_end_are_stopped(corpus: Corpus) -> None:
    attacks = {
        "loops": (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "rendering one post took longer than 2 s",
        ),
        "output": (
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            "writes more than 200,000 characters for one post",
        ),
        "macro-output": (
            "{% macro m() %}{% for i in range(100000) %}{% for j in range(100000) %}x"
            "{% endfor %}{% endfor %}{% endmacro %}{{ m() }}",
            "writes more than 200,000 characters",
        ),
        "doubling": (
            '{% set ns = namespace(s="x") %}{% for i in range(64) %}'
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
            "'~' would build about 131,072 characters",
        ),
        "list-doubling": (
            "{% set a = [1] %}" + "{% set a = [a, a] %}" * 40 + "{{ a }}",
            "a list or dict builds a value of about",
        ),
        "exponential-macro": (
            "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
            "{{ f(60) }}",
            "rendering one post took longer than 2 s",
        ),
        "self-include": ('{% include "self-include/ky.j2" %}', "calls itself without end"),
        "recursive-macro": ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "calls itself"),
        "lipsum": ("{{ lipsum(100000) }}", "would give a different text in every preview"),
    }
    for name, (text, _) in attacks.items():
        corpus.with_template(name, "Salam\n" + text)

    found = corpus.validate()

    for name, (_, message) in attacks.items():
        expect_in_template(found[name], name, message)


# -- never silently different -----------------------------------------------------------------


def test_a_trailing_newline_is_never_accepted(corpus: Corpus) -> None:
    corpus.edit("locale", "locales: [ky]", 'locales: ["ky\\n"]')
    corpus.campaign(
        "credentials",
        BASE.replace("platform: outbox", 'platform: telegram\n    credentials: "X_TOKEN\\n"'),
    )
    corpus.edit("slug", "campaign: hostile", 'campaign: "hostile\\n"')
    corpus.campaign("audience-key", BASE.replace("  kg:", '  "kg\\n":'))

    found = corpus.validate()

    expect(found["locale"], "locales:", "'ky\\n' is not a known language code")
    expect(found["credentials"], "credentials:", "credentials must name an environment variable")
    expect(found["slug"], "campaign:", "'hostile\\n' must be lower-case letters")
    expect(found["audience-key"], '"kg\\n":', "name 'kg\\n'")


def test_dubious_values_are_errors_that_say_what_was_meant(corpus: Corpus) -> None:
    corpus.edit("unix-time", "start: 2026-12-18", "start: 0")
    corpus.edit("negative-lateness", "max_lateness: PT1H", "max_lateness: -PT1H")
    corpus.edit("bare-lateness", "max_lateness: PT1H", "max_lateness: 1:00:00")
    corpus.edit("empty-quiet", '"22:00-08:00"', '"22:00-22:00"')
    corpus.edit("no-audiences", "template: launch", "template: launch\n    audiences: []")
    corpus.campaign(
        "directory-on-mastodon",
        BASE.replace(
            "platform: outbox",
            "platform: mastodon\n    api_url: https://mastodon.example\n"
            "    credentials: MASTODON_TOKEN\n    directory: outbox/",
        ),
    )
    corpus.edit("localtime", "timezone: Asia/Bishkek", "timezone: localtime")
    corpus.campaign(
        "aws-key",
        BASE.replace(
            "platform: outbox", "platform: telegram\n    credentials: AKIAIOSFODNN7EXAMPLE"
        ),
    )
    corpus.with_template("nul-in-text", 'Salam {{ "\\x00" }}')
    corpus.edit("hidden-var", "vars: {topic: services}", "vars: {platform: telegram}")

    found = corpus.validate()

    expect(found["unix-time"], "start:", "0 is not a date: write it as YYYY-MM-DD")
    expect(found["negative-lateness"], "max_lateness:", "must be longer than zero")
    expect(found["bare-lateness"], "max_lateness:", "3600 is a bare number", "PT1H")
    expect(found["empty-quiet"], "quiet_hours:", "starts and ends at the same time")
    expect(
        found["no-audiences"], "audiences: []", "audiences: [] names no audience", "remove the key"
    )
    expect(
        found["directory-on-mastodon"],
        "directory:",
        "directory does not apply to a mastodon channel",
    )
    expect(found["localtime"], "timezone:", "'localtime' means whatever the machine is set to")
    expect(found["aws-key"], "credentials:", "looks like a secret")
    assert "AKIAIOSFODNN7EXAMPLE" not in "\n".join(found["aws-key"].lines)
    expect(found["nul-in-text"], None, "the text holds the control character(s) \\x00")
    expect(found["hidden-var"], "vars:", "vars.platform would be hidden")


def test_templates_are_deterministic_and_reach_no_internals(corpus: Corpus) -> None:
    attacks = {
        "random": ("{{ [1, 2, 3] | random }}", "would give a different text in every preview"),
        "lipsum": ("{{ lipsum(2) }}", "pick by the post's number instead"),
        "clock": ("{{ local_time.now() }}", "access to attribute 'now'"),
        "machine-zone": ("{{ local_time.astimezone() }}", "attribute 'astimezone'"),
        "undefined-in-list": ("{{ [no_such_var] }}", "'no_such_var' is undefined"),
        "utm-internals": ("{{ _utm }}", "'_utm' is undefined"),
        "function-repr": ("{{ range }}", "writes a function into the text"),
        "object-repr": ("{{ cycler(1, 2) }}", "writes a Cycler object into the text"),
        "growing-context": (
            '{% set _ = hashtags.append("x") %}{{ hashtags }}',
            "access to attribute 'append' of 'list' object is unsafe",
        ),
    }
    for name, (text, _) in attacks.items():
        corpus.with_template(name, "Salam\n" + text)

    found = corpus.validate()

    for name, (_, message) in attacks.items():
        expect_in_template(found[name], name, message)


def test_templates_stay_inside_their_folder(
    corpus: Corpus, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = Path(tmp_path_factory.mktemp("outside"))
    (outside / "secret.txt").write_text("TOKEN=do-not-publish")
    (outside / "launch").mkdir()
    (outside / "launch" / "ky.j2").write_text("{{ topic }}")
    corpus.edit("root", "templates: ../templates", "templates: /")
    corpus.edit("up", "templates: ../templates", "templates: ../../../../../..")
    corpus.edit("linked-root", "templates: ../templates", "templates: ../linked")
    (corpus.root / "linked").symlink_to(outside)
    (corpus.root / "templates" / "leak").mkdir()
    (corpus.root / "templates" / "leak" / "ky.j2").symlink_to(outside / "secret.txt")
    corpus.edit("linked-file", "template: launch", "template: leak")
    corpus.with_template("include-absolute", '{% include "/proc/self/environ" %}')
    corpus.template("include-link/secret.j2", "")
    (corpus.root / "templates" / "include-link" / "secret.j2").unlink()
    (corpus.root / "templates" / "include-link" / "secret.j2").symlink_to(outside / "secret.txt")
    corpus.with_template("include-link", '{% include "include-link/secret.j2" %}')

    found = corpus.validate()

    expect(
        found["root"],
        "templates:",
        "the template folder / is outside the project",
        "--allow-templates-in",
    )
    expect(found["up"], "templates:", "is outside the project")
    expect(found["linked-root"], "templates:", "is outside the project", "(after following links)")
    expect(found["linked-file"], None, "leads outside the template folder")
    expect(found["include-absolute"], None, "template '/proc/self/environ' not found")
    expect(found["include-link"], None, "leads outside the template folder")
    everything = "\n".join(line for result in found.values() for line in result.lines)
    assert "do-not-publish" not in everything


def test_a_folder_outside_the_project_can_be_allowed_explicitly(
    corpus: Corpus, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = Path(tmp_path_factory.mktemp("shared-templates"))
    (outside / "launch").mkdir()
    (outside / "launch" / "ky.j2").write_text("Салам {{ topic }}")
    corpus.edit("shared", "templates: ../templates", f"templates: {outside}")

    found = corpus.validate("--allow-templates-in", str(outside))

    assert found["shared"].status == 0


# -- never a secret, never a raw escape --------------------------------------------------------


def test_credentials_in_a_url_are_refused_without_being_shown(corpus: Corpus) -> None:
    corpus.campaign(
        "password",
        BASE.replace(
            "platform: outbox",
            "platform: mastodon\n    api_url: https://bot:hunter2-Zk3v9@mastodon.example\n"
            "    credentials: MASTODON_TOKEN",
        ),
    )
    corpus.campaign(
        "token-query",
        BASE.replace(
            "platform: outbox",
            "platform: webhook\n    api_url: https://hooks.example/in?token=Zk3v9QpL2m\n"
            "    credentials: WEBHOOK_SECRET",
        ),
    )

    found = corpus.validate()

    expect(found["password"], "api_url:", "api_url holds a user name and password", "environment")
    expect(found["token-query"], "api_url:", "carries a secret in its query (token=***)")
    everything = "\n".join(found["password"].lines + found["token-query"].lines)
    assert "hunter2" not in everything
    assert "Zk3v9QpL2m" not in everything


def test_escape_sequences_in_templates_never_reach_the_terminal(corpus: Corpus) -> None:
    corpus.with_template("escape-in-syntax-error", "Salam\n{% if \x1b]0;pwned\x07 %}x{% endif %}")
    corpus.with_template("escape-in-text", "Salam \x1b[2J{{ topic }}")

    found = corpus.validate()  # (validate() asserts that no raw ESC was printed)

    expect(found["escape-in-syntax-error"], None, "template syntax error", "\\x1b")
    expect(found["escape-in-text"], None, "the text holds the control character(s) \\x1b")
