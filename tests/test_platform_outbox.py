"""The outbox client: one JSON file per post, written atomically and never twice."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from campaign.errors import PermanentPublishError
from tests.fixtures.platforms import channel, make_client
from workers.platforms import Outgoing, Published
from workers.platforms.outbox import OutboxClient

MakeOutgoing = Callable[..., Outgoing]


def outbox(directory: Path) -> OutboxClient:
    client = make_client(channel("outbox", directory=str(directory)), None)
    assert isinstance(client, OutboxClient)
    return client


def test_a_post_becomes_one_json_file(tmp_path: Path, make_outgoing: MakeOutgoing) -> None:
    # Given an outbox channel writing under a directory
    post = make_outgoing(locale="sr-Latn", text="Zdravo! 👋\nDruga linija")

    # When a post is published
    with outbox(tmp_path / "out") as client:
        published = client.publish(post)

    # Then <directory>/<campaign>/<post id>.json holds the post, text unchanged
    path = tmp_path / "out" / post.campaign / f"{post.post_id}.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["text"] == post.text
    assert document["language"] == "sr"
    assert document["scheduled_at"] == "2026-11-22T09:00:00Z"
    assert published == Published(post.post_id, path.resolve().as_uri())


def test_publishing_twice_writes_one_file_and_returns_the_first_result(
    tmp_path: Path, make_outgoing: MakeOutgoing
) -> None:
    # Given a post already in the outbox
    post = make_outgoing(text="first")
    with outbox(tmp_path) as client:
        first = client.publish(post)

        # When the same post id is published again, even with other text
        second = client.publish(make_outgoing(post_id=post.post_id, text="second"))

    # Then there is still one file, the first one, and no leftover temporary file
    [path] = (tmp_path / post.campaign).iterdir()
    assert json.loads(path.read_text(encoding="utf-8"))["text"] == "first"
    assert second == first


def test_concurrent_publishes_of_one_post_write_it_once(
    tmp_path: Path, make_outgoing: MakeOutgoing
) -> None:
    # Given eight workers handed the same post
    post = make_outgoing()
    results: list[Published] = []

    def worker() -> None:
        with outbox(tmp_path) as client:
            results.append(client.publish(post))

    # When they all publish it at once
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then one file exists and everyone got the same result
    assert len(list((tmp_path / post.campaign).iterdir())) == 1
    assert len(set(results)) == 1


def test_the_default_directory_is_outbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_outgoing: MakeOutgoing
) -> None:
    # Given an outbox channel without a directory, run from some working directory
    monkeypatch.chdir(tmp_path)
    post = make_outgoing()

    # When a post is published
    with make_client(channel("outbox"), None) as client:
        client.publish(post)

    # Then it lands under ./outbox
    assert (tmp_path / "outbox" / post.campaign / f"{post.post_id}.json").is_file()


def test_a_post_id_cannot_escape_the_directory(tmp_path: Path, make_outgoing: MakeOutgoing) -> None:
    # Given a post whose id looks like a path
    post = make_outgoing(post_id="../../etc/passwd")

    # When it is published, then it is refused and nothing is written
    with outbox(tmp_path) as client, pytest.raises(PermanentPublishError):
        client.publish(post)
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_directory_is_permanent(tmp_path: Path, make_outgoing: MakeOutgoing) -> None:
    # Given an outbox directory that is a file
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")

    # When a post is published
    with outbox(blocker) as client, pytest.raises(PermanentPublishError) as caught:
        client.publish(make_outgoing())

    # Then a person is told which path cannot be written
    assert "not-a-directory" in str(caught.value)
