"""A Graph API server that enforces the documented contract of posting to a Facebook Page.

    POST /v<NN>.0/{page}/feed        `message` (and optional `link`) as a form or JSON body; a
                                     Page access token (`Authorization: Bearer` or `OAuth`
                                     header, or an `access_token` parameter) of that page with
                                     pages_manage_posts; answers `{"id": "{page-id}_{post-id}"}`
    GET  /v<NN>.0/{page}/posts|feed  the page's posts, newest first (`fields`, `since`, `limit`
                                     up to 100), with pages_read_engagement
    GET  /v<NN>.0/me, /{page}        the page a Page token belongs to; a page by id or username
                                     (`fields`: id, name, username)

Errors come in the Graph API's shape, `{"error": {"message", "type", "code", "error_subcode"?,
"error_user_title"?, "error_user_msg"?, "fbtrace_id"}}`: 190 for an invalid token (subcode 463
when it expired), 2500 without a token, 100 (subcode 33) for an unknown object, 200 and 10 for
missing permissions, 506 for a post identical to the page's latest one (Facebook refuses
duplicate posts "consecutively"), and the throttling codes with an
`X-Business-Use-Case-Usage` header that may name `estimated_time_to_regain_access` (minutes).

A message is limited to 63,206 characters, counted here as Unicode code points.

Knobs beyond `FakeServer`'s: `throttle(code, times, regain_minutes)`, `expire(token)`,
`add_page(...)`, `grant(token, page, permissions)`.

Standalone, for trying the product:
`python -m tests.fakes.facebook --port 8084 --token demo-page-token=SafeMigrationKG`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import parse_qs

from tests.fakes import FakeServer, Reply, Request, token_options

DEFAULT_TOKEN = "EAAGtestPageToken0123456789abcdefghijklmnopqrstuvwxyzZD"
DEFAULT_PAGE = "SafeMigrationKG"
MAX_MESSAGE = 63206
PUBLISH = "pages_manage_posts"
READ = "pages_read_engagement"

_VERSIONED = re.compile(r"^/v(?P<version>[0-9]+\.[0-9]+)(?P<rest>/.*)$")
_FIRST_PAGE_ID = 100_000_000_000_000
_FIRST_POST_ID = 1_220_000_000_000_000


@dataclass
class Page:
    """A Facebook Page."""

    id: str
    name: str
    username: str | None = None

    def to_json(self, fields: Iterable[str]) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id}
        for name in fields:
            if name == "name":
                data["name"] = self.name
            elif name == "username" and self.username:
                data["username"] = self.username
        return data


@dataclass
class Token:
    """A Page access token: the page it acts as, its permissions, whether it still works."""

    page_id: str
    permissions: frozenset[str] = frozenset({PUBLISH, READ})
    expired: bool = False


@dataclass(frozen=True)
class PagePost:
    """One post the server created."""

    id: str  # "{page-id}_{post-id}"
    page_id: str
    message: str | None
    link: str | None
    created_time: float
    version: str | None

    def to_json(self, fields: Iterable[str]) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id}
        for name in fields:
            if name == "message" and self.message is not None:
                data["message"] = self.message
            elif name == "created_time":
                data["created_time"] = _graph_time(self.created_time)
            elif name == "permalink_url":
                page, post = self.id.split("_", 1)
                data["permalink_url"] = f"https://www.facebook.com/{page}/posts/{post}"
        return data


@dataclass
class _Throttle:
    left: int = 0
    code: int = 32
    regain_minutes: int | None = None


class GraphError(Exception):
    """An answer with an `error` object."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        kind: str = "OAuthException",
        subcode: int | None = None,
        user_title: str | None = None,
        user_msg: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error: dict[str, Any] = {"message": message, "type": kind, "code": code}
        if subcode is not None:
            self.error["error_subcode"] = subcode
        if user_title is not None:
            self.error["error_user_title"] = user_title
        if user_msg is not None:
            self.error["error_user_msg"] = user_msg
        self.headers = dict(headers or {})

    def reply(self) -> Reply:
        self.error["fbtrace_id"] = secrets.token_urlsafe(8)
        return Reply(self.status, {"error": self.error}, self.headers)


