"""The X client, specified against a local server that keeps X's API v2 and OAuth 2.0 contract.

The server rotates refresh tokens as X does: a refresh token works once. A client that spent
one twice, or lost the new one, would be logged out for good; these tests are about that.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

from campaign.errors import (
    AlreadyPublished,
    AuthRejected,
    OutcomeUnknown,
    PermanentPublishError,
    PublishError,
    RateLimited,
    TransientPublishError,
)
from tests.fakes.x import FakeX, weighted_length
from tests.fixtures.leaks import leaked
from tests.fixtures.plans import make_campaign, make_post
from tests.fixtures.threads import at_once
from tests.fixtures.x import REFRESH_VARIABLE, X_ACCOUNT, X_CLIENT_ID, x_channel, x_client
from workers import diff
from workers.platforms.base import NoCredentialStore, Outgoing, Published, Resend
from workers.platforms.x import XClient
from workers.publish import Publisher
from workers.settings import Settings
from workers.store import State, Store
from workers.store.sqlite import SqliteStore

MakeOutgoing = Callable[..., Outgoing]


# -- publishing ---------------------------------------------------------------------------------


def test_a_post_is_published_with_the_first_refresh_token_spent_once(
    x_server: FakeX, make_outgoing: MakeOutgoing
) -> None:
    # Given a fresh grant: the environment holds the account's first refresh token
    first = x_server.grant()
    store = NoCredentialStore()
    post = make_outgoing(text="Салам! Коопсуз миграция: https://iom.int/kg #Миграция")

    # When two workers publish, one after the other
    with x_client(x_server.url, first, credentials=store) as client:
        published = client.publish(post)
    with x_client(x_server.url, first, credentials=store) as client:
        client.publish(make_outgoing())

    # Then the post is out with its exact text, at the account's address; the environment's
    # token was spent once, and the second worker used the tokens in the store
    [tweet, _] = x_server.tweets
    assert tweet.text == post.text
    assert published == Published(tweet.id, f"https://x.com/{X_ACCOUNT}/status/{tweet.id}")
    assert x_server.refreshes == 1
    assert x_server.refused_refreshes == 0


def test_the_same_post_twice_is_refused_as_a_duplicate_and_found(
    x_server: FakeX, make_outgoing: MakeOutgoing
) -> None:
    # Given a post already published
    post = make_outgoing()
    with x_client(x_server.url, x_server.grant()) as client:
        first = client.publish(post)

        # When it is published again (a resend after an unknown outcome)
        with pytest.raises(AlreadyPublished, match="duplicate content"):
            client.publish(post)

        # Then X kept one, and the client can say where it is
        assert client.find(post) == first
    assert len(x_server.tweets) == 1
    assert XClient.resend is Resend.REFUSED_AS_DUPLICATE


def test_eight_workers_publishing_one_post_at_once_make_one_post(
    x_server: FakeX, store: Store, make_outgoing: MakeOutgoing
) -> None:
    # Given one post handed to eight workers sharing the store, before anyone signed in
    post = make_outgoing()
    first = x_server.grant()
    clients = [x_client(x_server.url, first, credentials=store) for _ in range(8)]

    # When they all publish it at the same moment
    results = at_once(8, lambda n: clients[n].publish(post))

    # Then one post exists; one worker published it, seven were refused as duplicates; the
    # environment's refresh token was spent once
    [tweet] = x_server.tweets
    assert [r.remote_id for r in results if isinstance(r, Published)] == [tweet.id]
    assert sum(isinstance(r, AlreadyPublished) for r in results) == 7
    assert x_server.refreshes == 1
    assert clients[0].find(post) == Published(
        tweet.id, f"https://x.com/{X_ACCOUNT}/status/{tweet.id}"
    )


def test_a_resend_looks_for_the_post_before_posting_again(
    x_server: FakeX, make_outgoing: MakeOutgoing
) -> None:
    # Given a post whose first try is out, and another whose first try never arrived
    out, lost = make_outgoing(), make_outgoing()
    with x_client(x_server.url, x_server.grant()) as client:
        first = client.publish(out)

        # When both are sent again after an unknown outcome
        again = client.publish(replace(out, maybe_sent=True))
        posted = client.publish(replace(lost, maybe_sent=True))

    # Then the one that is out is found, not posted; the other is posted once
    assert again == first
    assert [tweet.text for tweet in x_server.tweets] == [out.text, lost.text]
    assert posted.remote_id == x_server.tweets[1].id
    assert len([r for r in x_server.requests if r.path == "/2/tweets"]) == 2


def test_find_matches_a_post_whose_links_x_wrapped(
    x_server: FakeX, make_outgoing: MakeOutgoing
) -> None:
    # Given a post with a link, which X shows as a t.co link
    post = make_outgoing(text="Маалымат: https://iom.int/kg & more")
    with x_client(x_server.url, x_server.grant()) as client:
        assert client.find(post) is None
        published = client.publish(post)

        # Then find() unwraps the link (and the &amp;) and recognises it
        assert client.find(post) == published
        assert client.find(make_outgoing(text="Another text")) is None


def test_a_confidential_client_authenticates_with_its_secret(
    make_x_server: Callable[..., FakeX], make_outgoing: MakeOutgoing
) -> None:
    server = make_x_server(clients={"confidential-app": "app-secret-value"})
    token = server.grant(client_id="confidential-app")

    with x_client(
        server.url, token, client_id="confidential-app", client_secret="app-secret-value"
    ) as client:
        client.publish(make_outgoing())

    assert len(server.tweets) == 1


# -- refusals -----------------------------------------------------------------------------------


def test_an_unknown_refresh_token_fails_with_reconnect_guidance(
    x_server: FakeX, make_outgoing: MakeOutgoing
) -> None:
    with (
        x_client(x_server.url, "not-a-token-x-knows") as client,
        pytest.raises(AuthRejected) as caught,
    ):
        client.publish(make_outgoing())

    message = str(caught.value)
    assert "Value passed for the token was invalid." in message
    assert "reconnect the account" in message
    assert REFRESH_VARIABLE in message
    assert x_server.tweets == []


def test_a_confidential_client_without_its_secret_is_told_to_check_it(
    make_x_server: Callable[..., FakeX], make_outgoing: MakeOutgoing
) -> None:
    server = make_x_server(clients={"confidential-app": "app-secret-value"})
    token = server.grant(client_id="confidential-app")

    with (
        x_client(server.url, token, client_id="confidential-app") as client,
        pytest.raises(AuthRejected, match="client secret"),
    ):
        client.publish(make_outgoing())


def test_a_revoked_authorization_fails_with_reconnect_guidance(
    x_server: FakeX, make_outgoing: MakeOutgoing
) -> None:
    # Given a worker that posted, then the user revoked the app's access on x.com
    with x_client(x_server.url, x_server.grant()) as client:
        client.publish(make_outgoing())
        x_server.revoke(X_ACCOUNT)

        # When it posts again: 401, and the refresh token is refused too
        with pytest.raises(AuthRejected, match="reconnect the account"):
            client.publish(make_outgoing())


def test_an_over_length_text_is_refused_for_good(
    x_server: FakeX, make_outgoing: MakeOutgoing
) -> None:
    # Given 141 CJK characters: 282 weighted
    with (
        x_client(x_server.url, x_server.grant()) as client,
        pytest.raises(PermanentPublishError) as caught,
    ):
        client.publish(make_outgoing(text="漢" * 141))

    assert not isinstance(caught.value, AuthRejected)
    assert "too long" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "kind", "words"),
    [
        (
            403,
            {
                "title": "Forbidden",
                "type": "about:blank",
                "status": 403,
                "detail": "You are not permitted to perform this action.",
            },
            AuthRejected,
            "Read and write",
        ),
        (
            402,
            {
                "title": "CreditsDepleted",
                "type": "https://api.x.com/2/problems/credits",
                "status": 402,
                "detail": "Your enrolled account does not have any credits.",
            },
            PermanentPublishError,
            "no credits",
        ),
    ],
)
def test_problem_answers_map_to_what_a_person_must_do(
    x_server: FakeX,
    make_outgoing: MakeOutgoing,
    status: int,
    body: dict[str, Any],
    kind: type[PublishError],
    words: str,
) -> None:
    with x_client(x_server.url, x_server.grant()) as client:
        client.check()
        x_server.fail_next(status, body)
        with pytest.raises(kind) as caught:
            client.publish(make_outgoing())

    assert words in str(caught.value)


def test_a_429_from_the_daily_limit_waits_for_its_reset(
    x_server: FakeX, make_outgoing: MakeOutgoing
) -> None:
    # Given the 15-minute window has room, but the account's 24-hour limit ran out
    daily = int(time.time()) + 36_000
    headers = {
        "x-rate-limit-limit": "200",
        "x-rate-limit-remaining": "150",
        "x-rate-limit-reset": str(daily - 35_000),
        "x-user-limit-24hour-limit": "300",
        "x-user-limit-24hour-remaining": "0",
        "x-user-limit-24hour-reset": str(daily),
    }
    with x_client(x_server.url, x_server.grant()) as client:
        client.check()
        x_server.fail_next(429, {"title": "Too Many Requests", "status": 429}, headers)
        with pytest.raises(RateLimited) as caught:
            client.publish(make_outgoing())

    assert caught.value.retry_at == datetime.fromtimestamp(daily, UTC)


def test_an_answer_lost_after_posting_is_unknown_and_the_resend_finds_it_out(
    x_server: FakeX, make_outgoing: MakeOutgoing
) -> None:
    # Given X creates the post, then the connection drops before the answer
    post = make_outgoing()
    with x_client(x_server.url, x_server.grant()) as client:
        client.check()
        x_server.drop_after_create()
        with pytest.raises(OutcomeUnknown):
            client.publish(post)

        # When the publisher resends it: X refuses the duplicate, and find() says where it is
        with pytest.raises(AlreadyPublished):
            client.publish(post)
        [tweet] = x_server.tweets
        assert client.find(post) == Published(
            tweet.id, f"https://x.com/{X_ACCOUNT}/status/{tweet.id}"
        )


# -- tokens shared by every worker --------------------------------------------------------------


def test_eight_workers_meeting_an_expired_token_refresh_it_once(
    x_server: FakeX, store: Store, make_outgoing: MakeOutgoing
) -> None:
    # Given eight workers sharing tokens through the store, and the access token just expired
    first = x_server.grant()
    clients = [x_client(x_server.url, first, credentials=store) for _ in range(8)]
    clients[0].check()
    x_server.expire_access_tokens()
    posts = [make_outgoing() for _ in range(8)]

    # When each publishes a post at the same moment
    results = at_once(8, lambda n: clients[n].publish(posts[n]))

    # Then one refresh reached X (besides the first), nobody spent a dead token, all are out
    assert all(isinstance(r, Published) for r in results), results
    assert x_server.refreshes == 2
    assert x_server.refused_refreshes == 0
    assert len(x_server.tweets) == 8


def test_eight_processes_meeting_an_expired_token_refresh_it_once(
    x_server: FakeX, tmp_path: Path
) -> None:
    # Given eight worker processes sharing one SQLite store, and an access token that expired
    database = tmp_path / "campaign.db"
    first = x_server.grant()
    store = SqliteStore.open(database)
    with x_client(x_server.url, first, credentials=store) as client:
        client.check()
    store.close()
    x_server.expire_access_tokens()

    # When each publishes a post at the same moment
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(8)
    results = context.Queue()
    processes = [
        context.Process(
            target=publish_in_a_process,
            args=(str(database), x_server.url, first, n, barrier, results),
        )
        for n in range(8)
    ]
    for process in processes:
        process.start()
    answers = dict(results.get(timeout=60) for _ in processes)
    for process in processes:
        process.join(30)

    # Then one refresh reached X (besides the first), and every process published its post
    assert sorted(answers) == list(range(8))
    assert all(answer.startswith("published ") for answer in answers.values()), answers
    assert x_server.refreshes == 2
    assert x_server.refused_refreshes == 0
    assert len(x_server.tweets) == 8


def publish_in_a_process(
    database: str, url: str, refresh_token: str, number: int, barrier: Barrier, results: Any
) -> None:
    """One worker process: its own store connection and client, released with the others."""
    store = SqliteStore.open(Path(database))
    client = x_client(url, refresh_token, credentials=store)
    post = Outgoing(
        post_id=f"process{number:02d}",
        campaign="safe-migration",
        channel_name="x-main",
        text=f"Post {number} from its own worker process",
        locale="en",
        scheduled_at=datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
    )
    barrier.wait(60)
    try:
        results.put((number, f"published {client.publish(post).remote_id}"))
    except PublishError as exc:
        results.put((number, f"failed: {exc}"))
    finally:
        client.close()
        store.close()


def test_a_token_about_to_expire_is_renewed_before_use(
    make_x_server: Callable[..., FakeX], make_outgoing: MakeOutgoing
) -> None:
    now = [datetime(2026, 11, 22, 8, 0, tzinfo=UTC).timestamp()]
    server = make_x_server(clock=lambda: now[0])
    store = NoCredentialStore()
    first = server.grant()
    with x_client(server.url, first, credentials=store, clock=lambda: now[0]) as client:
        client.check()
    now[0] += 7200 - 30

    with x_client(server.url, first, credentials=store, clock=lambda: now[0]) as client:
        client.publish(make_outgoing())

    # It renewed first: X never answered 401 to a post
    assert server.refreshes == 2
    assert len([r for r in server.requests if r.path == "/2/tweets"]) == 1


def test_a_new_refresh_token_in_the_environment_starts_a_new_chain(
    x_server: FakeX, make_outgoing: MakeOutgoing
) -> None:
    # Given workers sharing tokens from a first grant
    store = NoCredentialStore()
    old = x_server.grant()
    with x_client(x_server.url, old, credentials=store) as client:
        client.publish(make_outgoing())

    # When the operator reconnects the account and sets the new refresh token
    new = x_server.grant()
    with x_client(x_server.url, new, credentials=store) as client:
        client.publish(make_outgoing())
    assert x_server.refreshes == 2

    # Then a worker still holding the old value is told its environment is stale, and sends
    # nothing to X
    with (
        x_client(x_server.url, old, credentials=store) as stale,
        pytest.raises(AuthRejected, match="replaced when the account was reconnected"),
    ):
        stale.publish(make_outgoing())
    assert x_server.refreshes == 2
    assert x_server.refused_refreshes == 0
    assert len(x_server.tweets) == 2


def test_check_names_the_account(x_server: FakeX) -> None:
    with x_client(x_server.url, x_server.grant()) as client:
        assert client.check() == f"signed in as @{X_ACCOUNT} (id {x_server.user_id()})"
    with x_client(x_server.url, x_server.grant(), account="@SafeMigrationKG") as client:
        assert "not as the channel's account @SafeMigrationKG" in client.check()


# -- secrets ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["none", "expired", "unknown token", "500", "429", "dropped"])
def test_tokens_and_the_client_secret_never_appear_anywhere(
    make_x_server: Callable[..., FakeX],
    store: Store,
    make_outgoing: MakeOutgoing,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    # Given every logger at DEBUG, a confidential app, and tokens in the shared store
    caplog.set_level(logging.DEBUG)
    server = make_x_server(clients={"confidential-app": "app-secret-value"})
    first = server.grant(client_id="confidential-app")
    token = first if fault != "unknown token" else "unknown-refresh-token-value"
    client = x_client(
        server.url,
        token,
        client_id="confidential-app",
        client_secret="app-secret-value",
        credentials=store,
    )
    errors: list[BaseException] = []
    try:
        client.check()
    except PublishError as exc:
        errors.append(exc)
    if fault == "expired":
        server.expire_access_tokens()
    elif fault == "500":
        server.fail_next(500, {"title": "Internal", "detail": f"echo {first}", "status": 500})
    elif fault == "429":
        server.storm(requests=1)
    elif fault == "dropped":
        server.drop_after_create()

    # When a post is published through that fault
    try:
        client.publish(make_outgoing())
    except PublishError as exc:
        errors.append(exc)
    client.close()

    # Then no token and no secret shows in errors, chains, reprs, log lines, or the store
    secrets = [token, "app-secret-value", *server.issued_tokens]
    stored = store.credential(f"x:127.0.0.1:{server.port}:confidential-app:{X_ACCOUNT}")
    places: list[object] = [*errors, client, client.session, client.context, caplog.text]
    if stored is not None:
        places += [stored, stored.value]
    assert leaked(secrets, *places) == []


# -- the fake's own contract -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "weight"),
    [
        ("Салам, дүйнө!", 13),  # Cyrillic weighs 1
        ("Përshëndetje", 12),  # Albanian letters weigh 1
        ("漢字", 4),  # CJK weighs 2
        ("👍🏽🇰🇬", 4),  # an emoji sequence weighs 2
        ("… №", 5),  # outside the light ranges: 2 each
        ("see https://iom.int/kg/a-very-long-path-indeed.", 4 + 23 + 1),  # a link is 23
        ("e\u0301", 1),  # NFC first: é
    ],
)
def test_the_fake_weighs_text_as_twitter_text_v3(text: str, weight: int) -> None:
    assert weighted_length(text) == weight


def test_the_fake_spends_a_refresh_token_once(x_server: FakeX) -> None:
    import requests

    first = x_server.grant()
    form = {"grant_type": "refresh_token", "refresh_token": first, "client_id": X_CLIENT_ID}
    url = f"{x_server.url}/2/oauth2/token"

    assert requests.post(url, data=form, timeout=5).status_code == 200
    again = requests.post(url, data=form, timeout=5)
    assert again.status_code == 400
    assert again.json() == {
        "error": "invalid_request",
        "error_description": "Value passed for the token was invalid.",
    }


# -- through the publisher ----------------------------------------------------------------------


def publisher_for(store: Store, url: str, refresh_token: str) -> tuple[Publisher, str]:
    """A worker's publisher for one X post handed out now; (publisher, post id)."""
    campaign = make_campaign().model_copy(update={"channels": {"social": x_channel(url)}})
    now = datetime.now(UTC).replace(microsecond=0)
    post = make_post(campaign, now, locale="en")._replace(platform="x")
    diff.apply(store, campaign, [post])
    store.hand_out_due(now.timestamp(), batch=10, requeue_after=60, hold=1)
    environment = {REFRESH_VARIABLE: refresh_token, "X_CLIENT_ID": X_CLIENT_ID}
    settings = Settings(_env_file=None, max_attempts=3, backoff_base=10, backoff_max=100)  # type: ignore[call-arg]
    return Publisher(settings, store, environ=lambda: environment, clock=now.timestamp), post.id


