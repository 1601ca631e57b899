"""A webhook receiver that checks `X-Campaign-Signature` (HMAC-SHA256 of `<timestamp>.<body>`).

Answers 401 `{"error": "signature does not match"}` to a bad or missing signature, 400 to a
body that is not a JSON object, else 200 `{"id": "wh-<n>"}` (or 204 with `answer_id=False`).
With `dedupe=True` it honours `Idempotency-Key` like a careful receiver would; by default it
does not, as a receiver is free not to. Shares `FakeServer`'s fault knobs.

Standalone: `python -m tests.fakes.webhook --port 8082 --secret demo-secret`.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from tests.fakes import FakeServer, Reply, Request

DEFAULT_SECRET = "webhook-secret"


@dataclass(frozen=True)
class Delivery:
    """One post the receiver accepted."""

    id: str
    document: dict[str, Any]
    idempotency_key: str | None
    timestamp: str | None


class FakeWebhook(FakeServer):
    """A receiver for signed webhook posts; accepted posts are recorded in `deliveries`."""

    name = "webhook"

    def __init__(
        self,
        *,
        secret: str = DEFAULT_SECRET,
        answer_id: bool = True,
        dedupe: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        echo: TextIO | None = None,
    ) -> None:
        super().__init__(host=host, port=port, echo=echo)
        self._secret = secret.encode("utf-8")
        self.answer_id = answer_id
        self.dedupe = dedupe
        self._deliveries: list[Delivery] = []
        self._by_key: dict[str, Delivery] = {}
        self.rejected_signatures = 0

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def verify(self, timestamp: str, body: bytes, signature: str) -> bool:
        """True when `signature` is `sha256=<hex HMAC-SHA256 of "<timestamp>." + body>`."""
        signed = timestamp.encode() + b"." + body
        expected = "sha256=" + hmac.new(self._secret, signed, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), signature.strip().encode())

    def handle(self, request: Request) -> Reply:
        if request.method != "POST":
            return Reply(405, {"error": "only POST is accepted"})
        timestamp = request.headers.get("x-campaign-timestamp", "")
        if not self.verify(
            timestamp, request.body, request.headers.get("x-campaign-signature", "")
        ):
            with self._lock:
                self.rejected_signatures += 1
            return Reply(401, {"error": "signature does not match"})
        try:
            document = json.loads(request.body)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            return Reply(400, {"error": "the body must be a JSON object"})
        key = request.headers.get("idempotency-key") or None
        with self._lock:
            if self.dedupe and key is not None and key in self._by_key:
                return self._answer(self._by_key[key], created=False)
            delivery = Delivery(
                id=f"wh-{len(self._deliveries) + 1}",
                document=document,
                idempotency_key=key,
                timestamp=request.headers.get("x-campaign-timestamp"),
            )
            self._deliveries.append(delivery)
            if key is not None:
                self._by_key.setdefault(key, delivery)
        return self._answer(delivery, created=True)

    def _answer(self, delivery: Delivery, *, created: bool) -> Reply:
        if not self.answer_id:
            return Reply(204, None, created=created)
        return Reply(200, {"id": delivery.id}, created=created)

    def describe(self, request: Request, reply: Reply) -> str:
        if reply.status >= 400:
            return json.dumps(reply.body)
        try:
            document = json.loads(request.body)
        except ValueError:
            return ""
        return (
            f"post {document.get('post_id')} channel={document.get('channel')} "
            f"locale={document.get('locale')}\n    "
            + json.dumps(document.get("text"), ensure_ascii=False)
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.webhook",
        description="A local webhook receiver that checks signatures and prints every post.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--secret", default="demo-secret", help="the HMAC key")
    parser.add_argument("--dedupe", action="store_true", help="honour Idempotency-Key")
    args = parser.parse_args(argv)
    server = FakeWebhook(
        secret=args.secret, dedupe=args.dedupe, host=args.host, port=args.port, echo=sys.stdout
    )
    server.start()
    print(f"Webhook test receiver on {server.url}/ (Ctrl-C stops)", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