class FakeFacebook(FakeServer):
    """A local Graph API: Page tokens map to pages; posts and requests are recorded."""

    name = "facebook"

    def __init__(
        self,
        *,
        tokens: Mapping[str, str] | Iterable[str] = (DEFAULT_TOKEN,),
        clock: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        echo: TextIO | None = None,
    ) -> None:
        super().__init__(host=host, port=port, echo=echo)
        self._clock = clock
        self._pages: list[Page] = []
        self.tokens: dict[str, Token] = {}
        self._posts: list[PagePost] = []
        self._post_ids = itertools.count(_FIRST_POST_ID + 1)
        self._throttle = _Throttle()
        pairs = (
            tokens.items() if isinstance(tokens, Mapping) else ((t, DEFAULT_PAGE) for t in tokens)
        )
        for token, username in pairs:
            page = self.page(username) or self.add_page(username)
            self.tokens[token] = Token(page.id)

    # -- what happened ---------------------------------------------------------------------

    @property
    def posts(self) -> list[PagePost]:
        """Every post created so far, in order."""
        with self._lock:
            return list(self._posts)

    def page(self, key: str) -> Page | None:
        """A page by id or username."""
        with self._lock:
            return self._find_page(key)

    # -- knobs -----------------------------------------------------------------------------

    def add_page(self, username: str | None = None, *, name: str | None = None) -> Page:
        """A page; without a username it is reached by id only."""
        with self._lock:
            number = _FIRST_PAGE_ID + len(self._pages) + 1
            page = Page(str(number), name or _spaced(username or f"Page {number}"), username)
            self._pages.append(page)
            return page

    def grant(self, token: str, page: Page, permissions: Iterable[str] = (PUBLISH, READ)) -> None:
        """Make `token` a Page token of `page` with these permissions."""
        with self._lock:
            self.tokens[token] = Token(page.id, frozenset(permissions))

    def expire(self, token: str) -> None:
        """The token stops working, as a Page token does when its user's session ends."""
        with self._lock:
            self.tokens[token].expired = True

    def throttle(self, code: int = 32, times: int = 1, regain_minutes: int | None = None) -> None:
        """Answer the next `times` requests with a throttling error (4, 17, 32, 613, 80001)."""
        with self._lock:
            self._throttle = _Throttle(times, code, regain_minutes)

    # -- the API ---------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        try:
            return self._route(request)
        except GraphError as error:
            return error.reply()

    def _route(self, request: Request) -> Reply:
        match = _VERSIONED.match(request.path)
        version = match["version"] if match else None
        path = match["rest"] if match else request.path
        params = _params(request)
        token = self._token(request, params)
        self._throttled()
        parts = [p for p in path.split("/") if p]
        if request.method == "GET" and len(parts) == 1:
            page = self._page_of(token) if parts[0] == "me" else self._object(parts[0])
            return Reply(200, page.to_json(_fields(params, "id,name")))
        if len(parts) == 2 and parts[1] in ("feed", "posts"):
            page = self._object(parts[0])
            if request.method == "POST" and parts[1] == "feed":
                return self._publish(page, token, params, version)
            if request.method == "GET":
                return self._list(page, token, params)
        raise _unsupported(request.method, path.strip("/"))

    def _token(self, request: Request, params: Mapping[str, str]) -> Token:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        raw = value.strip() if scheme.lower() in ("bearer", "oauth") else ""
        raw = raw or params.get("access_token", "")
        if not raw:
            raise GraphError(
                400,
                2500,
                "An active access token must be used to query information about the current user.",
            )
        with self._lock:
            token = self.tokens.get(raw)
        invalid = {"WWW-Authenticate": 'OAuth "Facebook Platform" "invalid_token"'}
        if token is None:
            raise GraphError(
                400, 190, "Invalid OAuth access token - Cannot parse access token", headers=invalid
            )
        if token.expired:
            when = datetime.fromtimestamp(self._clock(), UTC).strftime("%A, %d-%b-%y %H:%M:%S")
            raise GraphError(
                400,
                190,
                f"Error validating access token: Session has expired on {when} PST.",
                subcode=463,
                headers=invalid,
            )
        return token

    def _throttled(self) -> None:
        with self._lock:
            if self._throttle.left <= 0:
                return
            self._throttle.left -= 1
            code, minutes = self._throttle.code, self._throttle.regain_minutes
        usage = {"type": "pages", "call_count": 100, "total_cputime": 30, "total_time": 40}
        if minutes is not None:
            usage["estimated_time_to_regain_access"] = minutes
        header = {"X-Business-Use-Case-Usage": json.dumps({"1000000000": [usage]})}
        messages = {
            4: "(#4) Application request limit reached",
            17: "(#17) User request limit reached",
            32: "(#32) Page request limit reached",
            613: "(#613) Calls to this api have exceeded the rate limit.",
            80001: "(#80001) There have been too many calls to this Page account. Wait a bit "
            "and try again.",
        }
        raise GraphError(400, code, messages.get(code, f"(#{code}) Throttled"), headers=header)

    def _publish(
        self, page: Page, token: Token, params: Mapping[str, str], version: str | None
    ) -> Reply:
        if token.page_id != page.id or PUBLISH not in token.permissions:
            raise GraphError(
                403,
                200,
                "(#200) If posting to a page, requires both pages_read_engagement and "
                "pages_manage_posts as an admin with sufficient administrative permission",
            )
        message = params.get("message") or None
        link = params.get("link") or None
        if message is None and link is None:
            raise GraphError(400, 100, "(#100) Missing message or attachment")
        if message is not None and len(message) > MAX_MESSAGE:
            raise GraphError(
                400,
                100,
                f"(#100) Param message must be at most {MAX_MESSAGE} characters long",
                user_title="Post too long",
                user_msg="Your post is too long. Please shorten it and try again.",
            )
        now = self._clock()
        # Check-and-create under one lock: concurrent identical posts make one post.
        with self._lock:
            latest = next((p for p in reversed(self._posts) if p.page_id == page.id), None)
            if latest is not None and (latest.message, latest.link) == (message, link):
                raise GraphError(
                    400,
                    506,
                    "(#506) Duplicate status message",
                    user_title="Duplicate Status Update",
                    user_msg="This status update is identical to the last one you posted. Try "
                    "posting something different, or delete your previous update.",
                )
            post = PagePost(
                id=f"{page.id}_{next(self._post_ids)}",
                page_id=page.id,
                message=message,
                link=link,
                created_time=now,
                version=version,
            )
            self._posts.append(post)
        return Reply(200, {"id": post.id}, created=True)

    def _list(self, page: Page, token: Token, params: Mapping[str, str]) -> Reply:
        if READ not in token.permissions:
            raise GraphError(
                403, 10, "(#10) This endpoint requires the 'pages_read_engagement' permission"
            )
        since = _timestamp(params.get("since"))
        try:
            limit = min(100, max(1, int(params.get("limit") or 25)))
        except ValueError:
            raise GraphError(400, 100, "(#100) Param limit must be an integer") from None
        fields = _fields(params, "id,message,created_time")
        with self._lock:
            found = [
                p
                for p in reversed(self._posts)
                if p.page_id == page.id and (since is None or p.created_time >= since)
            ]
        data = [post.to_json(fields) for post in found[:limit]]
        return Reply(200, {"data": data, "paging": {"cursors": {"before": "b", "after": "a"}}})

    def _object(self, key: str) -> Page:
        with self._lock:
            page = self._find_page(key)
        if page is None:
            raise GraphError(
                400,
                100,
                f"Unsupported get request. Object with ID '{key}' does not exist, cannot be "
                "loaded due to missing permissions, or does not support this operation. Please "
                "read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
                kind="GraphMethodException",
                subcode=33,
            )
        return page

    def _page_of(self, token: Token) -> Page:
        return self._object(token.page_id)

    def _find_page(self, key: str) -> Page | None:
        lowered = key.lower()
        return next(
            (
                p
                for p in self._pages
                if p.id == key or (p.username is not None and p.username.lower() == lowered)
            ),
            None,
        )

    def describe(self, request: Request, reply: Reply) -> str:
        body = reply.body if isinstance(reply.body, dict) else {}
        if "error" in body:
            return f"error #{body['error']['code']}: {body['error']['message']!r}"
        if not reply.created:
            return ""
        post = next(p for p in self.posts if p.id == body["id"])
        return f"post {post.id}\n    " + json.dumps(post.message, ensure_ascii=False)


