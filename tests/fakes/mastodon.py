"""A Mastodon-compatible server that enforces the documented contract of posting a status.

    POST /api/v1/statuses   Bearer token (401), `status` required (422), length in graphemes
                            with URLs as 23 (422), `visibility` checked (422), `language`
                            normalised as Mastodon does (region stripped, unknown -> default),
                            Idempotency-Key per account for one hour (a repeat returns the
                            original status), rate limit per account with X-RateLimit-* headers
                            (Reset is ISO-8601; 429 `{"error": "Too many requests"}`, no
                            Retry-After); JSON or form bodies.
    GET  /api/v1/statuses/:id, GET /api/v2/instance (max_characters, characters_reserved_per_url),
    GET  /api/v1/accounts/verify_credentials (the token's account; 401 for a bad token)

Knobs beyond `FakeServer`'s: `storm(requests, reset_in)` answers 429 with an ISO reset ahead.

Standalone, for trying the product: `python -m tests.fakes.mastodon --port 8081 --token demo-token`.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import parse_qs

import regex

from campaign.locales import ISO_639_1
from tests.fakes import FakeServer, Reply, Request, names_by_token, token_options

VISIBILITIES = ("public", "unlisted", "private", "direct")
DEFAULT_TOKEN = "test-token"
DEFAULT_ACCOUNT = "campaign"
_FIRST_ID = 113_000_000_000_000_000


# Written here from Mastodon's StatusLengthValidator, independently of campaign.rules (the code
# under test): every http(s) URL counts as 23 characters, a remote mention `@user@domain` as
# `@user`, and what remains is counted in extended grapheme clusters (a flag is one).
URL_LENGTH = 23
_URL = regex.compile(r"(?<![\w@#$])https?://[^\s<>\"]+", regex.IGNORECASE)
_URL_TRAILING = ".,:;!?'\"*"  # punctuation that ends a sentence, not the URL
_REMOTE_MENTION = regex.compile(
    r"(?<![\w/=])(@[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)@[\w-]+(?:\.[\w-]+)+", regex.IGNORECASE
)


def status_length(text: str) -> int:
    """The length Mastodon's StatusLengthValidator gives `text` (graphemes, each URL 23)."""
    text = _URL.sub(_url_placeholder, text)
    text = _REMOTE_MENTION.sub(lambda match: str(match[1]), text)
    return len(regex.findall(r"\X", text))


def _url_placeholder(match: regex.Match[str]) -> str:
    url = str(match[0])
    kept = url.rstrip(_URL_TRAILING)
    while kept.endswith(")") and kept.count(")") > kept.count("("):
        kept = kept[:-1].rstrip(_URL_TRAILING)  # a URL inside parentheses ends before ")"
    return "x" * URL_LENGTH + url[len(kept) :]


