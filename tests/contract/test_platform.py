"""The contract every platform client keeps, run against each (client, fake platform) pair.

A `Pair` says how to drive one client and the local server that stands for its platform: how to
start the server, the channel that points at it, a valid and a wrong secret, the texts the
platform holds, a text over its limit and how the platform says "slow down". Adding a platform
is adding its `Pair` to `PAIRS`; a case that cannot apply (an outbox has no network, a webhook
receiver no length limit) is left out of that pair's parameters, never skipped.

Cases: success; wrong credentials; an over-limit text; 429 in the platform's own words; 5xx;
connection refused; the answer lost after the post was created; tokens that expire, renewed once
by eight workers at once; the secret never anywhere (error text, chain, repr, every logger at
DEBUG); through the publisher and a real store,
publishing twice and eight workers at once make one post, and a lost answer is resent only where
the platform makes that safe.
"""

from __future__ import annotations

import json
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from campaign.definition import Campaign, Channel
from campaign.errors import (
    AuthRejected,
    OutcomeUnknown,
    PermanentPublishError,
    PublishError,
    RateLimited,
    TransientPublishError,
)
from campaign.post import Post, post_id
from tests.fakes import FakeServer
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.facebook import FakeFacebook
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.telegram import FakeTelegram
from tests.fakes.webhook import FakeWebhook
from tests.fakes.x import DEFAULT_CLIENT_ID as X_CLIENT_ID
from tests.fakes.x import FakeX
from tests.fixtures.leaks import exception_chain
from workers import diff
from workers.platforms.base import (
    ClientContext,
    NoCredentialStore,
    Outgoing,
    PlatformClient,
    Resend,
    Timeouts,
    client_class,
    client_for,
)
from workers.publish import Publisher
from workers.settings import Settings
from workers.store import State
from workers.store.sqlite import SqliteStore

QUICK = Timeouts(connect=1.0, read=0.5)
TEXT = "Салам, мигранттар! 🇰🇬 <b>R&D</b> > 5 https://kyrgyzstan.iom.int/?lang=ky&utm_source=x"


class Pair(ABC):
    """One client and the server that plays its platform."""

    platform: ClassVar[str]
    secret: ClassVar[str | None]  # valid, and distinctive enough to search for in any output
    wrong_secret: ClassVar[str | None] = None  # None: the platform takes no credentials
    over_limit: ClassVar[str | None] = None  # None: the platform has no length limit
    network: ClassVar[bool] = True  # reached over HTTP: connection faults apply

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.server: FakeServer | None = None

    @property
    def variable(self) -> str:
        """The environment variable the channel names for its secret."""
        return f"{self.platform.upper()}_CONTRACT_SECRET"

    def start(self) -> None:  # noqa: B027 - a platform without a server starts nothing
        """Start the platform's server (if it has one)."""

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    @property
    def faults(self) -> FakeServer:
        """The fake, for its fault knobs."""
        assert self.server is not None, f"{self.platform} has no fake server"
        return self.server

    @abstractmethod
    def channel(self, url: str | None = None) -> dict[str, Any]:
        """The channel as a campaign file writes it, pointing at `url` (default: the fake)."""

    @abstractmethod
    def published(self) -> list[str]:
        """The texts the platform holds, in order."""

    def slow_down(self) -> tuple[datetime, timedelta] | None:
        """Make the next publish meet the platform's own rate-limit signal; the retry time it
        announces and how exactly it can be known. None: the platform has none."""
        return None

    def error_body(self, status: int, text: str) -> Any:
        """An error answer in the platform's own shape, saying `text`."""
        return {"error": text}

    def expire(self) -> None:
        """Make every access token handed out so far expire now (platforms whose tokens do)."""
        raise NotImplementedError(f"{self.platform}'s tokens do not expire")

    def renewals(self) -> int:
        """How many times the platform renewed a token (refresh calls that succeeded)."""
        raise NotImplementedError(f"{self.platform}'s tokens do not expire")

    def environment(self) -> dict[str, str]:
        """Every variable the channel names, as a worker's environment holds them."""
        return {self.variable: self.secret} if self.secret is not None else {}

    def client(self, secret: str | None = None, url: str | None = None) -> PlatformClient:
        channel = Channel.model_validate(self.channel(url))
        secrets = {}
        chosen = secret if secret is not None else self.secret
        if chosen is not None:
            secrets = {next(iter(channel.credential_names())): chosen}
        return client_for(ClientContext(channel, secrets, NoCredentialStore(), timeouts=QUICK))

    @property
    def url(self) -> str:
        return self.faults.url