def test_a_post_whose_answer_was_lost_is_recorded_sent_with_its_url(
    x_server: FakeX, store: Store
) -> None:
    # Given a worker whose first try created the post on X but lost the answer
    publisher, post_id = publisher_for(store, x_server.url, x_server.grant())
    x_server.drop_after_create()
    assert publisher.publish(post_id) == "retry"

    # When the post is handed out again: X refuses the duplicate, and the client finds it
    due = store.next_wakeup()
    assert due is not None
    store.hand_out_due(due, batch=10, requeue_after=60, hold=1)
    assert publisher.publish(post_id) == "sent"

    # Then it is recorded sent, with the URL of the one post X holds
    [tweet] = x_server.tweets
    stored = store.post(post_id)
    assert stored is not None
    assert (stored.state, stored.url) == (
        State.SENT,
        f"https://x.com/{X_ACCOUNT}/status/{tweet.id}",
    )
    publisher.close()


def test_a_revoked_account_fails_its_post_as_needing_reconnection(
    x_server: FakeX, store: Store
) -> None:
    # Given a worker that posted once, then the user revoked the app's access
    first = x_server.grant()
    publisher, post_id = publisher_for(store, x_server.url, first)
    with x_client(x_server.url, first, credentials=store) as client:
        client.check()
    x_server.revoke(X_ACCOUNT)

    # When the post is due
    assert publisher.publish(post_id) == "failed"

    # Then it failed with guidance, marked as an account to reconnect
    stored = store.post(post_id)
    assert stored is not None
    assert stored.error_kind == "auth"
    assert "reconnect the account" in (stored.error or "")
    publisher.close()


@pytest.mark.parametrize("fault", ["500", "empty 2xx", "no account"])
def test_a_check_that_fails_on_the_way_is_worth_retrying(x_server: FakeX, fault: str) -> None:
    # Given a worker with tokens, and a server that fails the read
    with x_client(x_server.url, x_server.grant()) as client:
        client.session.tokens()
        if fault == "500":
            x_server.fail_next(500, {"title": "Internal Server Error", "status": 500})
        elif fault == "empty 2xx":
            x_server.fail_next(200, b"")
        else:
            x_server.fail_next(200, {"data": {}})

        # When the channel is checked, Then it is worth trying again: a read changed nothing
        with pytest.raises(TransientPublishError):
            client.check()
