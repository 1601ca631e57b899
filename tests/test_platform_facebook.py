"""What is special to the Facebook Pages client (the shared contract is
tests/contract/test_platform.py): what is sent and how, the page addressed by id or username,
the Graph API's error codes and their guidance, resends made safe by looking first, check(), and
the local server's own contract."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests

from campaign.errors import (
    AlreadyPublished,
    AuthRejected,
    OutcomeUnknown,
    PermanentPublishError,
    RateLimited,
)
from tests.fakes.facebook import FakeFacebook
from tests.fixtures.platforms import FACEBOOK_TOKEN, channel
from workers.platforms.base import ClientContext, NoCredentialStore, Outgoing, Timeouts
from workers.platforms.facebook import DEFAULT_API_VERSION, THROTTLE_PAUSE, FacebookClient

MakeOutgoing = Callable[..., Outgoing]
NOW = datetime.now(UTC).replace(microsecond=0)


def facebook(
    server: FakeFacebook, token: str = FACEBOOK_TOKEN, account: str | None = None, **fields: Any
) -> FacebookClient:
    if account is None:
        page = server.page("SafeMigrationKG")
        assert page is not None
        account = page.id
    context = ClientContext(
        channel("facebook", server.url, account=account, **fields),
        {"token": token},
        NoCredentialStore(),
        timeouts=Timeouts(connect=1.0, read=1.0),
        clock=NOW.timestamp,
    )
    return FacebookClient(context)


def test_publish_sends_the_message_only_with_the_token_in_a_header(
    facebook_server: FakeFacebook, make_outgoing: MakeOutgoing
) -> None:
    # Given a post whose text carries its (UTM-tagged) link
    post = make_outgoing(text="Салам! https://kyrgyzstan.iom.int/?utm_source=facebook")

    # When it is published
    with facebook(facebook_server) as client:
        published = client.publish(post)

    # Then the page has exactly that message, no separate link, and the post's URL
    [created] = facebook_server.posts
    assert (created.message, created.link) == (post.text, None)
    page, number = created.id.split("_")
    assert published.remote_id == created.id
    assert published.url == f"https://www.facebook.com/{page}/posts/{number}"
    # And the token went in the Authorization header, never in a URL or the body
    [request] = facebook_server.requests
    assert request.path == f"/{DEFAULT_API_VERSION}/{page}/feed"
    assert request.headers["authorization"] == f"Bearer {FACEBOOK_TOKEN}"
    assert FACEBOOK_TOKEN not in request.query + request.body.decode()
    assert parse_qs(request.body.decode()) == {"message": [post.text]}


def test_the_graph_api_version_is_the_channels(
    facebook_server: FakeFacebook, make_outgoing: MakeOutgoing
) -> None:
    with facebook(facebook_server, api_version="v24.0") as client:
        client.publish(make_outgoing())

    assert facebook_server.requests[0].path.startswith("/v24.0/")
    assert facebook_server.posts[0].version == "24.0"


def test_a_page_username_is_looked_up_once(
    facebook_server: FakeFacebook, make_outgoing: MakeOutgoing
) -> None:
    # Given a channel that names its page by username, as the flagship campaign does
    with facebook(facebook_server, account="SafeMigrationKG") as client:
        # When two posts are published
        client.publish(make_outgoing())
        client.publish(make_outgoing())

    # Then the id was looked up once, and both went to the page's id
    page = facebook_server.page("SafeMigrationKG")
    assert page is not None
    paths = [r.path for r in facebook_server.requests]
    assert paths == [
        f"/{DEFAULT_API_VERSION}/SafeMigrationKG",
        f"/{DEFAULT_API_VERSION}/{page.id}/feed",
        f"/{DEFAULT_API_VERSION}/{page.id}/feed",
    ]


def test_an_unknown_page_says_what_account_must_be(
    facebook_server: FakeFacebook, make_outgoing: MakeOutgoing
) -> None:
    client = facebook(facebook_server, account="NoSuchPage")

    with client, pytest.raises(PermanentPublishError) as caught:
        client.publish(make_outgoing())

    assert not isinstance(caught.value, AuthRejected)
    assert "page NoSuchPage was not found" in str(caught.value)
    assert "numeric id" in str(caught.value)


@pytest.mark.parametrize(("expired", "why"), [(True, "it expired"), (False, "it is invalid")])
def test_a_refused_token_says_to_reconnect_the_page(
    facebook_server: FakeFacebook, make_outgoing: MakeOutgoing, expired: bool, why: str
) -> None:
    # Given a Page token that expired, or one Facebook does not know
    token = FACEBOOK_TOKEN if expired else "EAAG-unknown"
    if expired:
        facebook_server.expire(FACEBOOK_TOKEN)

    # When a post is published
    client = facebook(facebook_server, token=token)
    with client, pytest.raises(AuthRejected) as caught:
        client.publish(make_outgoing())

    # Then it fails for good, saying why and what to do (error 190)
    assert why in str(caught.value)
    assert "reconnect the page" in str(caught.value)
    assert "FACEBOOK_SECRET" in str(caught.value)


def test_a_token_of_another_page_lacks_the_permission(
    facebook_server: FakeFacebook, make_outgoing: MakeOutgoing
) -> None:
    other = facebook_server.add_page("OtherPage")
    facebook_server.grant("EAAG-other-page-token", other)

    client = facebook(facebook_server, token="EAAG-other-page-token")
    with client, pytest.raises(AuthRejected) as caught:
        client.publish(make_outgoing())

    assert "pages_manage_posts" in str(caught.value)
    assert facebook_server.posts == []


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80001])
def test_throttling_codes_wait_as_long_as_facebook_says(
    facebook_server: FakeFacebook, make_outgoing: MakeOutgoing, code: int
) -> None:
    # Given a throttled page whose usage header says access comes back in 12 minutes
    facebook_server.throttle(code=code, regain_minutes=12)

    # When a post is published
    with facebook(facebook_server) as client, pytest.raises(RateLimited) as caught:
        client.publish(make_outgoing())

    # Then it waits those 12 minutes
    assert caught.value.retry_at == NOW + timedelta(minutes=12)


def test_throttling_without_a_time_pauses_rather_than_hammering(
    facebook_server: FakeFacebook, make_outgoing: MakeOutgoing
) -> None:
    facebook_server.throttle(code=4)

    with facebook(facebook_server) as client, pytest.raises(RateLimited) as caught:
        client.publish(make_outgoing())

    assert caught.value.retry_at == NOW + THROTTLE_PAUSE


def test_the_same_text_right_after_itself_is_already_published(
    facebook_server: FakeFacebook, make_outgoing: MakeOutgoing
) -> None:
    # Given a page whose latest post has this text
    with facebook(facebook_server) as client:
        client.publish(make_outgoing(text="Same words"))

        # When the same text is published again
        with pytest.raises(AlreadyPublished) as caught:
            client.publish(make_outgoing(text="Same words"))

    # Then Facebook refused it as a duplicate (506), and the page has it once
    assert "Duplicate status message" in str(caught.value)
    assert len(facebook_server.posts) == 1


def test_a_resend_looks_first_and_finds_the_post_after_others(
    facebook_server: FakeFacebook, make_outgoing: MakeOutgoing
) -> None:
    # Given a post whose answer was lost, then another post on the same page (so Facebook's
    # duplicate check, which compares with the latest post only, would let a resend through)
    post = make_outgoing(text="Kyrgyz post", scheduled_at=NOW)
    facebook_server.drop_after_create()
    with facebook(facebook_server) as client:
        with pytest.raises(OutcomeUnknown):
            client.publish(post)
        client.publish(make_outgoing(text="Russian post", scheduled_at=NOW))

        # When the publisher sends it again, knowing an attempt may be out
        again = client.publish(replace(post, maybe_sent=True))

    # Then the client found it and sent nothing: the page has each post once
    first = facebook_server.posts[0]
    assert again.remote_id == first.id
    assert [p.message for p in facebook_server.posts] == ["Kyrgyz post", "Russian post"]


def test_find_ignores_an_identical_post_from_before_the_scheduled_time(
    make_facebook_server: Callable[..., FakeFacebook], make_outgoing: MakeOutgoing
) -> None:
    # Given a weekly message whose text did not change: last week's post is on the page
    now = [NOW.timestamp() - 7 * 86400]
    server = make_facebook_server(clock=lambda: now[0])
    with facebook(server) as client:
        client.publish(make_outgoing(text="Weekly reminder"))
        now[0] = NOW.timestamp()

        # When this week's post is looked up
        found = client.find(make_outgoing(text="Weekly reminder", scheduled_at=NOW))

    # Then last week's is not taken for it
    assert found is None


# check(): which page the token acts as


def test_check_names_the_page(facebook_server: FakeFacebook) -> None:
    page = facebook_server.page("SafeMigrationKG")
    assert page is not None

    with facebook(facebook_server) as client:
        assert client.check() == f"page 'Safe Migration KG' (id {page.id})"

    assert facebook_server.posts == []


def test_check_of_a_username_account_suggests_the_id(facebook_server: FakeFacebook) -> None:
    page = facebook_server.page("SafeMigrationKG")
    assert page is not None

    with facebook(facebook_server, account="SafeMigrationKG") as client:
        said = client.check()

    assert f'write account: "{page.id}"' in said


def test_check_says_whose_token_it_is(facebook_server: FakeFacebook) -> None:
    other = facebook_server.add_page("OtherPage", name="Other Page")
    facebook_server.grant("EAAG-other-page-token", other)

    client = facebook(facebook_server, token="EAAG-other-page-token")
    with client, pytest.raises(AuthRejected) as caught:
        client.check()

    assert f"acts as 'Other Page' (id {other.id})" in str(caught.value)


def test_check_of_an_expired_token_says_to_reconnect(facebook_server: FakeFacebook) -> None:
    facebook_server.expire(FACEBOOK_TOKEN)

    with facebook(facebook_server) as client, pytest.raises(AuthRejected) as caught:
        client.check()

    assert "reconnect the page" in str(caught.value)


# The local server's own contract: what the other tests rely on it to enforce.


def _graph(
    server: FakeFacebook, method: str, path: str, token: str | None = FACEBOOK_TOKEN, **data: str
) -> Any:
    headers = {"Authorization": f"OAuth {token}"} if token else {}
    with requests.Session() as session:
        return session.request(method, f"{server.url}/v26.0{path}", data=data, headers=headers)


def test_the_fake_answers_in_the_graph_apis_error_shape(facebook_server: FakeFacebook) -> None:
    missing = _graph(facebook_server, "POST", "/SafeMigrationKG/feed", token=None, message="x")
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == 2500
    bad = _graph(facebook_server, "POST", "/SafeMigrationKG/feed", token="nope", message="x")
    error = bad.json()["error"]
    assert (error["type"], error["code"]) == ("OAuthException", 190)
    assert error["fbtrace_id"]


def test_the_fake_takes_the_token_as_a_parameter_too(facebook_server: FakeFacebook) -> None:
    answer = _graph(
        facebook_server, "POST", "/SafeMigrationKG/feed", token=None,
        message="hello", access_token=FACEBOOK_TOKEN,
    )  # fmt: skip
    assert answer.status_code == 200
    assert answer.json()["id"].count("_") == 1


def test_the_fake_limits_messages_to_63206_code_points(facebook_server: FakeFacebook) -> None:
    assert _graph(facebook_server, "POST", "/SafeMigrationKG/feed", message="😀" * 63206).ok
    too_long = _graph(facebook_server, "POST", "/SafeMigrationKG/feed", message="я" * 63207)
    assert too_long.json()["error"]["code"] == 100


def test_the_fake_refuses_duplicates_only_consecutively(facebook_server: FakeFacebook) -> None:
    assert _graph(facebook_server, "POST", "/SafeMigrationKG/feed", message="a").ok
    again = _graph(facebook_server, "POST", "/SafeMigrationKG/feed", message="a")
    assert again.json()["error"]["code"] == 506
    assert _graph(facebook_server, "POST", "/SafeMigrationKG/feed", message="b").ok
    assert _graph(facebook_server, "POST", "/SafeMigrationKG/feed", message="a").ok
    assert [p.message for p in facebook_server.posts] == ["a", "b", "a"]