class MastodonPair(Pair):
    platform = "mastodon"
    secret = "mastodon-s3cr3t-contract-token"
    wrong_secret = "revoked-mastodon-token"
    over_limit = "я" * 501

    def start(self) -> None:
        self.server = self.mastodon = FakeMastodon(tokens=[self.secret]).start()

    def channel(self, url: str | None = None) -> dict[str, Any]:
        return {"platform": "mastodon", "api_url": url or self.url, "credentials": self.variable}

    def published(self) -> list[str]:
        return [status.text for status in self.mastodon.statuses]

    def slow_down(self) -> tuple[datetime, timedelta]:
        return self.mastodon.storm(requests=1, reset_in=30), timedelta(0)


class WebhookPair(Pair):
    platform = "webhook"
    secret = "webhook-s3cr3t-contract-key"
    wrong_secret = "some-other-key"

    def start(self) -> None:
        self.server = self.webhook = FakeWebhook(secret=self.secret).start()

    def channel(self, url: str | None = None) -> dict[str, Any]:
        return {
            "platform": "webhook",
            "api_url": f"{url or self.url}/hooks/news",
            "credentials": self.variable,
        }

    def published(self) -> list[str]:
        return [delivery.document["text"] for delivery in self.webhook.deliveries]

    def slow_down(self) -> tuple[datetime, timedelta]:
        self.webhook.fail_next(429, {"error": "slow down"}, {"Retry-After": "30"})
        return datetime.now(UTC) + timedelta(seconds=30), timedelta(seconds=5)


class OutboxPair(Pair):
    platform = "outbox"
    secret = None
    network = False

    def channel(self, url: str | None = None) -> dict[str, Any]:
        return {"platform": "outbox", "directory": str(self.tmp_path / "outbox")}

    def published(self) -> list[str]:
        files = sorted((self.tmp_path / "outbox").glob("*/*.json"))
        return [json.loads(file.read_text())["text"] for file in files]


class TelegramPair(Pair):
    platform = "telegram"
    secret = "987654321:AAF-s3cr3t-contract-token_abcdefghijk"
    wrong_secret = "111111111:AAwrong-token-abcdefghijklmnopqrstu"
    over_limit = "я" * 4097

    def start(self) -> None:
        self.server = self.telegram = FakeTelegram(tokens=[self.secret]).start()

    def channel(self, url: str | None = None) -> dict[str, Any]:
        return {
            "platform": "telegram",
            "api_url": url or self.url,
            "account": "@SafeMigrationKG",
            "credentials": self.variable,
        }

    def published(self) -> list[str]:
        return [message.text for message in self.telegram.messages]

    def slow_down(self) -> tuple[datetime, timedelta]:
        self.telegram.flood(retry_after=30)
        return datetime.now(UTC) + timedelta(seconds=30), timedelta(seconds=5)

    def error_body(self, status: int, text: str) -> Any:
        return {"ok": False, "error_code": status, "description": text}


class FacebookPair(Pair):
    platform = "facebook"
    secret = "EAAG-s3cr3t-contract-page-token-0123456789"
    wrong_secret = "EAAG-not-a-token-of-any-page"
    over_limit = "я" * 63207

    def start(self) -> None:
        self.server = self.facebook = FakeFacebook(tokens={self.secret: "SafeMigrationKG"}).start()

    def channel(self, url: str | None = None) -> dict[str, Any]:
        page = self.facebook.page("SafeMigrationKG")
        assert page is not None
        return {
            "platform": "facebook",
            "api_url": url or self.url,
            "account": page.id,  # a username costs a lookup first: test_platform_facebook.py
            "credentials": self.variable,
        }

    def published(self) -> list[str]:
        return [post.message or "" for post in self.facebook.posts]

    def slow_down(self) -> tuple[datetime, timedelta]:
        self.facebook.throttle(code=32, regain_minutes=3)
        return datetime.now(UTC) + timedelta(minutes=3), timedelta(seconds=5)

    def error_body(self, status: int, text: str) -> Any:
        return {"error": {"message": text, "type": "OAuthException", "code": 100}}