@dataclass(frozen=True)
class Status:
    """One status the server created."""

    id: str
    account: str
    text: str
    spoiler_text: str
    visibility: str
    language: str | None  # as stored, after Mastodon's normalisation
    requested_language: str | None  # as sent by the client
    idempotency_key: str | None
    created_at: datetime
    url: str

    def to_json(self, base_url: str) -> dict[str, Any]:
        """The Status entity, with the fields clients read."""
        paragraphs = [p for p in self.text.split("\n\n") if p]
        content = "".join(
            "<p>" + html.escape(p).replace("\n", "<br />") + "</p>" for p in paragraphs
        )
        return {
            "id": self.id,
            "created_at": self.created_at.strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{self.created_at.microsecond // 1000:03d}Z",
            "in_reply_to_id": None,
            "sensitive": bool(self.spoiler_text),
            "spoiler_text": self.spoiler_text,
            "visibility": self.visibility,
            "language": self.language,
            "uri": f"{base_url}/users/{self.account}/statuses/{self.id}",
            "url": self.url,
            "content": content,
            "account": {
                "id": "1",
                "username": self.account,
                "acct": self.account,
                "url": f"{base_url}/@{self.account}",
            },
            "media_attachments": [],
            "mentions": [],
            "tags": [],
            "emojis": [],
        }


class FakeMastodon(FakeServer):
    """A local Mastodon: tokens map to accounts; statuses and requests are recorded."""

    name = "mastodon"

    def __init__(
        self,
        *,
        tokens: Mapping[str, str] | Iterable[str] = (DEFAULT_TOKEN,),
        max_characters: int = 500,
        rate_limit: int = 300,
        rate_period: float = 300.0,
        idempotency_ttl: float = 3600.0,
        default_language: str | None = None,
        clock: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        echo: TextIO | None = None,
    ) -> None:
        super().__init__(host=host, port=port, echo=echo)
        self.accounts = names_by_token(tokens, DEFAULT_ACCOUNT)
        self.max_characters = max_characters
        self.rate_limit = rate_limit
        self.rate_period = rate_period
        self.idempotency_ttl = idempotency_ttl
        self.default_language = default_language
        self._clock = clock
        self._statuses: list[Status] = []
        self._by_id: dict[str, Status] = {}
        self._keys: dict[tuple[str, str], tuple[str, float]] = {}  # (account, key) -> (id, when)
        self._hits: dict[tuple[str, int], int] = {}  # (account or ip, window) -> requests
        self._storm_left = 0
        self._storm_reset: datetime | None = None

    # -- what happened ---------------------------------------------------------------------

    @property
    def statuses(self) -> list[Status]:
        """Every status created so far, in order."""
        with self._lock:
            return list(self._statuses)

    # -- knobs -----------------------------------------------------------------------------

    def storm(self, requests: int, reset_in: float = 1.5) -> datetime:
        """Answer the next `requests` requests with 429 until a reset `reset_in` s from now.

        Returns the reset instant announced in `X-RateLimit-Reset`.
        """
        reset = datetime.fromtimestamp(self._clock() + reset_in, UTC)
        with self._lock:
            self._storm_left = requests
            self._storm_reset = reset
        return reset

    # -- the API ---------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        token = _bearer(request.headers.get("authorization", ""))
        account = self.accounts.get(token) if token else None
        limited, rate_headers = self._count(account or "ip:127.0.0.1")
        if limited:
            return Reply(429, {"error": "Too many requests"}, rate_headers)
        reply = self._route(request, account)
        return Reply(reply.status, reply.body, {**rate_headers, **reply.headers}, reply.created)

    def _route(self, request: Request, account: str | None) -> Reply:
        if request.method == "POST" and request.path == "/api/v1/statuses":
            if account is None:
                return Reply(401, {"error": "The access token is invalid"})
            return self._post_status(request, account)
        if request.method == "GET" and request.path.startswith("/api/v1/statuses/"):
            with self._lock:
                found = self._by_id.get(request.path.rsplit("/", 1)[1])
            if found is None:
                return Reply(404, {"error": "Record not found"})
            return Reply(200, found.to_json(self.url))
        if request.method == "GET" and request.path == "/api/v2/instance":
            return Reply(200, self._instance())
        if request.method == "GET" and request.path == "/api/v1/accounts/verify_credentials":
            if account is None:
                return Reply(401, {"error": "The access token is invalid"})
            return Reply(200, {"id": "1", "username": account, "acct": account,
                               "url": f"{self.url}/@{account}"})  # fmt: skip
        return Reply(404, {"error": "Record not found"})

    def _post_status(self, request: Request, account: str) -> Reply:
        try:
            params = _params(request)
        except ValueError:
            return Reply(400, {"error": "Error occurred while parsing request parameters"})
        key = request.headers.get("idempotency-key") or None
        now = self._clock()
        # Check-and-create under one lock: concurrent repeats of a key create one status.
        with self._lock:
            if key is not None:
                known = self._keys.get((account, key))
                if known is not None and now - known[1] < self.idempotency_ttl:
                    return Reply(200, self._by_id[known[0]].to_json(self.url))
            problem = self._validate(params)
            if problem is not None:
                return Reply(422, {"error": f"Validation failed: {problem}"})
            status = self._create(params, account, key, now)
        return Reply(200, status.to_json(self.url), created=True)

    def _validate(self, params: Mapping[str, str]) -> str | None:
        text = params.get("status", "")
        if not text.strip():
            return "Text can't be blank"
        length = status_length(text + params.get("spoiler_text", ""))
        if length > self.max_characters:
            return f"Text character limit of {self.max_characters} exceeded"
        visibility = params.get("visibility") or "public"
        if visibility not in VISIBILITIES:
            return "Visibility is not included in the list"
        return None

    def _create(
        self, params: Mapping[str, str], account: str, key: str | None, now: float
    ) -> Status:
        status_id = str(_FIRST_ID + len(self._statuses) + 1)
        requested = params.get("language") or None
        status = Status(
            id=status_id,
            account=account,
            text=params["status"],
            spoiler_text=params.get("spoiler_text", ""),
            visibility=params.get("visibility") or "public",
            language=self._language(requested),
            requested_language=requested,
            idempotency_key=key,
            created_at=datetime.fromtimestamp(now, UTC),
            url=f"{self.url}/@{account}/{status_id}",
        )
        self._statuses.append(status)
        self._by_id[status_id] = status
        if key is not None:
            self._keys[(account, key)] = (status_id, now)
        return status

    def _language(self, requested: str | None) -> str | None:
        """Mastodon's handling: strip a region (`en-US` -> `en`); unknown -> the default."""
        if requested:
            base = requested.replace("_", "-").split("-", 1)[0].lower()
            if base in ISO_639_1:
                return base
        return self.default_language

    def _count(self, who: str) -> tuple[bool, dict[str, str]]:
        """Count one request against `who`'s window; (limited, X-RateLimit-* headers)."""
        now = self._clock()
        with self._lock:
            if self._storm_left > 0 and self._storm_reset is not None:
                if now < self._storm_reset.timestamp():
                    self._storm_left -= 1
                    return True, _rate_headers(self.rate_limit, 0, self._storm_reset)
                self._storm_left = 0
            window = math.floor(now / self.rate_period)  # windows are aligned to the clock
            used = self._hits.get((who, window), 0) + 1
            self._hits[(who, window)] = used
        reset = datetime.fromtimestamp((window + 1) * self.rate_period, UTC)
        remaining = max(0, self.rate_limit - used)
        return used > self.rate_limit, _rate_headers(self.rate_limit, remaining, reset)

    def _instance(self) -> dict[str, Any]:
        return {
            "domain": f"127.0.0.1:{self.port}",
            "title": "Local Mastodon test server",
            "version": "4.3.0-compatible",
            "configuration": {
                "statuses": {
                    "max_characters": self.max_characters,
                    "characters_reserved_per_url": 23,  # what campaign.rules counts
                },
            },
        }

    def describe(self, request: Request, reply: Reply) -> str:
        if request.path != "/api/v1/statuses" or not isinstance(reply.body, dict):
            return json.dumps(reply.body) if reply.status >= 400 else ""
        body = reply.body
        if "error" in body:
            return f"error={body['error']!r}"
        what = "created" if reply.created else "repeat of idempotency key, original"
        return (
            f"{what} id={body['id']} @{body['account']['username']} "
            f"visibility={body['visibility']} language={body['language']} "
            f"key={request.headers.get('idempotency-key')}\n    {body['url']}\n    "
            + json.dumps(self._by_id[body["id"]].text, ensure_ascii=False)
        )


def _bearer(header: str) -> str | None:
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _params(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        data = json.loads(request.body or b"{}")
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
    if content_type in ("application/x-www-form-urlencoded", ""):
        parsed = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
        return {k: v[-1] for k, v in parsed.items()}
    return {}


def _rate_headers(limit: int, remaining: int, reset: datetime) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": reset.isoformat(timespec="microseconds").replace("+00:00", "Z"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.mastodon",
        description="A local Mastodon-compatible server that prints every status it receives.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument(
        "--token",
        action="append",
        help="an accepted access token, optionally TOKEN=ACCOUNT (repeatable; default demo-token)",
    )
    parser.add_argument("--max-characters", type=int, default=500)
    parser.add_argument("--rate-limit", type=int, default=300, help="requests per period")
    parser.add_argument("--rate-period", type=float, default=300.0, help="seconds")
    args = parser.parse_args(argv)
    tokens = token_options(args.token, "demo-token", DEFAULT_ACCOUNT)
    server = FakeMastodon(
        tokens=tokens,
        max_characters=args.max_characters,
        rate_limit=args.rate_limit,
        rate_period=args.rate_period,
        host=args.host,
        port=args.port,
        echo=sys.stdout,
    )
    server.start()
    print(
        f"Mastodon-compatible test server on {server.url}\n"
        f"  accounts: {', '.join(f'@{a}' for a in sorted(set(tokens.values())))}; "
        f"max {args.max_characters} characters; "
        f"{args.rate_limit} requests per {args.rate_period:g} s\n"
        f"  channel api_url: {server.url}\n  Ctrl-C stops.",
        flush=True,
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