def _unsupported(method: str, path: str) -> GraphError:
    return GraphError(
        400,
        100,
        f"Unsupported {method.lower()} request. Object with ID '{path}' does not exist, cannot "
        "be loaded due to missing permissions, or does not support this operation.",
        kind="GraphMethodException",
        subcode=33,
    )


def _params(request: Request) -> dict[str, str]:
    params = {k: v[-1] for k, v in parse_qs(request.query, keep_blank_values=True).items()}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" and request.body:
        try:
            data = json.loads(request.body)
        except ValueError:
            raise GraphError(400, 100, "(#100) Invalid JSON for postcontent") from None
        if not isinstance(data, dict):
            raise GraphError(400, 100, "(#100) Invalid JSON for postcontent")
        params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()})
    elif content_type in ("application/x-www-form-urlencoded", "") and request.body:
        parsed = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
        params.update({k: v[-1] for k, v in parsed.items()})
    return params


def _fields(params: Mapping[str, str], default: str) -> list[str]:
    return [f.strip() for f in (params.get("fields") or default).split(",") if f.strip()]


def _timestamp(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise GraphError(400, 100, f"(#100) Invalid since: {value!r}") from None


def _graph_time(epoch: float) -> str:
    """A time as the Graph API writes it: 2026-11-22T09:00:00+0000."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _spaced(username: str) -> str:
    """A display name for a username: SafeMigrationKG -> Safe Migration KG."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", username)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.facebook",
        description="A local Graph API server for Facebook Pages that prints every post.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8084)
    parser.add_argument(
        "--token",
        action="append",
        help="a Page access token, optionally TOKEN=PAGE-USERNAME (repeatable; default "
        "demo-page-token=SafeMigrationKG)",
    )
    args = parser.parse_args(argv)
    tokens = token_options(args.token, "demo-page-token", DEFAULT_PAGE)
    server = FakeFacebook(tokens=tokens, host=args.host, port=args.port, echo=sys.stdout)
    server.start()
    pages = ", ".join(f"{p.username} (id {p.id})" for p in server._pages)
    print(
        f"Graph API test server for Facebook Pages on {server.url}\n"
        f"  pages: {pages}\n  channel api_url: {server.url}\n  Ctrl-C stops.",
        flush=True,
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