class BlueskyPair(Pair):
    """A fake PDS (faults on demand; the real one is in test_platform_bluesky_pds.py). The
    worker has a session in the store already, so the request a fault meets is the post."""

    platform = "bluesky"
    secret = "s3cr-etbl-uesk-y0pw"  # an app password
    wrong_secret = "revo-kedp-assw-ord0"
    over_limit = "я" * 301

    def start(self) -> None:
        self.server = self.bluesky = FakeBluesky(accounts=[("campaign.test", self.secret)]).start()
        self.store = NoCredentialStore()
        with self.client() as client:
            client.check()

    def channel(self, url: str | None = None) -> dict[str, Any]:
        return {
            "platform": "bluesky",
            "api_url": url or self.url,
            "account": "campaign.test",
            "credentials": self.variable,
        }

    def client(self, secret: str | None = None, url: str | None = None) -> PlatformClient:
        channel = Channel.model_validate(self.channel(url))
        password = secret if secret is not None else self.secret
        return client_for(ClientContext(channel, {"password": password}, self.store, QUICK))

    def published(self) -> list[str]:
        return [record.value["text"] for record in self.bluesky.records]

    def slow_down(self) -> tuple[datetime, timedelta]:
        reset = self.bluesky.storm(requests=1, reset_in=30)
        return datetime.fromtimestamp(reset, UTC), timedelta(seconds=1)

    def expire(self) -> None:
        self.bluesky.expire_access_tokens()

    def renewals(self) -> int:
        return self.bluesky.refreshes

    def error_body(self, status: int, text: str) -> Any:
        return {
            "error": "InternalServerError" if status >= 500 else "InvalidRequest",
            "message": text,
        }


class XPair(Pair):
    """A fake X API. The worker has tokens in the store already, so the request a fault meets
    is the post. X spends a refresh token once: after its own worker spent it, the pair grants
    it again, for the publisher's worker, which starts afresh with another store."""

    platform = "x"
    secret = "x-s3cr3t-contract-refresh-token-0123456789"
    wrong_secret = "x-refresh-token-x-never-issued-0123456789"
    over_limit = "漢" * 141  # 282 weighted characters

    def start(self) -> None:
        self.server = self.x = FakeX().start()
        self.x.grant(token=self.secret)
        self.store = NoCredentialStore()
        with self.client() as client:
            client.check()
        self.x.grant(token=self.secret)

    def channel(self, url: str | None = None) -> dict[str, Any]:
        return {
            "platform": "x",
            "api_url": url or self.url,
            "account": "@campaign",
            "credentials": {"refresh_token": self.variable, "client_id": "X_CONTRACT_CLIENT_ID"},
        }

    def environment(self) -> dict[str, str]:
        return {self.variable: str(self.secret), "X_CONTRACT_CLIENT_ID": X_CLIENT_ID}

    def client(self, secret: str | None = None, url: str | None = None) -> PlatformClient:
        channel = Channel.model_validate(self.channel(url))
        token = secret if secret is not None else str(self.secret)
        secrets = {"refresh_token": token, "client_id": X_CLIENT_ID}
        return client_for(ClientContext(channel, secrets, self.store, QUICK))

    def published(self) -> list[str]:
        return [tweet.text for tweet in self.x.tweets]

    def slow_down(self) -> tuple[datetime, timedelta]:
        reset = self.x.storm(requests=1, reset_in=30)
        return datetime.fromtimestamp(reset, UTC), timedelta(0)

    def expire(self) -> None:
        self.x.expire_access_tokens()

    def renewals(self) -> int:
        return self.x.refreshes

    def error_body(self, status: int, text: str) -> Any:
        return {"title": "Error", "detail": text, "type": "about:blank", "status": status}


PAIRS: list[type[Pair]] = [
    MastodonPair,
    WebhookPair,
    OutboxPair,
    TelegramPair,
    FacebookPair,
    BlueskyPair,
    XPair,
]


def _pairs(which: Callable[[type[Pair]], bool]) -> list[Any]:
    return [pytest.param(kind, id=kind.platform) for kind in PAIRS if which(kind)]


