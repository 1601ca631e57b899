"""Templates render sandboxed and strict, chosen by an explicit fallback chain."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from campaign.errors import TemplateError
from campaign.filters import UtmDefaults
from campaign.render import Renderer, TimeBudget


def make_renderer(
    root: Path,
    files: dict[str, str],
    fallback: str | None = None,
    budget: TimeBudget = TimeBudget(),  # noqa: B008 - immutable
) -> Renderer:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return Renderer(
        root, display_root="templates", fallback_locale=fallback, utm=UTM, budget=budget
    )


UTM = UtmDefaults(source=None, medium="social", campaign="safe-migration")


def context(**extra: object) -> dict[str, object]:
    return {
        "audience": {"name": "migrants-kg", "description": ""},
        "locale": "ky",
        "platform": "telegram",
        **extra,
    }


@pytest.mark.parametrize(
    ("present", "chosen"),
    [
        (
            ["migrants-kg.ky.telegram.j2", "migrants-kg.ky.j2", "ky.telegram.j2", "ky.j2"],
            "migrants-kg.ky.telegram.j2",
        ),
        (["migrants-kg.ky.j2", "ky.telegram.j2", "ky.j2"], "migrants-kg.ky.j2"),
        (["ky.telegram.j2", "ky.j2"], "ky.telegram.j2"),
        (["ky.j2"], "ky.j2"),
    ],
)
def test_the_most_specific_template_wins(tmp_path: Path, present: list[str], chosen: str) -> None:
    renderer = make_renderer(tmp_path, {f"launch/{name}": "x" for name in present})
    resolved = renderer.resolve("launch", audience="migrants-kg", locale="ky", platform="telegram")
    assert resolved.name == f"launch/{chosen}"
    assert resolved.fallback_warning is None


def test_a_regional_locale_uses_its_language_without_warning(tmp_path: Path) -> None:
    renderer = make_renderer(tmp_path, {"launch/sr.j2": "x"})
    resolved = renderer.resolve("launch", audience="kosovo", locale="sr-Latn", platform="x")
    assert resolved.name == "launch/sr.j2"
    assert resolved.fallback_warning is None


def test_falling_back_to_another_language_warns(tmp_path: Path) -> None:
    renderer = make_renderer(tmp_path, {"launch/en.j2": "x"}, fallback="en")
    resolved = renderer.resolve("launch", audience="kosovo", locale="sq", platform="x")
    assert resolved.locale == "en"
    assert resolved.fallback_warning == "no sq template for 'launch'; falls back to en (en.j2)"


def test_no_template_in_the_chain_is_an_error_listing_what_to_create(tmp_path: Path) -> None:
    renderer = make_renderer(tmp_path, {"launch/ru.j2": "x"})
    with pytest.raises(TemplateError, match=r"create one of kosovo\.sq\.x\.j2, kosovo\.sq\.j2"):
        renderer.resolve("launch", audience="kosovo", locale="sq", platform="x")


def test_an_undefined_variable_is_an_error_at_its_line(tmp_path: Path) -> None:
    renderer = make_renderer(tmp_path, {"m/ky.j2": "Salam\n\n{{ hotline }}"})
    with pytest.raises(TemplateError, match="'hotline' is undefined") as caught:
        renderer.render("m/ky.j2", context())
    assert (caught.value.file, caught.value.line) == ("templates/m/ky.j2", 3)


@pytest.mark.parametrize(
    "escape",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ local_time.__class__.__dict__ }}",
        "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    ],
)
def test_sandbox_escapes_are_errors_never_executed(tmp_path: Path, escape: str) -> None:
    renderer = make_renderer(tmp_path, {"m/ky.j2": escape})
    with pytest.raises(TemplateError, match=r"sandbox|undefined"):
        renderer.render("m/ky.j2", context(local_time="x"))


def test_a_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    renderer = make_renderer(tmp_path, {"m/ky.j2": "ok\n{% if %}"})
    with pytest.raises(TemplateError, match="syntax error") as caught:
        renderer.render("m/ky.j2", context())
    assert caught.value.line == 2


def test_links_are_tagged_per_platform_audience_and_locale(tmp_path: Path) -> None:
    renderer = make_renderer(tmp_path, {"m/ky.j2": "{{ link | utm }}"})
    text = renderer.render("m/ky.j2", context(link="https://kyrgyzstan.iom.int/?lang=ky"))
    assert text == (
        "https://kyrgyzstan.iom.int/?lang=ky&utm_source=telegram&utm_medium=social"
        "&utm_campaign=safe-migration&utm_content=migrants-kg-ky"
    )


def test_utm_parameters_already_in_a_link_are_kept(tmp_path: Path) -> None:
    renderer = make_renderer(tmp_path, {"m/ky.j2": "{{ link | utm }}"})
    text = renderer.render("m/ky.j2", context(link="https://iom.int/?utm_source=press"))
    assert "utm_source=press" in text
    assert "utm_source=telegram" not in text


def test_hashtags_are_joined_and_cleaned(tmp_path: Path) -> None:
    renderer = make_renderer(tmp_path, {"m/ky.j2": "{{ tags | hashtags }}"})
    text = renderer.render("m/ky.j2", context(tags=["SafeMigration", "#GCM", "Migrants Day"]))
    assert text == "#SafeMigration #GCM #MigrantsDay"


def test_surrounding_whitespace_is_stripped(tmp_path: Path) -> None:
    renderer = make_renderer(tmp_path, {"m/ky.j2": "\n\n  Салам!\n\n"})
    assert renderer.render("m/ky.j2", context()) == "Салам!"


def test_a_render_past_its_time_budget_is_stopped_at_its_line(tmp_path: Path) -> None:
    # Given a template that would loop for hours, and a render budget of a fifth of a second
    loop = "Salam\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    renderer = make_renderer(tmp_path, {"m/ky.j2": loop}, budget=TimeBudget(per_render=0.2))

    # When it is rendered, then it is stopped at the loop's line
    with pytest.raises(TemplateError, match=r"took longer than 0\.2 s") as caught:
        renderer.render("m/ky.j2", context())
    assert (caught.value.file, caught.value.line) == ("templates/m/ky.j2", 2)

    # And it is not run again for the next post: the same error at once
    with pytest.raises(TemplateError) as again:
        renderer.render("m/ky.j2", context())
    assert again.value is caught.value


def test_a_template_earns_time_with_every_post_it_renders(tmp_path: Path) -> None:
    # Given a template that takes about a millisecond a post, and budgets of 10 ms for it and
    # for the campaign, with 50 ms more earned by each post rendered
    busy = "{% for i in range(20000) %}{% endfor %}ok"
    budget = TimeBudget(per_template=0.01, total=0.01, per_post=0.05)
    renderer = make_renderer(tmp_path, {"m/ky.j2": busy}, budget=budget)

    # Then a campaign many times longer than the fixed budgets renders whole: only a template
    # slower per post than it earns is ever stopped over all its posts
    assert [renderer.render("m/ky.j2", context()) for _ in range(200)] == ["ok"] * 200


def test_rendering_goes_on_normally_after_a_render_was_stopped(tmp_path: Path) -> None:
    loop = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    renderer = make_renderer(
        tmp_path, {"m/ky.j2": loop, "ok/ky.j2": "{{ locale }}"}, budget=TimeBudget(per_render=0.2)
    )
    with pytest.raises(TemplateError):
        renderer.render("m/ky.j2", context())
    assert [renderer.render("ok/ky.j2", context()) for _ in range(1000)] == ["ky"] * 1000


def test_every_template_of_a_folder_is_compiled_even_one_no_post_uses(tmp_path: Path) -> None:
    renderer = make_renderer(tmp_path, {"m/ky.j2": "fine", "m/ky.x.j2": "ok\n{% if %}"})
    assert [str(p) for p in renderer.check_folder("m")] == [
        "templates/m/ky.x.j2:2: template syntax error: Expected an expression, got 'end of "
        "statement block'"
    ]


def test_an_include_through_a_link_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOKEN=do-not-publish")
    renderer = make_renderer(tmp_path / "root", {"m/ky.j2": '{% include "m/link.j2" %}'})
    (tmp_path / "root" / "m" / "link.j2").symlink_to(secret)
    with pytest.raises(TemplateError, match="leads outside the template folder"):
        renderer.render("m/ky.j2", context())


@pytest.mark.parametrize(
    ("template", "text"),
    [
        ('{{ range(3) | map("string") | join(", ") }}', "0, 1, 2"),
        ('{{ ", ".join(["a", "b"]) }}', "a, b"),
        ("{{ '%02d.%02d' | format(7, 3) }}", "07.03"),
        ("{{ '[{:>4}]'.format(7) }}", "[   7]"),
        (
            "{% set ns = namespace(n=0) %}{% for t in tags %}{% set ns.n = ns.n + 1 %}{% endfor %}"
            "{{ ns.n }}",
            "2",
        ),
        ("{{ tags | select('ne', 'GCM') | list | join }}", "SafeMigration"),
        ("{{ (tags + ['Migrants']) | length }} {{ 2 ** 10 }} {{ 'ab' * 2 }}", "3 1024 abab"),
        (
            "{{ title | truncate(9, True, '…', 0) }} {{ title | center(13) | trim }}",
            "Safe Mig… Safe Migration",
        ),
        (
            "{{ when.strftime('%d.%m.%Y') }} {{ when.year }} {{ when.tzinfo }}",
            "18.12.2026 2026 Asia/Bishkek",
        ),
        ("{{ {'a': tags} | tojson }}", '{"a": ["SafeMigration", "GCM"]}'),
    ],
)
def test_ordinary_templates_render_as_in_jinja(tmp_path: Path, template: str, text: str) -> None:
    renderer = make_renderer(tmp_path, {"m/ky.j2": template})
    when = datetime(2026, 12, 18, 10, tzinfo=ZoneInfo("Asia/Bishkek"))
    assert (
        renderer.render(
            "m/ky.j2", context(tags=["SafeMigration", "GCM"], title="Safe Migration", when=when)
        )
        == text
    )
