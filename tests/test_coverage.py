"""campaign.coverage: the completeness matrix from the plan's routes."""

from __future__ import annotations

from campaign.coverage import Route, Status, cells, gaps


def route(locale: str, channel: str, status: Status, written_in: str | None = None) -> Route:
    written = written_in or (None if status is Status.MISSING else locale)
    template = None if written is None else f"hello/{written}.j2"
    return Route("hello", "kosovo", locale, channel, "mastodon", status, template, written)


def test_a_cell_is_as_bad_as_its_worst_channel_and_names_its_fallbacks() -> None:
    # Given Serbian in its own language on X, falling back to English on Mastodon
    routes = [
        route("sq", "mastodon", Status.PRESENT),
        route("sr", "x", Status.PRESENT),
        route("sr", "mastodon", Status.FALLBACK, written_in="en"),
    ]

    # When the matrix is made
    albanian, serbian = cells(routes)

    # Then the Serbian cell is a fallback to English, yet the audience still reads Serbian
    assert albanian.status is Status.PRESENT
    assert serbian.status is Status.FALLBACK
    assert serbian.fallbacks == ("en",)
    assert serbian.reached
    assert gaps([albanian, serbian]) == []


def test_a_language_read_only_through_another_is_a_gap() -> None:
    # Given Serbian only by fallback, and no Albanian template at all
    routes = [
        route("sq", "mastodon", Status.MISSING),
        route("sr", "mastodon", Status.FALLBACK, written_in="en"),
        route("en", "mastodon", Status.PRESENT),
    ]

    # Then the audience will not read the message in either language
    (gap,) = gaps(cells(routes))
    assert (gap.message, gap.audience, gap.locales) == ("hello", "kosovo", ("sq", "sr"))