def _started(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    pair: Pair = request.param(tmp_path)
    pair.start()
    yield pair
    pair.stop()


@pytest.fixture(params=_pairs(lambda kind: True))
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    """Every pair."""
    yield from _started(request, tmp_path)


@pytest.fixture(params=_pairs(lambda kind: kind.network))
def networked(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    """Every pair reached over the network, whose fake has the fault knobs."""
    yield from _started(request, tmp_path)


@pytest.fixture(params=_pairs(lambda kind: kind.wrong_secret is not None))
def authenticated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    """Every pair whose platform checks credentials."""
    yield from _started(request, tmp_path)


@pytest.fixture(params=_pairs(lambda kind: kind.over_limit is not None))
def limited(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    """Every pair whose platform limits a post's length."""
    yield from _started(request, tmp_path)


@pytest.fixture(params=_pairs(lambda kind: kind.slow_down is not Pair.slow_down))
def throttling(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    """Every pair whose platform has a rate-limit signal of its own."""
    yield from _started(request, tmp_path)


@pytest.fixture(params=_pairs(lambda kind: kind.expire is not Pair.expire))
def expiring(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    """Every pair whose platform's tokens expire and are renewed."""
    yield from _started(request, tmp_path)


def _checks(kind: type[Pair]) -> bool:
    return client_class(kind.platform).check is not PlatformClient.check


@pytest.fixture(params=_pairs(lambda kind: _checks(kind) and kind.wrong_secret is not None))
def checkable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    """Every pair whose client can check its account without posting."""
    yield from _started(request, tmp_path)


def outgoing(text: str = TEXT, **fields: Any) -> Outgoing:
    defaults: dict[str, Any] = {
        "post_id": "contract0000000000001",
        "campaign": "safe-migration",
        "channel_name": "main",
        "text": text,
        "locale": "ky",
        "scheduled_at": datetime.now(UTC).replace(microsecond=0),
    }
    return Outgoing(**{**defaults, **fields})


# -- one client ---------------------------------------------------------------------------


def test_a_post_is_published_with_its_exact_text(pair: Pair) -> None:
    # Given a post whose text has Cyrillic, a flag, markup-like characters and a tagged link
    post = outgoing()

    # When it is published
    with pair.client() as client:
        published = client.publish(post)

    # Then the platform holds exactly that text once, and we know where
    assert pair.published() == [TEXT]
    assert published.remote_id
    assert published.url is None or published.url.startswith(("https://", "http://", "file:"))


def test_wrong_credentials_fail_for_good_naming_the_variable(authenticated: Pair) -> None:
    # Given a channel whose secret the platform does not accept
    client = authenticated.client(secret=authenticated.wrong_secret)

    # When a post is published
    with client, pytest.raises(AuthRejected) as caught:
        client.publish(outgoing())

    # Then it fails for good, saying which variable to fix, and nothing was published
    assert authenticated.variable in str(caught.value)
    assert authenticated.published() == []


def test_an_over_limit_text_is_refused_for_good(limited: Pair) -> None:
    # Given a text one over the platform's limit, by the platform's own count
    assert limited.over_limit is not None

    # When it is published
    with limited.client() as client, pytest.raises(PermanentPublishError) as caught:
        client.publish(outgoing(limited.over_limit))

    # Then the platform refused it for good, and not as a credentials problem
    assert not isinstance(caught.value, AuthRejected)
    assert limited.published() == []


def test_the_platforms_own_slow_down_signal_names_the_retry_time(throttling: Pair) -> None:
    # Given a platform that says "slow down" in its own way (header, body, error code)
    signal = throttling.slow_down()
    assert signal is not None
    expected, tolerance = signal

    # When a post is published
    with throttling.client() as client, pytest.raises(RateLimited) as caught:
        client.publish(outgoing())

    # Then it waits until the time the platform named
    assert caught.value.retry_at is not None
    assert abs(caught.value.retry_at - expected) <= tolerance
    assert throttling.published() == []


@pytest.mark.parametrize("status", [500, 502])
def test_a_server_error_may_have_published_the_post(networked: Pair, status: int) -> None:
    # Given a server (or its proxy) that fails the request
    networked.faults.fail_next(status)

    # When a post is published, Then the outcome is unknown: it may have been applied first
    with networked.client() as client, pytest.raises(OutcomeUnknown):
        client.publish(outgoing())


def test_a_503_did_not_take_the_post(networked: Pair) -> None:
    networked.faults.fail_next(503)

    with networked.client() as client, pytest.raises(TransientPublishError) as caught:
        client.publish(outgoing())

    assert not isinstance(caught.value, RateLimited)


def test_connection_refused_is_worth_retrying(networked: Pair, refused_url: str) -> None:
    # Given a channel pointing where nothing listens
    client = networked.client(url=refused_url)

    # When a post is published
    with client, pytest.raises(TransientPublishError) as caught:
        client.publish(outgoing())

    # Then nothing was sent, and a retry is safe
    assert "nothing was sent" in str(caught.value)


def test_an_answer_lost_after_the_post_was_created_is_an_unknown_outcome(
    networked: Pair,
) -> None:
    # Given a server that creates the post, then closes the connection without answering
    networked.faults.drop_after_create()

    # When a post is published
    with networked.client() as client, pytest.raises(OutcomeUnknown):
        client.publish(outgoing())

    # Then the outcome is unknown, and the post does exist
    assert networked.published() == [TEXT]


def test_check_says_what_the_account_is_and_posts_nothing(checkable: Pair) -> None:
    # When a channel is checked (`campaign channels check`)
    with checkable.client() as client:
        said = client.check()

    # Then it says what the account is, and nothing was posted
    assert said
    assert checkable.published() == []


def test_check_with_wrong_credentials_says_which_variable(checkable: Pair) -> None:
    client = checkable.client(secret=checkable.wrong_secret)

    with client, pytest.raises(AuthRejected) as caught:
        client.check()

    assert checkable.variable in str(caught.value)
    assert checkable.published() == []


@pytest.mark.parametrize("fault", ["500", "empty 2xx"])
def test_a_check_that_fails_on_the_way_changed_nothing(checkable: Pair, fault: str) -> None:
    # Given a server that fails the read (a check only reads)
    if fault == "500":
        checkable.faults.fail_next(500)
    else:
        checkable.faults.fail_next(200, b"")  # a 2xx without a body: not the platform speaking
    client = checkable.client()

    # When the channel is checked, Then it is worth trying again, never an unknown outcome
    with client, pytest.raises(PublishError) as caught:
        client.check()
    assert not isinstance(caught.value, OutcomeUnknown)


def test_eight_workers_meeting_an_expired_token_renew_it_once(expiring: Pair) -> None:
    # Given eight workers sharing the account's tokens, which have just expired
    clients = [expiring.client() for _ in range(8)]
    renewed = expiring.renewals()
    expiring.expire()
    posts = [outgoing(f"{TEXT} #{n}", post_id=f"contract{n:016d}") for n in range(8)]
    results: list[object] = []
    start = threading.Barrier(8)

    def worker(number: int) -> None:
        start.wait()
        try:
            results.append(clients[number].publish(posts[number]))
        except PublishError as exc:
            results.append(exc)

    # When each publishes a post at the same moment
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.close()

    # Then one renewal reached the platform, nobody was logged out, and every post is out
    assert not [r for r in results if isinstance(r, PublishError)], results
    assert expiring.renewals() == renewed + 1
    assert sorted(expiring.published()) == sorted(post.text for post in posts)


FAULTS = ["success", "wrong secret", "echoing 4xx", "echoing 5xx", "slow down", "dropped", "held"]


@pytest.mark.parametrize("fault", [*FAULTS, "refused"])
def test_the_secret_never_appears_in_errors_reprs_or_any_log(
    networked: Pair, fault: str, refused_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a valid secret, every logger at DEBUG, and a platform failing in one way or another
    secret = networked.secret
    assert secret is not None
    caplog.set_level(logging.DEBUG)
    url, used = networked.url, secret
    fake = networked.faults
    if fault == "wrong secret":
        used = f"{networked.wrong_secret}"
    elif fault.startswith("echoing"):
        status = 400 if fault == "echoing 4xx" else 500
        fake.fail_next(status, networked.error_body(status, f"bad request by {secret} at {secret}"))
    elif fault == "slow down":
        networked.slow_down()
    elif fault == "dropped":
        fake.drop_after_create()
    elif fault == "held":
        fake.hold()
    elif fault == "refused":
        url = refused_url

    # When a post is published
    error: BaseException | None = None
    with networked.client(secret=used, url=url) as client:
        try:
            client.publish(outgoing())
        except PublishError as exc:
            error = exc
        shown = repr(client)
    fake.release()

    # Then no message, repr, cause or context, and no log line of any logger shows the secret
    assert (error is None) == (fault == "success")
    for link in exception_chain(error) if error is not None else []:
        assert secret not in str(link)
        assert secret not in repr(link)
        assert secret not in repr(link.args)
    assert secret not in shown
    assert secret not in caplog.text
    for record in caplog.records:
        assert secret not in record.getMessage()
    # And the check saw the HTTP library's own DEBUG lines (the path is logged there)
    assert fault == "refused" or any(r.name.startswith("urllib3") for r in caplog.records)


# -- through the publisher and a real store -------------------------------------------------

SETTINGS = Settings(  # type: ignore[call-arg]  # pydantic-settings' own argument
    _env_file=None,
    max_attempts=3,
    backoff_base=1,
    backoff_max=2,
    connect_timeout=1,
    read_timeout=1,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore.open(tmp_path / "store" / "campaign.db")
    yield opened
    opened.close()


def _queued(store: SqliteStore, pair: Pair, text: str = TEXT) -> str:
    """Given one post for the pair's channel, stored and handed out at its time."""
    campaign = Campaign.model_validate(
        {
            "campaign": "contract",
            "title": "Contract",
            "timezone": "Asia/Bishkek",
            "start": "2026-01-01",
            "end": "2035-12-31",
            "audiences": {"all": {"locales": ["ky"], "channels": ["social"]}},
            "channels": {"social": pair.channel()},
            "messages": {"hello": {"template": "hello", "schedule": [{"at": "2026-06-01 10:00"}]}},
        }
    )
    at = datetime.now(UTC).replace(microsecond=0)
    post = Post(
        id=post_id("contract", "hello", "all", "ky", "social", at),
        campaign="contract",
        message="hello",
        audience="all",
        locale="ky",
        channel="social",
        platform=pair.platform,
        scheduled_at=at,
        local_time=at,
        timezone="UTC",
        text=text,
        length=len(text),
        limit=None,
    )
    diff.apply(store, campaign, [post])
    store.hand_out_due(at.timestamp(), batch=10, requeue_after=60, hold=1)
    return post.id


def _publisher(store: SqliteStore, pair: Pair) -> Publisher:
    environment = pair.environment()
    return Publisher(SETTINGS, store, environ=lambda: environment)


def test_publishing_twice_posts_once(pair: Pair, store: SqliteStore) -> None:
    # Given a post handed to a worker
    queued = _queued(store, pair)

    # When it is published, and the same task runs again
    first = _publisher(store, pair).publish(queued)
    second = _publisher(store, pair).publish(queued)

    # Then the platform has it once, recorded sent with where it lives
    assert (first, second) == ("sent", "skip")
    assert pair.published() == [TEXT]
    stored = store.post(queued)
    assert stored is not None
    assert stored.state is State.SENT
    assert stored.remote_id


def test_eight_workers_at_once_post_once(pair: Pair, store: SqliteStore) -> None:
    # Given one post handed to eight workers by mistake
    queued = _queued(store, pair)
    results: list[str] = []
    start = threading.Barrier(8)

    def worker() -> None:
        publisher = _publisher(store, pair)
        start.wait()
        results.append(publisher.publish(queued))
        publisher.close()

    # When they all publish it at the same moment
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then the claim lets exactly one send it: the platform has it once
    assert sorted(results).count("sent") == 1
    assert pair.published() == [TEXT]


def test_a_lost_answer_is_resent_only_where_the_platform_makes_it_safe(
    networked: Pair, store: SqliteStore
) -> None:
    # Given a post whose first attempt created it on the platform, but the answer was lost
    queued = _queued(store, networked)
    networked.faults.drop_after_create()
    first = _publisher(store, networked).publish(queued)
    requests_sent = len(networked.faults.requests)

    # When the scheduler hands it out again (if it was scheduled again)
    due = store.next_wakeup()
    again = None
    if due is not None:
        store.hand_out_due(due, batch=10, requeue_after=60, hold=1)
        again = _publisher(store, networked).publish(queued)

    # Then there is one post either way: a platform that can tell (a key, a duplicate check, a
    # lookup) gets it again and the post is sent; an unsafe one is never asked twice
    stored = store.post(queued)
    assert stored is not None
    assert networked.published() == [TEXT]
    if client_class(networked.platform).resend is Resend.UNSAFE:
        assert (first, again) == ("unknown", None)
        assert stored.state is State.UNKNOWN
        assert len(networked.faults.requests) == requests_sent
    else:
        assert (first, again) == ("retry", "sent")
        assert stored.state is State.SENT
