"""The Bluesky client against the real reference PDS (@atproto/pds 0.5.35, offline).

The `bluesky_pds` session fixture (tests/fixtures/bluesky_pds.py) installs and starts it; each
test makes its own account with an app password, as a campaign's account would have. What the
real PDS cannot be made to do on demand (a token that expires now, lost answers, 5xx, 429) is
in tests/test_platform_bluesky.py against the fake.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from campaign.errors import AuthRejected, PermanentPublishError
from tests.fixtures.bluesky import bluesky_client
from tests.fixtures.threads import at_once
from tests.reference.bluesky_pds import BlueskyPds
from workers.platforms.base import CredentialStore, NoCredentialStore, Outgoing, Published
from workers.platforms.bluesky import BlueskyClient, record_key

MakeOutgoing = Callable[..., Outgoing]
KYRGYZ = "Салам! Коопсуз миграция тууралуу маалымат: https://iom.int/kg #КоопсузМиграция"
TWO_HOURS = 2 * 3600.0


@dataclass(frozen=True)
class Member:
    """An account on the PDS and the app password the campaign signs in with."""

    did: str
    handle: str
    app_password: str
    access_jwt: str  # the account's own session (to revoke the app password)


@pytest.fixture
def member(bluesky_pds: BlueskyPds) -> Member:
    """A fresh account on the real PDS, with an app password for the campaign."""
    account = bluesky_pds.create_account()
    answer = requests.post(
        bluesky_pds.xrpc("com.atproto.server.createAppPassword"),
        json={"name": "campaign-scheduler"},
        headers={"Authorization": f"Bearer {account.access_jwt}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return Member(account.did, account.handle, answer.json()["password"], account.access_jwt)


class Later:
    """A clock two hours ahead (the session has run out), until a refresh renews the session:
    the real PDS cannot be made to expire a token now, and dates new tokens by its own clock."""

    def __init__(self) -> None:
        self.ahead = TWO_HOURS

    def __call__(self) -> float:
        return time.time() + self.ahead


@pytest.fixture
def later() -> Later:
    return Later()


@pytest.fixture
def sign_ins(monkeypatch: pytest.MonkeyPatch, later: Later) -> list[str]:
    """Every sign-in the clients make: "create" (createSession) or "refresh"; a refresh brings
    `later` back to the present."""
    made: list[str] = []
    original = BlueskyClient.sign_in

    def counted(self: BlueskyClient, current: Any) -> Any:
        made.append("create" if current is None else "refresh")
        session = original(self, current)
        if current is not None:
            later.ahead = 0.0
        return session

    monkeypatch.setattr(BlueskyClient, "sign_in", counted)
    return made


def client_for(
    pds: BlueskyPds,
    member: Member,
    *,
    store: CredentialStore | None = None,
    clock: Callable[[], float] | None = None,
) -> BlueskyClient:
    options: dict[str, Any] = {"credentials": store or NoCredentialStore()}
    if clock is not None:
        options["clock"] = clock
    return bluesky_client(pds.url, member.app_password, account=member.handle, **options)


def get_record(pds: BlueskyPds, member: Member, rkey: str) -> dict[str, Any]:
    answer = requests.get(
        pds.xrpc("com.atproto.repo.getRecord"),
        params={"repo": member.did, "collection": "app.bsky.feed.post", "rkey": rkey},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    record: dict[str, Any] = answer.json()
    return record


def list_records(pds: BlueskyPds, member: Member) -> list[dict[str, Any]]:
    answer = requests.get(
        pds.xrpc("com.atproto.repo.listRecords"),
        params={"repo": member.did, "collection": "app.bsky.feed.post"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    records: list[dict[str, Any]] = answer.json()["records"]
    return records


def test_a_kyrgyz_post_reads_back_with_its_facets_on_the_right_bytes(
    bluesky_pds: BlueskyPds, member: Member, make_outgoing: MakeOutgoing
) -> None:
    # Given a Kyrgyz post with a link and a hashtag (two bytes a letter)
    post = make_outgoing(text=KYRGYZ, locale="ky")

    # When it is published to the real PDS
    with client_for(bluesky_pds, member) as client:
        published = client.publish(post)

    # Then getRecord gives back the text, the language, the time, and facets whose UTF-8
    # byte ranges cover exactly the link and the tag
    rkey = record_key(post.post_id, post.scheduled_at)
    stored = get_record(bluesky_pds, member, rkey)
    assert stored["uri"] == published.remote_id
    value = stored["value"]
    assert (value["text"], value["langs"], value["createdAt"]) == (
        KYRGYZ,
        ["ky"],
        "2026-11-22T09:00:00.000Z",
    )
    encoded = KYRGYZ.encode()
    covered = {
        encoded[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode(): f["features"][0]
        for f in value["facets"]
    }
    assert covered == {
        "https://iom.int/kg": {
            "$type": "app.bsky.richtext.facet#link",
            "uri": "https://iom.int/kg",
        },
        "#КоопсузМиграция": {"$type": "app.bsky.richtext.facet#tag", "tag": "КоопсузМиграция"},
    }
    assert published.url == f"https://bsky.app/profile/{member.handle}/post/{rkey}"


def test_a_retry_returns_the_same_uri_and_cid_and_changes_nothing(
    bluesky_pds: BlueskyPds, member: Member, make_outgoing: MakeOutgoing
) -> None:
    # Given a post already published
    post = make_outgoing(text=KYRGYZ)
    with client_for(bluesky_pds, member) as client:
        first = client.publish(post)
        cid = get_record(bluesky_pds, member, record_key(post.post_id, post.scheduled_at))["cid"]

        # When the same post is sent again (a resend after an unknown outcome)
        again = client.publish(post)

    # Then the PDS answered with the same record, and holds it once, unchanged
    assert again == first
    [listed] = list_records(bluesky_pds, member)
    assert (listed["uri"], listed["cid"]) == (first.remote_id, cid)


def test_a_different_text_under_the_posts_key_is_refused_as_invalid_swap(
    bluesky_pds: BlueskyPds, member: Member, make_outgoing: MakeOutgoing
) -> None:
    # Given a post published, then edited in the campaign file (same post id)
    post = make_outgoing(text="The first wording")
    with client_for(bluesky_pds, member) as client:
        first = client.publish(post)

        # When the edited text is sent: the PDS answers InvalidSwap
        with pytest.raises(PermanentPublishError) as caught:
            client.publish(make_outgoing(post_id=post.post_id, text="The second wording"))

    # Then the post that is out is named, and was not overwritten
    assert str(first.url) in str(caught.value)
    [listed] = list_records(bluesky_pds, member)
    assert listed["value"]["text"] == "The first wording"


def test_301_graphemes_are_refused_for_good(
    bluesky_pds: BlueskyPds, member: Member, make_outgoing: MakeOutgoing
) -> None:
    with client_for(bluesky_pds, member) as client, pytest.raises(PermanentPublishError) as caught:
        client.publish(make_outgoing(text="🇰🇬" * 301))

    assert not isinstance(caught.value, AuthRejected)
    assert "grapheme too big (maximum 300, got 301)" in str(caught.value)
    assert list_records(bluesky_pds, member) == []


def test_workers_share_one_session_through_the_store(
    bluesky_pds: BlueskyPds, member: Member, make_outgoing: MakeOutgoing, sign_ins: list[str]
) -> None:
    # Given two workers sharing a store
    store = NoCredentialStore()

    # When each publishes a post
    for _ in range(2):
        with client_for(bluesky_pds, member, store=store) as client:
            client.publish(make_outgoing())

    # Then one of them signed in, and the other used its session
    assert sign_ins == ["create"]
    assert len(list_records(bluesky_pds, member)) == 2


def test_eight_workers_with_an_expiring_session_refresh_it_once(
    bluesky_pds: BlueskyPds,
    member: Member,
    make_outgoing: MakeOutgoing,
    sign_ins: list[str],
    later: Later,
) -> None:
    # Given a session in the store, and eight workers two hours later (it is about to expire;
    # ExpiredToken itself is tested against the fake)
    store = NoCredentialStore()
    with client_for(bluesky_pds, member, store=store) as client:
        client.check()
    workers = [client_for(bluesky_pds, member, store=store, clock=later) for _ in range(8)]
    posts = [make_outgoing() for _ in range(8)]

    # When they publish at the same moment
    results = at_once(8, lambda n: workers[n].publish(posts[n]))

    # Then the PDS refreshed the session once, and every post is out
    assert all(isinstance(result, Published) for result in results), results
    assert sign_ins == ["create", "refresh"]
    assert len(list_records(bluesky_pds, member)) == 8


def test_a_revoked_app_password_fails_with_guidance_once_the_session_ends(
    bluesky_pds: BlueskyPds, member: Member, make_outgoing: MakeOutgoing, later: Later
) -> None:
    # Given a session, then the account holder revoked the campaign's app password
    store = NoCredentialStore()
    with client_for(bluesky_pds, member, store=store) as client:
        client.check()
    revoked = requests.post(
        bluesky_pds.xrpc("com.atproto.server.revokeAppPassword"),
        json={"name": "campaign-scheduler"},
        headers={"Authorization": f"Bearer {member.access_jwt}"},
        timeout=30,
    )
    assert revoked.status_code == 200, revoked.text

    # When a worker needs a new session (refreshSession: "Token has been revoked"; then
    # createSession with the app password: refused)
    with (
        client_for(bluesky_pds, member, store=store, clock=later) as client,
        pytest.raises(AuthRejected) as caught,
    ):
        client.publish(make_outgoing())

    # Then the post fails, saying what to do
    assert "Invalid identifier or password" in str(caught.value)
    assert "App passwords" in str(caught.value)


def test_a_mention_of_an_account_on_the_pds_becomes_its_did(
    bluesky_pds: BlueskyPds, member: Member, make_outgoing: MakeOutgoing
) -> None:
    # Given a partner account on the same PDS
    partner = bluesky_pds.create_account()
    text = f"Бирге: @{partner.handle} жана @nobody-here.test"

    with client_for(bluesky_pds, member) as client:
        published = client.publish(make_outgoing(text=text))

    # Then its mention points at its DID; the handle nobody holds is plain text
    rkey = published.remote_id.rsplit("/", 1)[1]
    [facet] = get_record(bluesky_pds, member, rkey)["value"]["facets"]
    start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
    assert text.encode()[start:end].decode() == f"@{partner.handle}"
    assert facet["features"][0]["did"] == partner.did


def test_check_names_the_account(bluesky_pds: BlueskyPds, member: Member) -> None:
    with client_for(bluesky_pds, member) as client:
        assert client.check() == f"signed in as @{member.handle} ({member.did})"
