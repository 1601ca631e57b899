"""Rendering post texts from Jinja2 templates, sandboxed, strict, and compiled once.

For a message's template folder, the first file that exists wins:

    <audience>.<locale>.<platform>.j2 -> <audience>.<locale>.j2
        -> <locale>.<platform>.j2 -> <locale>.j2

tried for the locale itself, then its bare language (`sr-Latn` -> `sr`), then the campaign's
`fallback_locale`. Falling back to another language is reported as a warning on every such post.

Templates run in `campaign.sandbox` (what they may reach, build and write) under a time budget
(`TimeBudget`): per render, per template over all its posts, and for the whole campaign. A
template that goes over is reported once, at its line, and not rendered again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import jinja2

from campaign.bounds import Refused
from campaign.deadline import Overtime, Watchdog
from campaign.errors import Problem, TemplateError
from campaign.filters import UtmDefaults, hashtags, utm_filter
from campaign.locales import language_of
from campaign.sandbox import BoundedEnvironment, RootedLoader
from campaign.terminal import control_characters, quoted

T = TypeVar("T")

TEMPLATE_SUFFIX = ".j2"
MAX_MESSAGE = 500


@dataclass(frozen=True)
class Resolved:
    """The template chosen for a post, and the language it is really written in."""

    name: str  # relative to the template root, e.g. "launch/ky.telegram.j2"
    locale: str
    fallback_warning: str | None


@dataclass(frozen=True)
class TimeBudget:
    """Seconds templates may take. A post renders in tens of microseconds: these are bounds
    for templates that loop or recurse without end, not for ordinary ones.

    The budgets of a template and of the campaign grow by `per_post` for each post rendered, so
    that an honest campaign of a million posts (the most a file may make) fits whatever templates
    it uses, while a slow template still stops within a bounded time.
    """

    per_render: float = 2.0  # one post, compiling included
    per_template: float = 10.0  # one template, over every post it renders
    total: float = 30.0  # every template of the campaign
    per_post: float = 0.0001  # added to both for each render: several times an ordinary one


class Renderer:
    """Finds and renders the templates of one campaign. Not thread-safe."""

    def __init__(
        self,
        root: Path,
        *,
        display_root: str,
        fallback_locale: str | None,
        utm: UtmDefaults,
        budget: TimeBudget = TimeBudget(),
    ) -> None:
        self._root = root
        self._display_root = display_root.rstrip("/")
        self._fallback_locale = fallback_locale
        self._listing: dict[str, frozenset[str]] = {}
        self._resolved: dict[tuple[str, str, str, str], Resolved] = {}
        # Jinja's own cache checks the loader on every lookup; a preview looks up per post.
        self._templates: dict[str, jinja2.Template] = {}
        # Templates that cannot compile or ran out of time: reported once, never run again.
        self._failed: dict[str, TemplateError] = {}
        self._budget = budget
        self._spent: dict[str, float] = {}  # seconds, less what its renders earned (per_post)
        self._spent_in_total = 0.0
        self._watchdog = Watchdog()
        self._environment = BoundedEnvironment(
            loader=RootedLoader(str(root)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # posts are plain text, not HTML
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            cache_size=-1,  # every template compiled once per run, whatever the plan's size
        )
        self._environment.filters["utm"] = utm_filter(utm)
        self._environment.filters["hashtags"] = hashtags

    def display(self, name: str) -> str:
        """A template's path as a person would type it (relative to where the campaign lives)."""
        return f"{self._display_root}/{name}"

    def resolve(self, folder: str, *, audience: str, locale: str, platform: str) -> Resolved:
        """Choose the template file for one post.

        Raises:
            TemplateError: no file in the chain exists.
        """
        key = (folder, audience, locale, platform)
        if key not in self._resolved:
            self._resolved[key] = self._search(folder, audience, locale, platform)
        return self._resolved[key]

    def _search(self, folder: str, audience: str, locale: str, platform: str) -> Resolved:
        files = self._files(folder)
        tried: list[str] = []
        for candidate_locale in self._locale_chain(locale):
            for stem in (
                f"{audience}.{candidate_locale}.{platform}",
                f"{audience}.{candidate_locale}",
                f"{candidate_locale}.{platform}",
                candidate_locale,
            ):
                filename = stem + TEMPLATE_SUFFIX
                tried.append(filename)
                if filename in files:
                    warning = None
                    if language_of(candidate_locale) != language_of(locale):
                        warning = (
                            f"no {locale} template for '{folder}'; "
                            f"falls back to {candidate_locale} ({filename})"
                        )
                    return Resolved(f"{folder}/{filename}", candidate_locale, warning)
        raise TemplateError(
            f"no template for message template '{folder}' in locale '{locale}' on {platform}: "
            f"create one of {', '.join(tried[:4])} "
            f"in {self.display(folder)}/",
            file=self.display(folder),
        )

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        """Render template `name` with `context`, stripped of surrounding whitespace.

        Raises:
            TemplateError: compile error, undefined variable, sandbox violation, a bound or the
                time budget exceeded, control characters in the text, any runtime error.
        """
        return self._timed(name, self._render, name, context)

    def check_folder(self, folder: str) -> list[Problem]:
        """Compile every template of a message's folder, used by a post or not yet."""
        problems = []
        try:
            names = sorted(self._files(folder))
        except TemplateError:
            return []  # reported where the message names the folder
        for filename in names:
            if filename.endswith(TEMPLATE_SUFFIX):
                name = f"{folder}/{filename}"
                try:
                    self._timed(name, self._compiled, name)
                except TemplateError as exc:
                    problems.append(exc.problem())
        return problems

    def _timed(self, name: str, work: Callable[..., T], *arguments: Any) -> T:
        """Run `work(*arguments)` for template `name` within what is left of its budgets."""
        failed = self._failed.get(name)
        if failed is not None:
            raise failed
        budget, spent = self._budget, self._spent
        spent_on_it = spent.get(name, 0.0)
        left = min(
            budget.per_render,
            budget.per_template - spent_on_it,
            budget.total - self._spent_in_total,
        )
        watchdog = self._watchdog
        started = time.monotonic()
        try:
            watchdog.arm(left if left > 0.0 else 0.0, now=started)
            try:
                return work(*arguments)
            finally:
                watchdog.disarm()
        except Overtime as exc:
            watchdog.disarm()
            file, line = self._where(exc.__traceback__, name, raw=True)
            error = TemplateError(_overtime(budget, left, spent, name), file=file, line=line)
            self._failed[name] = error
            raise error from None
        finally:
            took = time.monotonic() - started - budget.per_post
            spent[name] = spent_on_it + took
            self._spent_in_total += took

    def _compiled(self, name: str) -> jinja2.Template:
        template = self._templates.get(name)
        if template is not None:
            return template
        display = self.display(name)
        try:
            template = self._templates[name] = self._environment.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            error = TemplateError(
                f"template syntax error: {exc.message}", file=display, line=exc.lineno
            )
        except jinja2.TemplateNotFound:
            error = TemplateError("template not found", file=display)
        except Refused as exc:
            error = TemplateError(str(exc), file=display)
        else:
            return template
        self._failed[name] = error
        raise error

    def _render(self, name: str, context: Mapping[str, Any]) -> str:
        template = self._compiled(name)
        try:
            text = template.render(context)
        except Refused as exc:
            raise self._error(str(exc), exc, name) from None
        except jinja2.exceptions.SecurityError as exc:
            raise self._error(
                f"unsafe template operation blocked by the sandbox: {exc}", exc, name
            ) from None
        except jinja2.UndefinedError as exc:
            raise self._error(
                f"{exc.message}: define it in the message's vars or fix the name", exc, name
            ) from None
        except jinja2.TemplateNotFound as exc:  # an include or import
            raise self._error(
                f"template {quoted(exc.name)} not found in the template folder "
                f"{self._display_root}/: includes name a file from there, e.g. "
                f"{{% include '{name}' %}}",
                exc,
                name,
            ) from None
        except jinja2.TemplateSyntaxError as exc:  # in a template it includes
            file = self._display_file(exc.filename) if exc.filename else self.display(name)
            raise TemplateError(
                f"template syntax error: {exc.message}", file=file, line=exc.lineno
            ) from None
        except RecursionError as exc:
            raise self._error(
                "the template calls itself without end (a macro, or an include of a template "
                "that includes it back): give the recursion a condition that stops it",
                exc,
                name,
            ) from None
        except OverflowError as exc:  # `10**400 / 3`, `range(10**400)`: past what Python computes
            raise self._error(
                "a number too large to compute (a fraction beyond about 1.8e308, or a count "
                "beyond what a list can hold): use smaller numbers",
                exc,
                name,
            ) from None
        except Exception as exc:  # a template can raise anything; it is the author's error
            raise self._error(f"rendering failed: {type(exc).__name__}: {exc}", exc, name) from None
        controls = control_characters(text)
        if controls:
            raise TemplateError(
                f"the text holds the control character(s) {', '.join(controls)}: remove them "
                "from the template or its vars",
                file=self.display(name),
                line=_first_control_line(template.filename),
            )
        return text.strip()

    def _error(self, message: str, exc: BaseException, name: str) -> TemplateError:
        file, line = self._where(exc.__traceback__, name, raw=False)
        if len(message) > MAX_MESSAGE:  # an error may quote a value of the template's making
            message = f"{message[:MAX_MESSAGE]}… ({len(message):,} characters)"
        return TemplateError(message, file=file, line=line)

    def _where(
        self, traceback: TracebackType | None, name: str, *, raw: bool
    ) -> tuple[str, int | None]:
        """The template file and line an error came from: the deepest template frame.

        Jinja rewrites the frames of exceptions it handles to template lines; others (`raw`)
        still carry lines of the generated Python code, which the template maps back.
        """
        templates = {
            t.filename: t
            for t in (self._environment.cache or {}).values()
            if t.filename is not None
        }
        found: tuple[str, int | None] = (self.display(name), None)
        while traceback is not None:
            filename = traceback.tb_frame.f_code.co_filename
            template = templates.get(filename)
            if template is not None:
                line = traceback.tb_lineno
                if raw:
                    line = template.get_corresponding_lineno(line)
                found = (self._display_file(filename), line)
            traceback = traceback.tb_next
        return found

    def _display_file(self, filename: str) -> str:
        root = os.path.realpath(self._root)
        return self.display(os.path.relpath(filename, root))

    def has_folder(self, folder: str) -> bool:
        return (self._root / folder).is_dir()

    def folders(self) -> list[str]:
        """The message template folders that exist, for suggestions."""
        if not self._root.is_dir():
            return []
        return sorted(entry.name for entry in self._root.iterdir() if entry.is_dir())

    def _files(self, folder: str) -> frozenset[str]:
        if folder not in self._listing:
            path = self._root / folder
            if not path.is_dir():
                raise TemplateError(
                    f"template folder '{folder}' not found: create {self.display(folder)}/ "
                    f"with a <locale>{TEMPLATE_SUFFIX} file",
                    file=self.display(folder),
                )
            self._listing[folder] = frozenset(os.listdir(path))
        return self._listing[folder]

    def _locale_chain(self, locale: str) -> list[str]:
        chain = [locale]
        for candidate in (language_of(locale), self._fallback_locale):
            if candidate is not None and candidate not in chain:
                chain.append(candidate)
        return chain


def _first_control_line(filename: str | None) -> int | None:
    """The line of a template's source that writes a control character, if it is written there
    (rather than in a var, or as an escape like "\\x00")."""
    if filename is None:
        return None
    try:
        with open(filename, encoding="utf-8") as source:
            for number, line in enumerate(source, start=1):
                if control_characters(line):
                    return number
    except (OSError, UnicodeDecodeError):
        pass
    return None


def _overtime(budget: TimeBudget, left: float, spent: dict[str, float], name: str) -> str:
    if left >= budget.per_render:
        return (
            f"rendering one post took longer than {budget.per_render:g} s (a loop that runs too "
            "often, or a macro that calls itself too often): simplify the template"
        )
    if spent.get(name, 0.0) + left >= budget.per_template:
        return (
            f"this template took longer than {budget.per_template:g} s over all its posts: "
            "simplify it"
        )
    return (
        f"the campaign's templates took longer than {budget.total:g} s together: simplify "
        "the slowest ones"
    )
