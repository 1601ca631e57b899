"""An X API v2 server that enforces the documented contract of OAuth 2.0 tokens and posting.

    POST /2/oauth2/token   grant_type=refresh_token (form), client_id; a confidential client
                           must send Basic auth (401 unauthorized_client "Missing valid
                           authorization header"). Answers an access token (expires_in 7200)
                           and a NEW refresh token: the one sent is dead from then on (400
                           invalid_request "Value passed for the token was invalid.")
    POST /2/tweets         Bearer user token (401 problem JSON when unknown or expired);
                           {"text"}; weighted length at most 280 (twitter-text v3, counted
                           here: see `weighted_length`) else 400 "Your Tweet text is too long";
                           the same text again from the same account -> 403 "You are not
                           allowed to create a Tweet with duplicate content."; 200 posts per 15
                           minutes per account with x-rate-limit-limit/-remaining/-reset (epoch
                           seconds) on every answer and 429 without Retry-After. Answers 201
                           {"data": {"id", "text", "edit_history_tweet_ids"}}, links in the text
                           wrapped as t.co links
    GET  /2/users/me       the token's account: {"data": {"id", "name", "username"}}
    GET  /2/users/:id/tweets  newest first, start_time, max_results, tweet.fields=entities
                           (urls: url, expanded_url, display_url, start, end)

Errors are problem JSON {"title", "detail", "type", "status"}; token errors are OAuth 2.0
{"error", "error_description"}.

Knobs beyond `FakeServer`'s: `grant(account)` authorizes the app again (a new first refresh
token, as the OAuth flow gives), `expire_access_tokens()`, `revoke(account)` (the user took
the app's access back), `storm(requests, reset_in)`.

Standalone: `python -m tests.fakes.x --port 8085 --account SafeMigrationKG` prints the refresh
token to put in the environment.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import re
import secrets
import sys
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import parse_qs, unquote

import regex

from tests.fakes import FakeServer, Reply, Request

DEFAULT_ACCOUNT = "campaign"
DEFAULT_CLIENT_ID = "test-client-id"
ACCESS_SECONDS = 7200
SCOPE = "tweet.write users.read tweet.read offline.access"
POSTS_PER_WINDOW = (200, 900)  # per account: 200 posts per 15 minutes

# twitter-text v3 (config/v3.json): the numbers the weighted length is computed from.
MAX_WEIGHTED_LENGTH = 280
SCALE = 100
DEFAULT_WEIGHT = 200
TRANSFORMED_URL_LENGTH = 23
LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))  # weight 100 each

# Links the fake recognises: http(s) URLs, and bare domains under a few common TLDs (the
# classes the tests use; twitter-text knows every TLD).
_URL = regex.compile(
    r"https?://[^\s]+"
    r"|(?<![\w@./-])(?:[a-z0-9-]+\.)+(?:com|org|net|int|kg|info|io|rs|al|ru)(?:/[^\s]*)?",
    regex.IGNORECASE,
)
_URL_TRAILING = ".,;:!?'\")]"
_EMOJI = regex.compile(r"\p{Extended_Pictographic}|\p{Regional_Indicator}|\u20e3")
_GRAPHEME = regex.compile(r"\X")
_TWEETS_OF = re.compile(r"^/2/users/(\d+)/tweets$")
_FIRST_ID = 1_990_000_000_000_000_000
_UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
_DUPLICATE = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
_TOO_LONG = {
    "detail": "Your Tweet text is too long. For more information on how Twitter "
    "determines text length see https://github.com/twitter/twitter-text.",
    "type": "about:blank",
    "title": "Bad Request",
    "status": 400,
}
_TOO_MANY = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
}
_BAD_TOKEN = {
    "error": "invalid_request",
    "error_description": "Value passed for the token was invalid.",
}


def links(text: str) -> list[tuple[int, int]]:
    """(start, end) of each link in `text`, trailing punctuation left out."""
    found = []
    for match in _URL.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in _URL_TRAILING:
            end -= 1
        found.append((start, end))
    return found


def weighted_length(text: str) -> int:
    """The length X gives `text`: NFC first; each link 23; each emoji 2; a code point in the
    light ranges 1, any other 2 (twitter-text v3's weights, divided by its scale)."""
    text = unicodedata.normalize("NFC", text)
    spans = links(text)
    total = len(spans) * TRANSFORMED_URL_LENGTH * SCALE
    position = 0
    for start, end in [*spans, (len(text), len(text))]:
        for cluster in _GRAPHEME.findall(text[position:start]):
            if _EMOJI.search(cluster):
                total += DEFAULT_WEIGHT
                continue
            for char in cluster:
                light = any(low <= ord(char) <= high for low, high in LIGHT_RANGES)
                total += SCALE if light else DEFAULT_WEIGHT
        position = end
    return total // SCALE


@dataclass(frozen=True)
class Tweet:
    """One post the server created."""

    id: str
    account: str
    text: str  # as sent
    created_at: float

    def to_json(self, fields: Iterable[str] = ()) -> dict[str, Any]:
        """The post as the API shows it: links wrapped as t.co links."""
        shown, urls = _wrapped(self.text)
        data: dict[str, Any] = {"id": self.id, "text": shown, "edit_history_tweet_ids": [self.id]}
        if "created_at" in fields:
            moment = datetime.fromtimestamp(self.created_at, UTC)
            data["created_at"] = moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        if "entities" in fields and urls:
            data["entities"] = {"urls": urls}
        return data


@dataclass
class _Counters:
    refreshes: int = 0
    refused_refreshes: int = 0
    posts: dict[tuple[str, int], int] = field(default_factory=dict)


class FakeX(FakeServer):
    """A local X API: apps, accounts, their grants and tokens, and posts."""

    name = "x"

    def __init__(
        self,
        *,
        accounts: Iterable[str] = (DEFAULT_ACCOUNT,),
        clients: Mapping[str, str | None] | None = None,
        duplicate_window: float = 24 * 3600.0,
        clock: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        echo: TextIO | None = None,
    ) -> None:
        super().__init__(host=host, port=port, echo=echo)
        self._clock = clock
        self.clients = dict(clients) if clients is not None else {DEFAULT_CLIENT_ID: None}
        self.duplicate_window = duplicate_window
        self._ids = {name: str(1_500_000_000 + n) for n, name in enumerate(accounts, 1)}
        self._refresh: dict[str, tuple[str, str]] = {}  # token -> (account, client id)
        self._access: dict[str, tuple[str, float]] = {}  # token -> (account, expires)
        self._issued: list[str] = []
        self._tweets: list[Tweet] = []
        self._counters = _Counters()
        self._storm_left = 0
        self._storm_reset = 0

    # -- what happened -----------------------------------------------------------------------

    @property
    def tweets(self) -> list[Tweet]:
        with self._lock:
            return list(self._tweets)

    @property
    def refreshes(self) -> int:
        """Successful refresh_token grants."""
        return self._counters.refreshes

    @property
    def refused_refreshes(self) -> int:
        """Refresh requests refused because the token was dead or unknown."""
        return self._counters.refused_refreshes

    @property
    def issued_tokens(self) -> list[str]:
        """Every token handed out (for tests that look for leaks)."""
        with self._lock:
            return list(self._issued)

    def user_id(self, account: str = DEFAULT_ACCOUNT) -> str:
        return self._ids[account]

    # -- knobs -------------------------------------------------------------------------------

    def grant(
        self,
        account: str = DEFAULT_ACCOUNT,
        client_id: str = DEFAULT_CLIENT_ID,
        *,
        token: str | None = None,
    ) -> str:
        """Authorize the app for `account` (what the OAuth flow ends with): its first refresh
        token (`token`, when a test needs a known value). An earlier grant's tokens stay valid,
        as on X."""
        token = token or _token()
        with self._lock:
            self._refresh[token] = (account, client_id)
            self._issued.append(token)
        return token

    def expire_access_tokens(self) -> None:
        """Every access token handed out so far has expired (401 from now on)."""
        now = self._clock()
        with self._lock:
            self._access = {t: (a, min(exp, now - 1)) for t, (a, exp) in self._access.items()}

    def revoke(self, account: str = DEFAULT_ACCOUNT) -> None:
        """The user revoked the app's access: every token of the account is dead."""
        with self._lock:
            self._access = {t: v for t, v in self._access.items() if v[0] != account}
            self._refresh = {t: v for t, v in self._refresh.items() if v[0] != account}

    def storm(self, requests: int, reset_in: float = 1.5) -> int:
        """Answer the next `requests` posts with 429 until `reset_in` s from now; returns the
        reset in epoch seconds, as x-rate-limit-reset says it."""
        reset = math.ceil(self._clock() + reset_in)
        with self._lock:
            self._storm_left, self._storm_reset = requests, reset
        return reset

    # -- the API -----------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        if request.method == "POST" and request.path == "/2/oauth2/token":
            return self._token(request)
        account = self._account(request)
        if account is None:
            return Reply(401, _UNAUTHORIZED)
        if request.method == "POST" and request.path == "/2/tweets":
            return self._post(request, account)
        if request.method == "GET" and request.path == "/2/users/me":
            data = {"id": self._ids[account], "name": account.title(), "username": account}
            return Reply(200, {"data": data})
        match = _TWEETS_OF.match(request.path)
        if request.method == "GET" and match:
            return self._timeline(request, match.group(1))
        return Reply(
            404,
            {
                "title": "Not Found Error",
                "type": "about:blank",
                "status": 404,
                "detail": f"Could not find {request.path}",
            },
        )

    def _token(self, request: Request) -> Reply:
        form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8")).items()}
        if form.get("grant_type") != "refresh_token":
            return Reply(
                400,
                {
                    "error": "invalid_request",
                    "error_description": "Missing required parameter [grant_type].",
                },
            )
        client_id = form.get("client_id", "")
        basic = _basic(request)
        if basic is not None:
            client_id = basic[0]
        if client_id not in self.clients:
            return Reply(
                400,
                {
                    "error": "invalid_request",
                    "error_description": "Missing required parameter [client_id].",
                },
            )
        secret = self.clients[client_id]
        if secret is not None and (basic is None or basic[1] != secret):
            return Reply(
                401,
                {
                    "error": "unauthorized_client",
                    "error_description": "Missing valid authorization header",
                },
            )
        with self._lock:
            grant = self._refresh.get(form.get("refresh_token", ""))
            if grant is None or grant[1] != client_id:
                self._counters.refused_refreshes += 1
                return Reply(400, _BAD_TOKEN)
            del self._refresh[form["refresh_token"]]  # spent: rotation
            access, refresh = _token(), _token()
            self._access[access] = (grant[0], self._clock() + ACCESS_SECONDS)
            self._refresh[refresh] = grant
            self._issued += [access, refresh]
            self._counters.refreshes += 1
        return Reply(
            200,
            {
                "token_type": "bearer",
                "expires_in": ACCESS_SECONDS,
                "access_token": access,
                "scope": SCOPE,
                "refresh_token": refresh,
            },
        )

    def _account(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        with self._lock:
            found = self._access.get(token.strip())
        if found is None or found[1] <= self._clock():
            return None
        return found[0]

    def _post(self, request: Request, account: str) -> Reply:
        limited, headers = self._count(account)
        if limited:
            return Reply(429, _TOO_MANY, headers)
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            body = None
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            return Reply(
                400,
                {
                    "errors": [{"message": "$.text: must not be empty"}],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": "https://api.twitter.com/2/problems/invalid-request",
                },
                headers,
            )
        if weighted_length(text) > MAX_WEIGHTED_LENGTH:
            return Reply(400, _TOO_LONG, headers)
        now = self._clock()
        same = _normalized(text)
        # Check-and-create under one lock: concurrent identical posts create one tweet.
        with self._lock:
            if any(
                t.account == account
                and now - t.created_at < self.duplicate_window
                and _normalized(t.text) == same
                for t in self._tweets
            ):
                return Reply(403, _DUPLICATE, headers)
            tweet = Tweet(str(_FIRST_ID + len(self._tweets) + 1), account, text, now)
            self._tweets.append(tweet)
        return Reply(201, {"data": tweet.to_json()}, headers, created=True)

    def _timeline(self, request: Request, user_id: str) -> Reply:
        query = {k: unquote(v[-1]) for k, v in parse_qs(request.query).items()}
        account = next((name for name, uid in self._ids.items() if uid == user_id), None)
        if account is None:
            return Reply(
                200,
                {
                    "errors": [
                        {
                            "title": "Not Found Error",
                            "detail": f"Could not find user with id: [{user_id}].",
                        }
                    ]
                },
            )
        since = 0.0
        if "start_time" in query:
            since = datetime.fromisoformat(query["start_time"].replace("Z", "+00:00")).timestamp()
        limit = min(100, max(5, int(query.get("max_results", "10"))))
        fields = query.get("tweet.fields", "").split(",")
        with self._lock:
            found = [
                t for t in reversed(self._tweets) if t.account == account and t.created_at >= since
            ]
        page = [tweet.to_json(fields) for tweet in found[:limit]]
        if not page:
            return Reply(200, {"meta": {"result_count": 0}})
        meta = {"result_count": len(page), "newest_id": page[0]["id"], "oldest_id": page[-1]["id"]}
        return Reply(200, {"data": page, "meta": meta})

    def _count(self, account: str) -> tuple[bool, dict[str, str]]:
        """Count one post against the account's window; (limited, x-rate-limit-* headers)."""
        limit, window = POSTS_PER_WINDOW
        now = self._clock()
        with self._lock:
            if self._storm_left > 0 and now < self._storm_reset:
                self._storm_left -= 1
                return True, _rate_headers(limit, 0, self._storm_reset)
            slot = math.floor(now / window)
            used = self._counters.posts.get((account, slot), 0) + 1
            self._counters.posts[(account, slot)] = used
        reset = (slot + 1) * window
        return used > limit, _rate_headers(limit, max(0, limit - used), reset)

    def describe(self, request: Request, reply: Reply) -> str:
        if not isinstance(reply.body, dict):
            return ""
        if request.path == "/2/tweets" and reply.created:
            data = reply.body["data"]
            return f"created id={data['id']}\n    " + json.dumps(data["text"], ensure_ascii=False)
        if reply.status >= 400:
            return json.dumps(reply.body)
        return ""


def _wrapped(text: str) -> tuple[str, list[dict[str, Any]]]:
    """`text` with each link replaced by its t.co link, and the url entities."""
    out: list[str] = []
    urls: list[dict[str, Any]] = []
    position = length = 0
    for start, end in links(text):
        before = text[position:start]
        expanded = text[start:end]
        if not expanded.lower().startswith(("http://", "https://")):
            expanded = f"http://{expanded}"
        short = (
            "https://t.co/"
            + base64.b32encode(hashlib.sha256(expanded.encode()).digest()).decode()[:10].lower()
        )
        out += [before, short]
        length += len(before)
        display = expanded.split("://", 1)[1]
        urls.append(
            {
                "start": length,
                "end": length + len(short),
                "url": short,
                "expanded_url": expanded,
                "display_url": display if len(display) <= 25 else display[:24] + "…",
            }
        )
        length += len(short)
        position = end
    out.append(text[position:])
    return "".join(out), urls


def _normalized(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def _token() -> str:
    return secrets.token_urlsafe(48)


def _basic(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
    except ValueError:
        return None
    return unquote(user), unquote(password)


def _rate_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {
        "x-rate-limit-limit": str(limit),
        "x-rate-limit-remaining": str(remaining),
        "x-rate-limit-reset": str(reset),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.x",
        description="A local X API server that prints every post it receives.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8085)
    parser.add_argument("--account", action="append", help="an account (repeatable)")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    args = parser.parse_args(argv)
    accounts = args.account or [DEFAULT_ACCOUNT]
    server = FakeX(
        accounts=accounts,
        clients={args.client_id: None},
        host=args.host,
        port=args.port,
        echo=sys.stdout,
    )
    server.start()
    print(
        f"X API test server on {server.url}\n  channel api_url: {server.url}\n"
        f"  client id: {args.client_id}",
        flush=True,
    )
    for account in accounts:
        print(f"  @{account}: refresh token {server.grant(account, args.client_id)}", flush=True)
    print("  Ctrl-C stops.", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
