"""The Bluesky client, specified against a fake PDS that can fail on demand.

What a real PDS does is checked against the real one in tests/test_platform_bluesky_pds.py;
here are the faults it cannot be made to show (a token that expires now, a lost answer, 5xx,
429) and the client's own rules (the record key, the record, the shared session).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import requests

from campaign.errors import (
    AuthRejected,
    OutcomeUnknown,
    PermanentPublishError,
    PublishError,
    TransientPublishError,
)
from tests.fakes.bluesky import FakeBluesky, Record
from tests.fixtures.bluesky import (
    BLUESKY_HANDLE,
    BLUESKY_PASSWORD,
    PASSWORD_VARIABLE,
    bluesky_channel,
    bluesky_client,
)
from tests.fixtures.leaks import leaked
from tests.fixtures.plans import make_campaign, make_post
from tests.fixtures.threads import at_once
from workers import diff
from workers.platforms.base import NoCredentialStore, Outgoing, Published, Resend
from workers.platforms.bluesky import BlueskyClient, created_at, record_key
from workers.publish import Publisher
from workers.settings import Settings
from workers.store import State, Store

MakeOutgoing = Callable[..., Outgoing]
KYRGYZ = "Салам! Коопсуз миграция тууралуу https://iom.int/kg маалымат #Миграция"
TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


def put_bodies(server: FakeBluesky) -> list[bytes]:
    return [r.body for r in server.requests if r.path.endswith("/com.atproto.repo.putRecord")]


# -- publishing ---------------------------------------------------------------------------------


def test_a_post_becomes_one_record_with_its_language_time_and_facets(
    bluesky_server: FakeBluesky, make_outgoing: MakeOutgoing
) -> None:
    # Given a Kyrgyz post with a link and a hashtag
    post = make_outgoing(text=KYRGYZ, locale="ky")

    # When it is published
    with bluesky_client(bluesky_server.url) as client:
        published = client.publish(post)

    # Then the account holds one record: the text as previewed, the audience's language, the
    # scheduled time, and facets whose byte ranges cover the link and the tag
    [record] = bluesky_server.records
    value = record.value
    assert value["text"] == KYRGYZ
    assert value["langs"] == ["ky"]
    assert value["createdAt"] == "2026-11-22T09:00:00.000Z"
    encoded = KYRGYZ.encode()
    shown = {
        encoded[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode(): f["features"][0]
        for f in value["facets"]
    }
    assert shown["https://iom.int/kg"]["uri"] == "https://iom.int/kg"
    assert shown["#Миграция"]["tag"] == "Миграция"
    # ...and the post lives at the app's address, under the key derived from the post
    rkey = record_key(post.post_id, post.scheduled_at)
    assert record.rkey == rkey
    assert published == Published(
        record.uri, f"https://bsky.app/profile/{BLUESKY_HANDLE}/post/{rkey}"
    )


def test_the_record_key_is_a_tid_of_the_scheduled_time_the_same_for_ever(
    make_outgoing: MakeOutgoing,
) -> None:
    # Given two posts of one account at the same second, and one of them again later
    first, second = make_outgoing(), make_outgoing()
    assert first.scheduled_at == second.scheduled_at

    # Then each gets its own key, always the same one, a TID that sorts by the scheduled time
    assert record_key(first.post_id, first.scheduled_at) == record_key(
        first.post_id, first.scheduled_at
    )
    assert record_key(first.post_id, first.scheduled_at) != record_key(
        second.post_id, second.scheduled_at
    )
    later = first.scheduled_at + timedelta(seconds=1)
    assert TID.match(record_key(first.post_id, first.scheduled_at))
    assert record_key(first.post_id, first.scheduled_at) < record_key("zzz", later)
    assert (
        created_at(datetime(2026, 11, 22, 9, 0, 0, 123456, tzinfo=UTC))
        == "2026-11-22T09:00:00.123Z"
    )


def test_a_serbian_latin_post_is_labelled_with_its_locale(
    bluesky_server: FakeBluesky, make_outgoing: MakeOutgoing
) -> None:
    with bluesky_client(bluesky_server.url) as client:
        client.publish(make_outgoing(locale="sr-Latn"))

    [record] = bluesky_server.records
    assert record.value["langs"] == ["sr-Latn"]


def test_the_same_post_twice_sends_the_same_bytes_and_makes_one_record(
    bluesky_server: FakeBluesky, make_outgoing: MakeOutgoing
) -> None:
    # Given a post already published
    post = make_outgoing(text=KYRGYZ)
    with bluesky_client(bluesky_server.url) as client:
        first = client.publish(post)

        # When it is published again (a retry after an unknown outcome, any time later)
        second = client.publish(post)

    # Then the request was byte for byte the same, and the PDS kept one record
    assert second == first
    one, two = put_bodies(bluesky_server)
    assert one == two
    assert len(bluesky_server.records) == 1
    assert BlueskyClient.resend is Resend.BY_KEY
    assert BlueskyClient.resend_window is None


def test_eight_workers_publishing_one_post_at_once_make_one_record_and_one_session(
    bluesky_server: FakeBluesky, store: Store, make_outgoing: MakeOutgoing
) -> None:
    # Given one post handed to eight workers by mistake, sharing the store and no session yet
    post = make_outgoing()
    clients = [bluesky_client(bluesky_server.url, credentials=store) for _ in range(8)]

    # When they all publish it at the same moment
    results = at_once(8, lambda n: clients[n].publish(post))

    # Then there is one record, everybody learned where, and one of them signed in
    [record] = bluesky_server.records
    assert {r.remote_id for r in results if isinstance(r, Published)} == {record.uri}
    assert all(isinstance(r, Published) for r in results)
    assert bluesky_server.sessions_created == 1


def test_a_mention_links_the_resolved_account_and_an_unknown_handle_stays_text(
    make_bluesky_server: Callable[..., FakeBluesky],
    make_outgoing: MakeOutgoing,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a partner account on the PDS, and a handle nobody holds
    server = make_bluesky_server(
        accounts=[(BLUESKY_HANDLE, BLUESKY_PASSWORD), ("partner.test", "pw")]
    )
    text = "Бирге: @partner.test жана @nobody.test"

    # When a post mentioning both is published
    with bluesky_client(server.url) as client:
        client.publish(make_outgoing(text=text))

    # Then the partner is a mention facet with its DID; the unknown handle is plain text, and
    # the log says so
    [record] = server.records
    [facet] = record.value["facets"]
    start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
    assert text.encode()[start:end].decode() == "@partner.test"
    assert facet["features"] == [
        {"$type": "app.bsky.richtext.facet#mention", "did": server.account("partner.test").did}
    ]
    assert "@nobody.test does not resolve" in caplog.text


def test_a_record_under_the_key_with_the_same_text_is_taken_for_ours(
    bluesky_server: FakeBluesky, make_outgoing: MakeOutgoing
) -> None:
    # Given an earlier try stored the post when a mention resolved differently (other facets)
    post = make_outgoing(text="Бирге @campaign.test")
    with bluesky_client(bluesky_server.url) as client:
        first = client.publish(post)
        record = bluesky_server.records[0]
        tampered = {k: v for k, v in record.value.items() if k != "facets"}
        _replace(bluesky_server, record, tampered)

        # When the post is sent again: putRecord answers InvalidSwap
        again = client.publish(post)

    # Then the record is recognised as this post's, and nothing is overwritten
    assert again == first
    assert bluesky_server.records[0].value == tampered


def test_a_different_text_under_the_key_fails_and_says_where_the_post_is(
    bluesky_server: FakeBluesky, make_outgoing: MakeOutgoing
) -> None:
    # Given the post was published, then its text was edited in the campaign
    post = make_outgoing(text="First wording")
    with bluesky_client(bluesky_server.url) as client:
        first = client.publish(post)

        # When the edited post is sent under the same id
        with pytest.raises(PermanentPublishError) as caught:
            client.publish(make_outgoing(post_id=post.post_id, text="Second wording"))

    # Then it fails for good, names the post that is out, and overwrote nothing
    assert str(first.url) in str(caught.value)
    assert "not overwritten" in str(caught.value)
    assert [r.value["text"] for r in bluesky_server.records] == ["First wording"]


def test_a_text_over_the_limit_with_a_long_link_is_posted_with_the_link_shortened(
    bluesky_server: FakeBluesky, make_outgoing: MakeOutgoing
) -> None:
    # Given a text of 270 graphemes and a link of 64 characters: 335 as written
    link = "https://www.iom.int/news/safe-migration-campaign-kyrgyzstan-2026"
    text = "ы" * 270 + " " + link

    # When it is published
    with bluesky_client(bluesky_server.url) as client:
        client.publish(make_outgoing(text=text))

    # Then the link is shown as the Bluesky app shows it, and its facet keeps the full address
    [record] = bluesky_server.records
    shown = "www.iom.int/news/safe-mi..."  # the host, 13 characters of path, ...
    assert record.value["text"] == "ы" * 270 + " " + shown
    [facet] = record.value["facets"]
    start = len(("ы" * 270 + " ").encode())
    assert facet["index"] == {"byteStart": start, "byteEnd": start + len(shown)}
    assert facet["features"][0]["uri"] == link


# -- refusals -----------------------------------------------------------------------------------


def test_a_wrong_app_password_is_auth_rejected_with_guidance(
    bluesky_server: FakeBluesky, make_outgoing: MakeOutgoing
) -> None:
    with (
        bluesky_client(bluesky_server.url, "wrong-pass-word-0000") as client,
        pytest.raises(AuthRejected) as caught,
    ):
        client.publish(make_outgoing())

    message = str(caught.value)
    assert "Invalid identifier or password" in message
    assert "App passwords" in message
    assert PASSWORD_VARIABLE in message
    assert bluesky_server.records == []


def test_a_text_of_301_graphemes_is_refused_for_good(
    bluesky_server: FakeBluesky, make_outgoing: MakeOutgoing
) -> None:
    # Given 301 flags: 301 graphemes (602 code points)
    with (
        bluesky_client(bluesky_server.url) as client,
        pytest.raises(PermanentPublishError) as caught,
    ):
        client.publish(make_outgoing(text="🇰🇬" * 301))

    assert not isinstance(caught.value, AuthRejected)
    assert "grapheme too big (maximum 300, got 301)" in str(caught.value)


def test_300_graphemes_of_2400_bytes_are_accepted(
    bluesky_server: FakeBluesky, make_outgoing: MakeOutgoing
) -> None:
    with bluesky_client(bluesky_server.url) as client:
        client.publish(make_outgoing(text="👍🏽" * 300))

    assert len(bluesky_server.records) == 1


def test_a_failed_sign_in_is_worth_retrying_and_posted_nothing(
    bluesky_server: FakeBluesky, make_outgoing: MakeOutgoing
) -> None:
    # Given a PDS that fails the sign-in with a 502 (an unknown outcome, for a post)
    bluesky_server.fail_next(502, {"error": "UpstreamFailure", "message": "try later"})

    with (
        bluesky_client(bluesky_server.url) as client,
        pytest.raises(TransientPublishError) as caught,
    ):
        client.publish(make_outgoing())

    assert "nothing was posted (signing in)" in str(caught.value)
    assert bluesky_server.records == []


def test_an_answer_lost_after_the_record_was_written_is_unknown_and_a_retry_finds_it(
    bluesky_server: FakeBluesky, make_outgoing: MakeOutgoing
) -> None:
    # Given a PDS that writes the record, then closes the connection without answering
    post = make_outgoing()
    with bluesky_client(bluesky_server.url) as client:
        client.check()
        bluesky_server.drop_after_create()

        with pytest.raises(OutcomeUnknown):
            client.publish(post)

        # Then a retry returns the record written, and no twin exists
        [record] = bluesky_server.records
        assert client.publish(post).remote_id == record.uri
        assert client.find(post) == Published(record.uri, client.publish(post).url)
    assert len(bluesky_server.records) == 1


# -- the session --------------------------------------------------------------------------------


def test_eight_workers_meeting_an_expired_session_refresh_it_once(
    bluesky_server: FakeBluesky, store: Store, make_outgoing: MakeOutgoing
) -> None:
    # Given eight workers sharing a session through the store, and the session just expired
    clients = [bluesky_client(bluesky_server.url, credentials=store) for _ in range(8)]
    clients[0].check()
    bluesky_server.expire_access_tokens()
    posts = [make_outgoing() for _ in range(8)]

    # When each publishes a post at the same moment
    results = at_once(8, lambda n: clients[n].publish(posts[n]))

    # Then one refresh reached the PDS, nobody signed in again, and every post is out
    assert all(isinstance(r, Published) for r in results), results
    assert bluesky_server.refreshes == 1
    assert bluesky_server.sessions_created == 1
    assert len(bluesky_server.records) == 8


def test_a_session_is_renewed_before_it_expires(
    make_bluesky_server: Callable[..., FakeBluesky], make_outgoing: MakeOutgoing
) -> None:
    # Given a session whose access token expires within the minute (the PDS's own clock)
    now = [datetime(2026, 11, 22, 8, 0, tzinfo=UTC).timestamp()]
    server = make_bluesky_server(clock=lambda: now[0])
    store = NoCredentialStore()
    with bluesky_client(server.url, credentials=store, clock=lambda: now[0]) as client:
        client.check()
    now[0] += 2 * 3600 - 30

    # When a worker whose clock agrees publishes
    with bluesky_client(server.url, credentials=store, clock=lambda: now[0]) as client:
        client.publish(make_outgoing())

    # Then it refreshed first, instead of meeting ExpiredToken (and sending the post twice)
    assert server.refreshes == 1
    assert len(put_bodies(server)) == 1


def test_a_revoked_session_signs_in_again_with_the_app_password(
    bluesky_server: FakeBluesky, make_outgoing: MakeOutgoing
) -> None:
    # Given a session whose refresh token was revoked, and whose access token expired
    with bluesky_client(bluesky_server.url) as client:
        client.check()
        bluesky_server.revoke_sessions()
        bluesky_server.expire_access_tokens()

        # When a post is published
        client.publish(make_outgoing())

    # Then the client signed in again with the app password
    assert bluesky_server.sessions_created == 2
    assert len(bluesky_server.records) == 1


def test_a_revoked_app_password_fails_with_guidance(
    bluesky_server: FakeBluesky, make_outgoing: MakeOutgoing
) -> None:
    # Given the app password was revoked (its sessions with it) and the access token expired
    with bluesky_client(bluesky_server.url) as client:
        client.check()
        bluesky_server.change_password(BLUESKY_HANDLE, "another-app-password")
        bluesky_server.expire_access_tokens()

        with pytest.raises(AuthRejected) as caught:
            client.publish(make_outgoing())

    assert "revoked or mistyped" in str(caught.value)
    assert bluesky_server.records == []


def test_a_worker_with_an_old_app_password_does_not_spend_the_shared_session(
    bluesky_server: FakeBluesky, make_outgoing: MakeOutgoing
) -> None:
    # Given workers sharing a session, and the operator replaced the app password: a worker
    # with the new one signed in afresh
    store = NoCredentialStore()
    with bluesky_client(bluesky_server.url, credentials=store) as client:
        client.check()
    bluesky_server.change_password(BLUESKY_HANDLE, "new-app-password-0000")
    with bluesky_client(bluesky_server.url, "new-app-password-0000", credentials=store) as client:
        client.publish(make_outgoing())
    signed_in = bluesky_server.sessions_created

    # When a worker still holding the old password publishes
    with (
        bluesky_client(bluesky_server.url, credentials=store) as old,
        pytest.raises(AuthRejected, match="older than the app password"),
    ):
        old.publish(make_outgoing())

    # Then it is told its environment is stale, and asked the PDS nothing
    assert bluesky_server.sessions_created == signed_in
    assert len(bluesky_server.records) == 1


def test_check_names_the_account(bluesky_server: FakeBluesky) -> None:
    with bluesky_client(bluesky_server.url) as client:
        assert client.check() == (
            f"signed in as @{BLUESKY_HANDLE} ({bluesky_server.account().did})"
        )


def test_check_says_when_the_password_signs_in_another_account(
    make_bluesky_server: Callable[..., FakeBluesky],
) -> None:
    server = make_bluesky_server(accounts=[("other.test", BLUESKY_PASSWORD)])
    with bluesky_client(server.url, account="campaign.test", identifier="other.test") as client:
        assert "not as the channel's account campaign.test" in client.check()


def test_an_app_password_of_another_account_posts_nothing(
    make_bluesky_server: Callable[..., FakeBluesky], make_outgoing: MakeOutgoing
) -> None:
    # Given a channel for campaign.test whose app password signs in other.test
    server = make_bluesky_server(accounts=[("other.test", BLUESKY_PASSWORD)])
    client = bluesky_client(server.url, account="campaign.test", identifier="other.test")

    # When a post is published
    with client, pytest.raises(AuthRejected) as caught:
        client.publish(make_outgoing())

    # Then it fails, saying which account the password belongs to; nothing was posted
    assert "signs in @other.test, not the channel's account campaign.test" in str(caught.value)
    assert server.records == []


def test_find_knows_a_post_only_once_it_is_out(
    bluesky_server: FakeBluesky, make_outgoing: MakeOutgoing
) -> None:
    post = make_outgoing()
    with bluesky_client(bluesky_server.url) as client:
        assert client.find(post) is None
        published = client.publish(post)
        assert client.find(post) == published


# -- secrets ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["none", "wrong password", "expired", "500", "429", "dropped"])
def test_the_app_password_and_tokens_never_appear_anywhere(
    bluesky_server: FakeBluesky,
    store: Store,
    make_outgoing: MakeOutgoing,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    # Given every logger at DEBUG and a session in the shared store
    caplog.set_level(logging.DEBUG)
    password = BLUESKY_PASSWORD if fault != "wrong password" else "wrong-pass-word-0000"
    client = bluesky_client(bluesky_server.url, password, credentials=store)
    errors: list[BaseException] = []
    try:
        client.check()
    except PublishError as exc:
        errors.append(exc)
    if fault == "expired":
        bluesky_server.expire_access_tokens()
    elif fault == "500":
        bluesky_server.fail_next(500, {"error": "InternalServerError", "message": password})
    elif fault == "429":
        bluesky_server.storm(requests=1)
    elif fault == "dropped":
        bluesky_server.drop_after_create()

    # When a post is published through that fault
    try:
        client.publish(make_outgoing())
    except PublishError as exc:
        errors.append(exc)
    client.close()

    # Then neither the app password nor any token shows in errors, chains, reprs, log lines,
    # or the store
    secrets = [password, *bluesky_server.issued_tokens]
    stored = store.credential(f"bluesky:127.0.0.1:{bluesky_server.port}:{BLUESKY_HANDLE}")
    places: list[object] = [*errors, client, client.session, client.context, caplog.text]
    if stored is not None:
        places += [stored, stored.value]
    assert leaked(secrets, *places) == []


# -- the fake's own contract (what the tests above rely on) ------------------------------------


def test_the_fake_counts_graphemes_and_bytes_as_the_pds_does(
    bluesky_server: FakeBluesky, make_outgoing: MakeOutgoing
) -> None:
    with bluesky_client(bluesky_server.url) as client:
        # 150 families of four: 150 graphemes, 3,750 bytes
        with pytest.raises(PermanentPublishError, match="string too big"):
            client.publish(make_outgoing(text="👨‍👩‍👧‍👦" * 150))
        # a letter and a combining accent: one grapheme of two code points
        with pytest.raises(PermanentPublishError, match=r"maximum 300, got 301\)"):
            client.publish(make_outgoing(text="e\u0301" * 301))
        client.publish(make_outgoing(text="e\u0301" * 300))


def test_the_fake_refuses_a_facet_outside_the_text_or_inside_a_character(
    bluesky_server: FakeBluesky,
) -> None:
    # Given a session on the fake PDS
    with bluesky_client(bluesky_server.url) as client:
        session = client.session.tokens().tokens

    def put(facets: list[dict[str, object]]) -> int:
        record = {
            "$type": "app.bsky.feed.post",
            "text": "Салам",
            "createdAt": "2026-11-22T09:00:00Z",
            "facets": facets,
        }
        body = {
            "repo": session["did"],
            "collection": "app.bsky.feed.post",
            "rkey": "3m2vatw5fvury",
            "record": record,
        }
        answer = requests.post(
            f"{bluesky_server.url}/xrpc/com.atproto.repo.putRecord",
            json=body,
            headers={"Authorization": f"Bearer {session['accessJwt']}"},
            timeout=5,
        )
        return answer.status_code

    link = [{"$type": "app.bsky.richtext.facet#link", "uri": "https://iom.int"}]
    assert put([{"index": {"byteStart": 0, "byteEnd": 11}, "features": link}]) == 400
    assert put([{"index": {"byteStart": 1, "byteEnd": 4}, "features": link}]) == 400
    assert put([{"index": {"byteStart": 0, "byteEnd": 4}, "features": link}]) == 200


def _replace(server: FakeBluesky, record: Record, value: dict[str, object]) -> None:
    server.store_record(record.did, record.rkey, dict(value))


# -- through the publisher ----------------------------------------------------------------------


def test_a_post_whose_answer_was_lost_is_resent_and_recorded_once(
    bluesky_server: FakeBluesky, store: Store
) -> None:
    # Given a worker whose first try wrote the record but lost the answer
    campaign = make_campaign().model_copy(
        update={"channels": {"social": bluesky_channel(bluesky_server.url)}}
    )
    now = datetime.now(UTC).replace(microsecond=0)
    post = make_post(campaign, now, locale="ky", text=KYRGYZ)._replace(platform="bluesky")
    diff.apply(store, campaign, [post])
    store.hand_out_due(now.timestamp(), batch=10, requeue_after=60, hold=1)
    settings = Settings(_env_file=None, max_attempts=3, backoff_base=10, backoff_max=100)  # type: ignore[call-arg]
    environment = {PASSWORD_VARIABLE: BLUESKY_PASSWORD}
    publisher = Publisher(settings, store, environ=lambda: environment, clock=now.timestamp)
    bluesky_server.drop_after_create()
    assert publisher.publish(post.id) == "retry"

    # When it is handed out again
    due = store.next_wakeup()
    assert due is not None
    store.hand_out_due(due, batch=10, requeue_after=60, hold=1)
    assert publisher.publish(post.id) == "sent"
    publisher.close()

    # Then the same record answered, and it is recorded sent with its URL
    [record] = bluesky_server.records
    stored = store.post(post.id)
    assert stored is not None
    assert (stored.state, stored.remote_id) == (State.SENT, record.uri)
    assert stored.url == f"https://bsky.app/profile/{BLUESKY_HANDLE}/post/{record.rkey}"


@pytest.mark.parametrize("fault", ["500", "empty 2xx"])
def test_a_check_that_fails_on_the_way_is_worth_retrying(
    bluesky_server: FakeBluesky, fault: str
) -> None:
    # Given a worker with a session, and a PDS that fails the read
    with bluesky_client(bluesky_server.url) as client:
        client.session.tokens()
        if fault == "500":
            bluesky_server.fail_next(500, {"error": "InternalServerError", "message": "boom"})
        else:
            bluesky_server.fail_next(200, b"")

        # When the channel is checked, Then it is worth trying again: a read changed nothing
        with pytest.raises(TransientPublishError):
            client.check()
