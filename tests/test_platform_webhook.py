"""The webhook client, specified against a local receiver that checks signatures."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import pytest

from campaign.errors import (
    AuthRejected,
    ConfigurationError,
    OutcomeUnknown,
    PublishError,
    TransientPublishError,
)
from tests.fakes.webhook import FakeWebhook
from tests.fixtures.platforms import WEBHOOK_SECRET, channel, make_client
from workers.platforms import Outgoing, Timeouts
from workers.platforms.base import Resend
from workers.platforms.webhook import WebhookClient, sign

MakeOutgoing = Callable[..., Outgoing]
QUICK = Timeouts(connect=1.0, read=0.5)


def webhook(url: str, secret: str = WEBHOOK_SECRET) -> WebhookClient:
    client = make_client(channel("webhook", url), secret, timeouts=QUICK)
    assert isinstance(client, WebhookClient)
    return client


def test_a_delivered_post_is_signed_and_complete(
    webhook_server: FakeWebhook, make_outgoing: MakeOutgoing
) -> None:
    # Given a post for a webhook channel
    post = make_outgoing(locale="sr-Latn", text="Zdravo! Ćao 👋")

    # When it is published
    with webhook(webhook_server.url + "/hooks/campaign") as client:
        published = client.publish(post)

    # Then the receiver verified the signature and got every field, the text unchanged
    [delivery] = webhook_server.deliveries
    assert webhook_server.rejected_signatures == 0
    assert delivery.document == {
        "post_id": post.post_id,
        "campaign": post.campaign,
        "channel": post.channel_name,
        "locale": "sr-Latn",
        "text": "Zdravo! Ćao 👋",
        "scheduled_at": "2026-11-22T09:00:00Z",
    }
    assert delivery.idempotency_key == post.post_id
    assert delivery.timestamp is not None
    assert abs(int(delivery.timestamp) - time.time()) < 60
    # And the remote id is the one the receiver answered
    assert published.remote_id == delivery.id
    assert published.url is None


def test_the_signature_is_hmac_sha256_of_the_timestamp_and_the_raw_body(
    webhook_server: FakeWebhook, make_outgoing: MakeOutgoing
) -> None:
    # Given a delivered post
    with webhook(webhook_server.url) as client:
        client.publish(make_outgoing())

    # Then the header is sha256=<hex HMAC of the timestamp, a dot and exactly the bytes sent>
    [request] = webhook_server.requests
    timestamp = request.headers["x-campaign-timestamp"]
    expected = sign(timestamp, request.body, WEBHOOK_SECRET)
    assert request.headers["x-campaign-signature"] == expected
    assert json.loads(request.body)["post_id"]


def test_without_an_id_in_the_answer_the_post_id_is_the_remote_id(
    make_webhook_server: Callable[..., FakeWebhook], make_outgoing: MakeOutgoing
) -> None:
    # Given a receiver that answers 204 No Content
    server = make_webhook_server(answer_id=False)
    post = make_outgoing()

    # When a post is published
    with webhook(server.url) as client:
        published = client.publish(post)

    # Then the post id stands for the remote id
    assert published.remote_id == post.post_id


def test_a_wrong_key_is_auth_rejected(
    webhook_server: FakeWebhook, make_outgoing: MakeOutgoing
) -> None:
    # Given a channel signing with a key the receiver does not share
    client = webhook(webhook_server.url, secret="not-the-shared-key")

    # When a post is published
    with client, pytest.raises(AuthRejected) as caught:
        client.publish(make_outgoing())

    # Then it fails for good with the receiver's reason
    assert "signature does not match" in str(caught.value)
    assert webhook_server.deliveries == []


def test_a_server_error_is_an_unknown_outcome_because_receivers_may_not_dedupe(
    webhook_server: FakeWebhook, make_outgoing: MakeOutgoing
) -> None:
    # Given a receiver that fails with 500 (it may have acted before failing)
    webhook_server.fail_next(500)

    # When a post is published
    with webhook(webhook_server.url) as client, pytest.raises(OutcomeUnknown):
        client.publish(make_outgoing())

    # Then the client does not claim resending is safe
    assert WebhookClient.resend is Resend.UNSAFE


def test_service_unavailable_is_transient_with_its_retry_after(
    webhook_server: FakeWebhook, make_outgoing: MakeOutgoing
) -> None:
    # Given a receiver that is down for maintenance for 30 seconds
    webhook_server.fail_next(503, headers={"Retry-After": "30"})

    # When a post is published
    before = time.time()
    with webhook(webhook_server.url) as client, pytest.raises(TransientPublishError) as caught:
        client.publish(make_outgoing())

    # Then it is retried after the time the receiver asked for
    assert caught.value.retry_at is not None
    assert before + 29 <= caught.value.retry_at.timestamp() <= time.time() + 31


def test_a_deduplicating_receiver_gets_a_resent_post_once(
    make_webhook_server: Callable[..., FakeWebhook], make_outgoing: MakeOutgoing
) -> None:
    # Given a receiver that honours Idempotency-Key
    server = make_webhook_server(dedupe=True)
    post = make_outgoing()

    # When the same post is published twice
    with webhook(server.url) as client:
        first = client.publish(post)
        second = client.publish(post)

    # Then it was delivered once
    assert first == second
    assert len(server.deliveries) == 1


def test_a_dropped_connection_is_an_unknown_outcome(
    webhook_server: FakeWebhook, make_outgoing: MakeOutgoing
) -> None:
    # Given a receiver that takes the post, then drops the connection
    webhook_server.drop_after_create()

    # When a post is published
    with webhook(webhook_server.url) as client, pytest.raises(OutcomeUnknown):
        client.publish(make_outgoing())

    # Then the receiver has it
    assert len(webhook_server.deliveries) == 1


def test_connection_refused_is_transient(refused_url: str, make_outgoing: MakeOutgoing) -> None:
    # Given a receiver address where nothing listens
    # When a post is published
    with webhook(refused_url) as client, pytest.raises(TransientPublishError):
        client.publish(make_outgoing())


def test_a_missing_key_is_a_configuration_error(webhook_server: FakeWebhook) -> None:
    # Given a webhook channel whose key variable is unset
    # When a client is made for it, then the error names the variable
    with pytest.raises(ConfigurationError, match="WEBHOOK_SECRET"):
        make_client(channel("webhook", webhook_server.url), None)


@pytest.mark.parametrize("fault", ["wrong key", "500", "held"])
def test_the_key_never_appears_in_errors_or_logs(
    make_webhook_server: Callable[..., FakeWebhook],
    make_outgoing: MakeOutgoing,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    # Given a signing key and a receiver failing in one of several ways
    key = "hm4c-k3y-never-show"
    server = make_webhook_server(secret="other" if fault == "wrong key" else key)
    if fault == "500":
        server.fail_next(500, f"crashed; key was {key}".encode())
    elif fault == "held":
        server.hold()
    caplog.set_level(logging.DEBUG)

    # When a post is published
    with webhook(server.url, secret=key) as client, pytest.raises(PublishError) as caught:
        client.publish(make_outgoing())
    server.release()

    # Then neither the error, its causes, the client nor the logs show the key
    error: BaseException | None = caught.value
    while error is not None:
        assert key not in str(error)
        assert key not in repr(error)
        error = error.__cause__
    assert key not in repr(client)
    assert key not in caplog.text
