"""The worker app of the benchmarks: the documented app (`celery -A workers`), plus two baselines.

Both baselines run in the same worker processes as the publish task, with the same Celery
configuration (late acks, prefetch 1, task events, the same logging), so a ratio measures what
our task does beyond Celery's own work:

    bench.noop   does nothing: Celery alone
    bench.post   the same POST our Mastodon client sends, to the same server, with requests the
                 way a task written without this project would (one Session per process,
                 reused; requests' defaults otherwise), and everything it needs in the message

    celery -A bench.celery_app worker --pool prefork --concurrency 2 ...
"""

from __future__ import annotations

import json

import requests

from workers.celery import app

_session: requests.Session | None = None


def _http() -> requests.Session:
    global _session
    if _session is None:
        _session = requests.Session()  # after the fork: one per worker process
    return _session


@app.task(name="bench.noop")  # type: ignore[untyped-decorator]
def noop(post_id: str) -> None:
    """Celery's own work and nothing else."""


@app.task(name="bench.post")  # type: ignore[untyped-decorator]
def post(post_id: str, url: str, token: str, text: str, language: str) -> str:
    """POST one status, as a bare task would."""
    response = _http().post(
        f"{url}/api/v1/statuses",
        data=json.dumps(
            {"status": text, "visibility": "unlisted", "language": language}, ensure_ascii=False
        ).encode(),
        headers={
            "Authorization": f"Bearer {token}",
            "Idempotency-Key": post_id,
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
        },
        timeout=(5, 20),
    )
    response.raise_for_status()
    return str(response.json()["id"])


__all__ = ["app", "noop", "post"]
