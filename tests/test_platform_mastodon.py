"""The Mastodon client, specified against a local Mastodon-compatible server."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

import pytest
import requests

from campaign.errors import (
    AuthRejected,
    CampaignError,
    ConfigurationError,
    OutcomeUnknown,
    PermanentPublishError,
    PublishError,
    RateLimited,
    TransientPublishError,
)
from tests.fakes.mastodon import FakeMastodon, status_length
from tests.fixtures.platforms import MASTODON_TOKEN, channel, make_client
from workers.platforms import Outgoing, Timeouts
from workers.platforms.mastodon import MastodonClient

MakeOutgoing = Callable[..., Outgoing]
QUICK = Timeouts(connect=1.0, read=0.5)


def mastodon(server_url: str, token: str = MASTODON_TOKEN, **options: object) -> MastodonClient:
    timeouts = options.pop("timeouts", QUICK)
    assert isinstance(timeouts, Timeouts)
    client = make_client(channel("mastodon", server_url, **options), token, timeouts=timeouts)
    assert isinstance(client, MastodonClient)
    return client


def test_publish_records_the_status_id_and_url(
    mastodon_server: FakeMastodon, make_outgoing: MakeOutgoing
) -> None:
    # Given a post for a Mastodon channel
    post = make_outgoing(text="Салам! Kyrgyz text with a flag 🇰🇬 and https://example.org/a")

    # When it is published
    with mastodon(mastodon_server.url) as client:
        published = client.publish(post)

    # Then the server holds exactly that text, and we know its id and URL
    [status] = mastodon_server.statuses
    assert status.text == post.text
    assert published.remote_id == status.id
    assert published.url == status.url


def test_publish_sends_two_letter_language_visibility_and_idempotency_key(
    mastodon_server: FakeMastodon, make_outgoing: MakeOutgoing
) -> None:
    # Given a Serbian (Latin) post on an unlisted channel
    post = make_outgoing(locale="sr-Latn")

    # When it is published
    with mastodon(mastodon_server.url, visibility="unlisted") as client:
        client.publish(post)

    # Then the request carries the two-letter language, the visibility and the post id as key
    [status] = mastodon_server.statuses
    assert status.requested_language == "sr"
    assert status.visibility == "unlisted"
    assert status.idempotency_key == post.post_id
    [request] = mastodon_server.requests
    assert request.headers["user-agent"].startswith("campaign-scheduler/")


def test_the_same_post_twice_creates_one_status(
    mastodon_server: FakeMastodon, make_outgoing: MakeOutgoing
) -> None:
    # Given a post that was already published
    post = make_outgoing()
    with mastodon(mastodon_server.url) as client:
        first = client.publish(post)

        # When it is published again (a retry after an unknown outcome)
        second = client.publish(post)

    # Then the server returned the original status and created no other
    assert second == first
    assert len(mastodon_server.statuses) == 1


def test_the_same_post_from_two_workers_at_once_creates_one_status(
    mastodon_server: FakeMastodon, make_outgoing: MakeOutgoing
) -> None:
    # Given one post handed to two workers by mistake
    post = make_outgoing()
    results: list[str] = []

    def worker() -> None:
        with mastodon(mastodon_server.url) as client:
            results.append(client.publish(post).remote_id)

    # When both publish it at the same time
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then there is one status, and both learned its id
    [status] = mastodon_server.statuses
    assert results == [status.id, status.id]


def test_a_refused_token_is_auth_rejected(
    mastodon_server: FakeMastodon, make_outgoing: MakeOutgoing
) -> None:
    # Given a channel whose token the server does not know
    client = mastodon(mastodon_server.url, token="revoked-token")

    # When a post is published
    with client, pytest.raises(AuthRejected) as caught:
        client.publish(make_outgoing())

    # Then it fails for good, saying what the server said and which variable to check
    assert "The access token is invalid" in str(caught.value)
    assert "MASTODON_SECRET" in str(caught.value)
    assert mastodon_server.statuses == []


def test_an_over_length_post_is_rejected_permanently(
    make_mastodon_server: Callable[..., FakeMastodon], make_outgoing: MakeOutgoing
) -> None:
    # Given an instance with a 100-character limit and a 101-grapheme post
    server = make_mastodon_server(max_characters=100)
    post = make_outgoing(text="🇰🇬" * 101)

    # When it is published
    with mastodon(server.url) as client, pytest.raises(PermanentPublishError) as caught:
        client.publish(post)

    # Then it fails for good with the server's reason, and is not mistaken for an auth problem
    assert not isinstance(caught.value, AuthRejected)
    assert "HTTP 422" in str(caught.value)
    assert "character limit of 100 exceeded" in str(caught.value)


def test_the_fake_counts_like_mastodon() -> None:
    # Given texts with flags, long URLs and a remote mention
    # Then graphemes count one, every URL 23, and @user@domain as @user
    assert status_length("🇰🇬👍🏽é") == 3
    assert status_length("see https://example.org/" + "x" * 100 + ".") == len("see .") + 23
    assert status_length("hi @someone@mastodon.example") == len("hi @someone")


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_server_error_may_have_published_the_post(
    mastodon_server: FakeMastodon, make_outgoing: MakeOutgoing, status: int
) -> None:
    # Given a server that fails the next request (a proxy 504 may come after the status exists)
    mastodon_server.fail_next(status)

    # When a post is published
    with mastodon(mastodon_server.url) as client, pytest.raises(OutcomeUnknown) as caught:
        client.publish(make_outgoing())

    # Then the outcome is unknown: the publisher resends with the same Idempotency-Key inside
    # its window, and a post that never gets an answer ends unknown, never failed
    assert f"HTTP {status}" in str(caught.value)


def test_a_503_did_not_take_the_post(
    mastodon_server: FakeMastodon, make_outgoing: MakeOutgoing
) -> None:
    mastodon_server.fail_next(503)

    with mastodon(mastodon_server.url) as client, pytest.raises(TransientPublishError) as caught:
        client.publish(make_outgoing())

    assert not isinstance(caught.value, RateLimited)


def test_a_429_storm_is_rate_limited_until_the_iso_reset(
    mastodon_server: FakeMastodon, make_outgoing: MakeOutgoing
) -> None:
    # Given a server in a 429 storm that announces its reset as ISO-8601, without Retry-After
    reset = mastodon_server.storm(requests=5, reset_in=1.5)

    # When a post is published
    with mastodon(mastodon_server.url) as client, pytest.raises(RateLimited) as caught:
        client.publish(make_outgoing())

    # Then the error says to retry exactly at the announced reset
    assert caught.value.retry_at == reset
    assert mastodon_server.statuses == []


def test_the_per_account_rate_limit_names_its_window_reset(
    make_mastodon_server: Callable[..., FakeMastodon], make_outgoing: MakeOutgoing
) -> None:
    # Given an account allowed 2 requests per 60-second window, already used up (the server's
    # clock stands still, so the requests cannot straddle two windows)
    frozen = 1_800_000_030.0
    server = make_mastodon_server(rate_limit=2, rate_period=60, clock=lambda: frozen)
    with mastodon(server.url) as client:
        client.publish(make_outgoing())
        client.publish(make_outgoing())

        # When a third post is published
        with pytest.raises(RateLimited) as caught:
            client.publish(make_outgoing())

    # Then it waits for the clock-aligned window end the server announced
    assert caught.value.retry_at is not None
    assert caught.value.retry_at.timestamp() % 60 == 0
    assert len(server.statuses) == 2


def test_connection_refused_is_transient(refused_url: str, make_outgoing: MakeOutgoing) -> None:
    # Given a Mastodon address where nothing listens
    with mastodon(refused_url) as client, pytest.raises(TransientPublishError) as caught:
        # When a post is published
        client.publish(make_outgoing())

    # Then it is worth retrying: nothing was sent
    assert "connection refused" in str(caught.value)
    assert "nothing was sent" in str(caught.value)


def test_a_connection_dropped_after_creating_is_an_unknown_outcome(
    mastodon_server: FakeMastodon, make_outgoing: MakeOutgoing
) -> None:
    # Given a server that creates the status, then closes the connection without answering
    mastodon_server.drop_after_create()
    post = make_outgoing()

    with mastodon(mastodon_server.url) as client:
        # When a post is published
        with pytest.raises(OutcomeUnknown):
            client.publish(post)

        # Then the status exists once, and a retry with the same post finds it, not a twin
        [status] = mastodon_server.statuses
        assert client.publish(post).remote_id == status.id
    assert len(mastodon_server.statuses) == 1


def test_a_read_timeout_while_held_is_an_unknown_outcome(
    mastodon_server: FakeMastodon, make_outgoing: MakeOutgoing
) -> None:
    # Given a server that holds its answer after creating the status
    mastodon_server.hold()

    # When a post is published with a short read timeout
    with mastodon(mastodon_server.url) as client, pytest.raises(OutcomeUnknown) as caught:
        client.publish(make_outgoing())

    # Then the outcome is unknown (the status does exist), never a plain failure
    assert mastodon_server.held.is_set()
    assert "no answer within 0.5 s" in str(caught.value)
    assert len(mastodon_server.statuses) == 1
    mastodon_server.release()


def test_a_success_without_a_status_id_is_an_unknown_outcome(
    mastodon_server: FakeMastodon, make_outgoing: MakeOutgoing
) -> None:
    # Given a proxy that answers 200 with an HTML page
    mastodon_server.fail_next(200, b"<html>ok</html>", {"Content-Type": "text/html"})

    # When a post is published
    with mastodon(mastodon_server.url) as client, pytest.raises(OutcomeUnknown):
        client.publish(make_outgoing())


def test_a_redirect_is_not_followed(
    mastodon_server: FakeMastodon, make_outgoing: MakeOutgoing
) -> None:
    # Given a server that redirects the API elsewhere (following would turn the POST into a GET)
    mastodon_server.fail_next(301, b"", {"Location": "https://other.example/api/v1/statuses"})

    # When a post is published
    with mastodon(mastodon_server.url) as client, pytest.raises(PermanentPublishError) as caught:
        client.publish(make_outgoing())

    # Then a person is told to fix api_url
    assert "https://other.example/api/v1/statuses" in str(caught.value)
    assert len(mastodon_server.requests) == 1


def test_a_missing_token_is_a_configuration_error(mastodon_server: FakeMastodon) -> None:
    # Given a Mastodon channel whose credentials variable is unset
    # When a client is made for it
    with pytest.raises(ConfigurationError) as caught:
        make_client(channel("mastodon", mastodon_server.url), None)

    # Then the error names the variable to set
    assert "MASTODON_SECRET" in str(caught.value)


SECRET = "s3cr3t-T0ken-never-show"


def _chain(error: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


@pytest.mark.parametrize(
    "fault",
    ["unknown token", "echoing 422", "500", "429", "dropped", "held", "refused"],
)
def test_the_token_never_appears_in_errors_or_logs(
    make_mastodon_server: Callable[..., FakeMastodon],
    make_outgoing: MakeOutgoing,
    refused_url: str,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    # Given a token and a server failing in one of many ways
    server = make_mastodon_server(tokens=[SECRET])
    url, token = server.url, SECRET
    if fault == "unknown token":
        server.accounts.clear()
    elif fault == "echoing 422":
        server.fail_next(422, {"error": f"Validation failed: bad token {SECRET}"})
    elif fault == "500":
        server.fail_next(500, f"Internal error for Bearer {SECRET}".encode())
    elif fault == "429":
        server.storm(requests=1)
    elif fault == "dropped":
        server.drop_after_create()
    elif fault == "held":
        server.hold()
    else:
        url = refused_url
    caplog.set_level(logging.DEBUG)

    # When a post is published
    with mastodon(url, token) as client, pytest.raises(PublishError) as caught:
        client.publish(make_outgoing())
    server.release()

    # Then no message, repr, cause or log line shows the token
    assert isinstance(caught.value, CampaignError)
    for error in _chain(caught.value):
        assert SECRET not in str(error)
        assert SECRET not in repr(error)
    assert SECRET not in repr(client)
    assert SECRET not in caplog.text


# The local server's own contract: what the end-to-end tests rely on it to enforce.


def _post(server: FakeMastodon, token: str = MASTODON_TOKEN, **fields: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if "key" in fields:
        headers["Idempotency-Key"] = fields.pop("key")
    with requests.Session() as session:
        return session.post(f"{server.url}/api/v1/statuses", data=fields, headers=headers)


def test_the_fake_validates_like_mastodon(mastodon_server: FakeMastodon) -> None:
    # Given form-encoded requests, as many Mastodon clients send them
    # Then a blank status and an unknown visibility are refused with 422, nothing created
    assert _post(mastodon_server, status="  ").status_code == 422
    assert _post(mastodon_server, status="hi", visibility="everyone").status_code == 422
    assert mastodon_server.statuses == []
    # And a regional or unknown language is normalised, never refused
    assert _post(mastodon_server, status="a", language="en-US").json()["language"] == "en"
    assert _post(mastodon_server, status="b", language="xx").json()["language"] is None


def test_the_fake_keeps_idempotency_keys_per_account_for_an_hour(
    make_mastodon_server: Callable[..., FakeMastodon],
) -> None:
    # Given two accounts on a server whose clock we control
    now = [1_800_000_000.0]
    server = make_mastodon_server(tokens={"t1": "alice", "t2": "bob"}, clock=lambda: now[0])

    # When both use the same key, and alice repeats it within the hour and after it
    first = _post(server, "t1", status="x", key="k").json()
    _post(server, "t2", status="x", key="k")
    now[0] += 3599
    repeat = _post(server, "t1", status="x", key="k").json()
    now[0] += 2
    _post(server, "t1", status="x", key="k")

    # Then keys are per account, and a repeat returns the original only within the hour
    assert repeat["id"] == first["id"]
    assert [s.account for s in server.statuses] == ["alice", "bob", "alice"]


def test_the_fake_sends_mastodon_rate_limit_headers(mastodon_server: FakeMastodon) -> None:
    # Given an authenticated request
    response = _post(mastodon_server, status="hello")

    # Then the headers give the limit, what remains, and an ISO-8601 reset on a 5-minute boundary
    assert response.headers["X-RateLimit-Limit"] == "300"
    assert response.headers["X-RateLimit-Remaining"] == "299"
    reset = datetime.fromisoformat(response.headers["X-RateLimit-Reset"])
    assert reset.tzinfo is not None
    assert reset.timestamp() % 300 == 0
