"""Rendering post texts from Jinja2 templates, sandboxed, strict, and compiled once.

For a message's template folder, the first file that exists wins:

    <audience>.<locale>.<platform>.j2 -> <audience>.<locale>.j2
        -> <locale>.<platform>.j2 -> <locale>.j2

tried for the locale itself, then its bare language (`sr-Latn` -> `sr`), then the campaign's
`fallback_locale`. Falling back to another language is reported as a warning on every such post.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from campaign.errors import TemplateError
from campaign.locales import language_of

TEMPLATE_SUFFIX = ".j2"


@dataclass(frozen=True)
class Resolved:
    """The template chosen for a post, and the language it is really written in."""

    name: str  # relative to the template root, e.g. "launch/ky.telegram.j2"
    locale: str
    fallback_warning: str | None


@dataclass(frozen=True)
class UtmDefaults:
    source: str | None
    medium: str
    campaign: str


class Renderer:
    """Finds and renders the templates of one campaign."""

    def __init__(self, root: Path, *, display_root: str, fallback_locale: str | None) -> None:
        self._root = root
        self._display_root = display_root.rstrip("/")
        self._fallback_locale = fallback_locale
        self._listing: dict[str, frozenset[str]] = {}
        self._resolved: dict[tuple[str, str, str, str], Resolved] = {}
        # Jinja's own cache checks the loader on every lookup; a preview looks up per post.
        self._templates: dict[str, jinja2.Template] = {}
        self._environment = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(root),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # posts are plain text, not HTML
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            cache_size=-1,  # every template compiled once per run, whatever the plan's size
        )
        self._environment.filters["utm"] = _utm
        self._environment.filters["hashtags"] = _hashtags

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
            TemplateError: compile error, undefined variable, sandbox violation, any runtime error.
        """
        display = self.display(name)
        try:
            template = self._templates.get(name)
            if template is None:
                template = self._templates[name] = self._environment.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"template syntax error: {exc.message}", file=display, line=exc.lineno
            ) from None
        except jinja2.TemplateNotFound:
            raise TemplateError("template not found", file=display) from None
        try:
            return template.render(context).strip()
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(
                f"unsafe template operation blocked by the sandbox: {exc}",
                file=display,
                line=_template_line(exc.__traceback__, template),
            ) from None
        except jinja2.UndefinedError as exc:
            raise TemplateError(
                f"{exc.message}: define it in the message's vars or fix the name",
                file=display,
                line=_template_line(exc.__traceback__, template),
            ) from None
        except Exception as exc:  # a template can raise anything; it is the author's error
            raise TemplateError(
                f"rendering failed: {type(exc).__name__}: {exc}",
                file=display,
                line=_template_line(exc.__traceback__, template),
            ) from None

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


def _template_line(traceback: TracebackType | None, template: jinja2.Template) -> int | None:
    """The template line a rendering error came from (Jinja rewrites frames to template lines)."""
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == template.filename:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


@jinja2.pass_context
def _utm(context: jinja2.runtime.Context, url: str) -> str:
    """Tag a link with UTM parameters for this post; parameters already in the link are kept."""
    defaults: UtmDefaults = context["_utm"]
    return _tag_link(
        str(url),
        defaults.source or context["platform"],
        defaults.medium,
        defaults.campaign,
        f"{context['audience']['name']}-{context['locale']}",
    )


@lru_cache(maxsize=4096)
def _tag_link(url: str, source: str, medium: str, campaign: str, content: str) -> str:
    # A campaign tags a handful of links thousands of times; URL parsing is the costly part.
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    tags = (
        ("utm_source", source),
        ("utm_medium", medium),
        ("utm_campaign", campaign),
        ("utm_content", content),
    )
    for key, value in tags:
        query.setdefault(key, value)
    return urlunsplit(parts._replace(query=urlencode(query)))


def _hashtags(tags: Sequence[str] | str) -> str:
    """`["SafeMigration", "#GCM"]` -> `"#SafeMigration #GCM"` (spaces inside a tag are dropped)."""
    return _joined_hashtags((tags,) if isinstance(tags, str) else tuple(tags))


@lru_cache(maxsize=1024)
def _joined_hashtags(tags: tuple[str, ...]) -> str:
    return " ".join("#" + "".join(str(tag).lstrip("#").split()) for tag in tags if tag)
