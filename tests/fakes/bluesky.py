"""A Bluesky PDS that enforces the documented contract of signing in and posting a record.

For the faults a real PDS cannot be made to show on demand (an access token that expires now,
an answer lost after the record was written, 5xx, 429 storms); everything else is tested against
the real PDS as well (tests/fixtures: `bluesky_pds`). What it does, as @atproto/pds 0.5.35 does:

    createSession      identifier (handle, DID) + password -> accessJwt (2 h), refreshJwt
                       (90 days), did, handle; 401 AuthenticationRequired "Invalid identifier or
                       password"; 30 per 5 minutes per identifier (RateLimit-* headers, 429
                       RateLimitExceeded with Retry-After)
    refreshSession     the refresh token as bearer; rotates both tokens. A refresh token spent
                       once stays usable for a 2-hour grace period and then yields the same new
                       pair as its first use; revoked -> 400 ExpiredToken "Token has been
                       revoked"; an access token there -> 400 InvalidToken
    getSession         the access token as bearer
    putRecord          the access token as bearer (400 ExpiredToken "Token has expired", 400
                       InvalidToken, 401 AuthMissing); repo must be the token's account; rkey a
                       TID; the record checked (text at most 300 graphemes and 3,000 UTF-8
                       bytes, createdAt, at most 3 langs, facets) -> 400 InvalidRequest with the
                       PDS's wording; `swapRecord: null` creates only: an identical record again
                       is a no-op with the same uri and cid (no commit), a different one 400
                       InvalidSwap "Record was at <cid>"; write points per hour (RateLimit-*)
    getRecord          400 RecordNotFound "Could not locate record: <uri>"
    resolveHandle      known handle -> did; 400 HandleNotFound "Unable to resolve handle"

Stricter than the PDS in one respect: a facet must lie inside the text, on UTF-8 character
boundaries (the PDS stores any range; the app would then underline the wrong characters).
Graphemes are counted here with the `regex` module's extended grapheme clusters.

Knobs beyond `FakeServer`'s: `expire_access_tokens()`, `revoke_sessions(handle)`,
`change_password(handle, new)`, `store_record(did, rkey, value)`, `storm(requests, reset_in)`.

Standalone: `python -m tests.fakes.bluesky --port 8086 --account campaign.test:app-password`.
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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO
from urllib.parse import parse_qs

import regex

from tests.fakes import FakeServer, Reply, Request

DEFAULT_HANDLE = "campaign.test"
DEFAULT_PASSWORD = "abcd-efgh-ijkl-mnop"
COLLECTION = "app.bsky.feed.post"
MAX_GRAPHEMES = 300
MAX_BYTES = 3000
MAX_LANGS = 3
ACCESS_SECONDS = 2 * 3600
REFRESH_SECONDS = 90 * 24 * 3600
REFRESH_GRACE_SECONDS = 2 * 3600
SESSION_LIMIT = (30, 300)  # createSession per identifier: 30 per 5 minutes
WRITE_POINTS = (5000, 3600)  # write points per account per hour; putRecord costs 2
_TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_HANDLE = re.compile(r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]*)$")
_GRAPHEME = regex.compile(r"\X")
_FEATURES = {
    "app.bsky.richtext.facet#link": "uri",
    "app.bsky.richtext.facet#tag": "tag",
    "app.bsky.richtext.facet#mention": "did",
}


@dataclass
class Account:
    """One account: its handle, DID and (app) password."""

    handle: str
    did: str
    password: str


@dataclass(frozen=True)
class Record:
    """A record as the repository holds it."""

    uri: str
    did: str
    rkey: str
    value: dict[str, Any]
    cid: str


@dataclass
class _Refresh:
    did: str
    jwt: str
    expires: float
    next_id: str | None = None
    revoked: bool = False


@dataclass
class _Counters:
    sessions_created: int = 0
    refreshes: int = 0
    resolutions: int = 0
    session_hits: dict[tuple[str, int], int] = field(default_factory=dict)
    write_points: dict[tuple[str, int], int] = field(default_factory=dict)


class FakeBluesky(FakeServer):
    """A local PDS: accounts, sessions and the posts of each repository."""

    name = "bluesky"

    def __init__(
        self,
        *,
        accounts: Iterable[tuple[str, str]] = ((DEFAULT_HANDLE, DEFAULT_PASSWORD),),
        clock: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        echo: TextIO | None = None,
    ) -> None:
        super().__init__(host=host, port=port, echo=echo)
        self._clock = clock
        self._accounts: dict[str, Account] = {}
        for handle, password in accounts:
            self.add_account(handle, password)
        self._access: dict[str, tuple[str, float]] = {}  # jwt -> (did, expires)
        self._refresh: dict[str, _Refresh] = {}  # jti -> refresh token
        self._records: dict[tuple[str, str], Record] = {}  # (did, rkey) -> record
        self._order: list[tuple[str, str]] = []  # (did, rkey) in the order records appeared
        self._counters = _Counters()
        self._storm_left = 0
        self._storm_reset = 0.0

    # -- accounts and what happened ----------------------------------------------------------

    def add_account(self, handle: str, password: str) -> Account:
        """Create an account (its DID derived from the handle)."""
        digest = base64.b32encode(hashlib.sha256(handle.encode()).digest()).decode().lower()
        account = Account(handle, f"did:plc:{digest[:24]}", password)
        with self._lock:
            self._accounts[account.did] = account
        return account

    def account(self, handle: str = DEFAULT_HANDLE) -> Account:
        with self._lock:
            return next(a for a in self._accounts.values() if a.handle == handle)

    @property
    def records(self) -> list[Record]:
        """Every post the repositories hold, in the order they were created."""
        with self._lock:
            return [self._records[key] for key in self._order]

    @property
    def sessions_created(self) -> int:
        """How many createSession calls succeeded."""
        return self._counters.sessions_created

    @property
    def refreshes(self) -> int:
        """How many refreshSession calls succeeded."""
        return self._counters.refreshes

    @property
    def issued_tokens(self) -> list[str]:
        """Every access and refresh token handed out (for tests that look for leaks)."""
        with self._lock:
            return [*self._access, *(r.jwt for r in self._refresh.values())]

    # -- knobs -------------------------------------------------------------------------------

    def expire_access_tokens(self) -> None:
        """Every access token handed out so far has expired (400 ExpiredToken from now on)."""
        now = self._clock()
        with self._lock:
            self._access = {
                jwt: (did, min(exp, now - 1)) for jwt, (did, exp) in self._access.items()
            }

    def revoke_sessions(self, handle: str = DEFAULT_HANDLE) -> None:
        """Revoke every refresh token of the account (as revoking its app password does)."""
        with self._lock:
            did = next(a.did for a in self._accounts.values() if a.handle == handle)
            for token in self._refresh.values():
                if token.did == did:
                    token.revoked = True

    def change_password(self, handle: str, password: str) -> None:
        """The account's app password changes; existing refresh tokens are revoked."""
        self.revoke_sessions(handle)
        with self._lock:
            next(a for a in self._accounts.values() if a.handle == handle).password = password

    def store_record(self, did: str, rkey: str, value: dict[str, Any]) -> Record:
        """Put a post record under `rkey` directly, as another client (or an earlier try of
        ours) would have."""
        record = Record(f"at://{did}/{COLLECTION}/{rkey}", did, rkey, value, _cid(value))
        with self._lock:
            if (did, rkey) not in self._records:
                self._order.append((did, rkey))
            self._records[(did, rkey)] = record
        return record

    def storm(self, requests: int, reset_in: float = 1.5) -> float:
        """Answer the next `requests` requests with 429 until `reset_in` s from now; returns
        the reset (epoch seconds, as RateLimit-Reset says it)."""
        reset = math.ceil(self._clock() + reset_in)
        with self._lock:
            self._storm_left, self._storm_reset = requests, reset
        return reset

    # -- the API -----------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        method = request.path.removeprefix("/xrpc/")
        with self._lock:
            if self._storm_left > 0 and self._clock() < self._storm_reset:
                self._storm_left -= 1
                wait = max(1, math.ceil(self._storm_reset - self._clock()))
                headers = _rate_headers(30, 0, self._storm_reset, 300)
                return Reply(
                    429,
                    _error("RateLimitExceeded", "Rate Limit Exceeded"),
                    {**headers, "Retry-After": str(wait)},
                )
        routes: dict[tuple[str, str], Callable[[Request], Reply]] = {
            ("POST", "com.atproto.server.createSession"): self._create_session,
            ("POST", "com.atproto.server.refreshSession"): self._refresh_session,
            ("GET", "com.atproto.server.getSession"): self._get_session,
            ("POST", "com.atproto.repo.putRecord"): self._put_record,
            ("GET", "com.atproto.repo.getRecord"): self._get_record,
            ("GET", "com.atproto.identity.resolveHandle"): self._resolve_handle,
        }
        route = routes.get((request.method, method))
        if route is None:
            return Reply(501, _error("MethodNotImplemented", "Method Not Implemented"))
        return route(request)

    def _create_session(self, request: Request) -> Reply:
        body = _json_body(request)
        identifier, password = body.get("identifier"), body.get("password")
        if not isinstance(identifier, str) or not isinstance(password, str):
            return Reply(400, _error("InvalidRequest", 'Input must have the property "identifier"'))
        limited, headers = self._count_session(identifier.lower())
        if limited:
            return Reply(429, _error("RateLimitExceeded", "Rate Limit Exceeded"), headers)
        with self._lock:
            account = next(
                (
                    a
                    for a in self._accounts.values()
                    if identifier.lower() in (a.handle.lower(), a.did) and a.password == password
                ),
                None,
            )
            if account is None:
                return Reply(
                    401, _error("AuthenticationRequired", "Invalid identifier or password"), headers
                )
            self._counters.sessions_created += 1
            session = self._issue(account, secrets.token_urlsafe(32))
        return Reply(
            200,
            {
                **session,
                "email": f"{account.handle}@example.test",
                "emailConfirmed": True,
                "active": True,
            },
            headers,
        )

    def _refresh_session(self, request: Request) -> Reply:
        jwt = _bearer(request)
        if jwt is None:
            return Reply(401, _error("AuthMissing", "Authentication Required"))
        claims = _claims(jwt)
        now = self._clock()
        with self._lock:
            token = self._refresh.get(str(claims.get("jti"))) if claims else None
            if token is None or token.jwt != jwt or claims.get("scope") != "com.atproto.refresh":
                return Reply(400, _error("InvalidToken", "Token could not be verified"))
            if token.revoked or token.expires <= now:
                return Reply(400, _error("ExpiredToken", "Token has been revoked"))
            # Spending it starts its grace period; a reuse within it gets the same next id.
            token.expires = min(token.expires, now + REFRESH_GRACE_SECONDS)
            token.next_id = token.next_id or secrets.token_urlsafe(32)
            account = self._accounts[token.did]
            self._counters.refreshes += 1
            session = self._issue(account, token.next_id)
        return Reply(200, {**session, "active": True})

    def _get_session(self, request: Request) -> Reply:
        did, refused = self._authorized(request)
        if refused is not None:
            return refused
        with self._lock:
            account = self._accounts[did]
        return Reply(200, {"did": did, "handle": account.handle, "active": True})

    def _put_record(self, request: Request) -> Reply:
        did, refused = self._authorized(request)
        if refused is not None:
            return refused
        body = _json_body(request)
        with self._lock:
            owner = next(
                (a for a in self._accounts.values() if body.get("repo") in (a.did, a.handle)), None
            )
        if owner is None:
            return Reply(400, _error("InvalidRequest", f"Could not find repo: {body.get('repo')}"))
        if owner.did != did:
            return Reply(401, _error("AuthenticationRequired", "Authentication Required"))
        limited, headers = self._count_write(did)
        if limited:
            return Reply(429, _error("RateLimitExceeded", "Rate Limit Exceeded"), headers)
        problem = _invalid_write(body)
        if problem is not None:
            return Reply(400, _error("InvalidRequest", problem), headers)
        rkey, record = str(body["rkey"]), body["record"]
        cid = _cid(record)
        uri = f"at://{did}/{body['collection']}/{rkey}"
        # Check-and-write under one lock: concurrent identical requests write one record.
        with self._lock:
            current = self._records.get((did, rkey))
            if current is not None and current.cid == cid:
                return Reply(200, {"uri": uri, "cid": cid, "validationStatus": "valid"}, headers)
            if "swapRecord" in body:
                expected = body["swapRecord"]
                if (current.cid if current else None) != expected:
                    at = current.cid if current else "null"
                    return Reply(400, _error("InvalidSwap", f"Record was at {at}"), headers)
            if current is None:
                self._order.append((did, rkey))
            self._records[(did, rkey)] = Record(uri, did, rkey, record, cid)
        commit = {"cid": _cid({"commit": uri, "at": self._clock()}), "rev": _tid_now(self._clock())}
        answer = {"uri": uri, "cid": cid, "commit": commit, "validationStatus": "valid"}
        return Reply(200, answer, headers, created=True)

    def _get_record(self, request: Request) -> Reply:
        query = {k: v[-1] for k, v in parse_qs(request.query).items()}
        with self._lock:
            account = next(
                (a for a in self._accounts.values() if query.get("repo") in (a.did, a.handle)), None
            )
            did = account.did if account else str(query.get("repo"))
            found = self._records.get((did, query.get("rkey", "")))
        uri = f"at://{did}/{query.get('collection')}/{query.get('rkey')}"
        if found is None or query.get("collection") != COLLECTION:
            return Reply(400, _error("RecordNotFound", f"Could not locate record: {uri}"))
        return Reply(200, {"uri": found.uri, "cid": found.cid, "value": found.value})

    def _resolve_handle(self, request: Request) -> Reply:
        handle = (parse_qs(request.query).get("handle") or [""])[-1].lower()
        self._counters.resolutions += 1
        if not _HANDLE.match(handle):
            return Reply(
                400,
                _error(
                    "InvalidRequest",
                    "Invalid com.atproto.identity.resolveHandle "
                    f'params: Invalid handle (got "{handle}")',
                ),
            )
        with self._lock:
            found = next((a.did for a in self._accounts.values() if a.handle == handle), None)
        if found is None:
            name = "HandleNotFound" if handle.endswith(".test") else "InvalidRequest"
            return Reply(400, _error(name, "Unable to resolve handle"))
        return Reply(200, {"did": found})

    # -- helpers -------------------------------------------------------------------------------

    def _issue(self, account: Account, jti: str) -> dict[str, Any]:
        """A session: a new access token, and the refresh token `jti` (the same JWT again when
        it was issued before: a reuse within the grace period). Called under the lock."""
        now = self._clock()
        access = _jwt(
            {
                "scope": "com.atproto.appPass",
                "sub": account.did,
                "aud": "did:web:fake",
                "iat": int(now),
                "exp": int(now + ACCESS_SECONDS),
            }
        )
        self._access[access] = (account.did, now + ACCESS_SECONDS)
        token = self._refresh.get(jti)
        if token is None:
            jwt = _jwt(
                {
                    "scope": "com.atproto.refresh",
                    "sub": account.did,
                    "aud": "did:web:fake",
                    "jti": jti,
                    "iat": int(now),
                    "exp": int(now + REFRESH_SECONDS),
                }
            )
            token = self._refresh[jti] = _Refresh(account.did, jwt, now + REFRESH_SECONDS)
        return {
            "accessJwt": access,
            "refreshJwt": token.jwt,
            "did": account.did,
            "handle": account.handle,
        }

    def _authorized(self, request: Request) -> tuple[str, Reply | None]:
        """The DID the access token speaks for, or the PDS's refusal."""
        jwt = _bearer(request)
        if jwt is None:
            return "", Reply(401, _error("AuthMissing", "Authentication Required"))
        with self._lock:
            found = self._access.get(jwt)
        if found is None:
            return "", Reply(400, _error("InvalidToken", "Token could not be verified"))
        did, expires = found
        if expires <= self._clock():
            return "", Reply(400, _error("ExpiredToken", "Token has expired"))
        return did, None

    def _count_session(self, identifier: str) -> tuple[bool, dict[str, str]]:
        return self._count(self._counters.session_hits, identifier, 1, *SESSION_LIMIT)

    def _count_write(self, did: str) -> tuple[bool, dict[str, str]]:
        return self._count(self._counters.write_points, did, 2, *WRITE_POINTS)

    def _count(
        self, hits: dict[tuple[str, int], int], who: str, points: int, limit: int, window: int
    ) -> tuple[bool, dict[str, str]]:
        now = self._clock()
        slot = math.floor(now / window)
        with self._lock:
            used = hits.get((who, slot), 0) + points
            hits[(who, slot)] = used
        reset = (slot + 1) * window
        headers = _rate_headers(limit, max(0, limit - used), reset, window)
        if used > limit:
            return True, {**headers, "Retry-After": str(max(1, math.ceil(reset - now)))}
        return False, headers

    def describe(self, request: Request, reply: Reply) -> str:
        if not isinstance(reply.body, dict):
            return ""
        if "error" in reply.body:
            return f"{reply.body['error']}: {reply.body.get('message', '')}"
        if request.path.endswith("putRecord"):
            what = "created" if reply.created else "repeat, no change"
            record = _json_body(request).get("record", {})
            text = json.dumps(record.get("text"), ensure_ascii=False)
            return (
                f"{what} {reply.body['uri']} langs={record.get('langs')} "
                f"facets={len(record.get('facets') or [])}\n    {text}"
            )
        return ""


def _invalid_write(body: dict[str, Any]) -> str | None:
    """What the PDS would say is wrong with a putRecord body, or None."""
    collection, rkey, record = body.get("collection"), body.get("rkey"), body.get("record")
    if collection != COLLECTION:
        return f"Invalid collection: {collection}"
    if not isinstance(rkey, str) or not _TID.match(rkey):
        return f'Invalid record key for {COLLECTION}: Invalid TID string (got "{rkey}") at $'
    if not isinstance(record, dict) or record.get("$type") != COLLECTION:
        return f"Invalid {COLLECTION} record: Record/$type must be {COLLECTION}"
    prefix = f"Invalid {COLLECTION} record: "
    text = record.get("text")
    if not isinstance(text, str):
        return prefix + "expected string at $.record.text"
    graphemes = len(_GRAPHEME.findall(text))
    if graphemes > MAX_GRAPHEMES:
        return (
            prefix + f"grapheme too big (maximum {MAX_GRAPHEMES}, got {graphemes}) at $.record.text"
        )
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        return prefix + f"string too big (maximum {MAX_BYTES}, got {size}) at $.record.text"
    created = record.get("createdAt")
    if not isinstance(created, str) or not _DATETIME.match(created) or not _parses(created):
        return prefix + "Invalid datetime string at $.record.createdAt"
    langs = record.get("langs", [])
    if not isinstance(langs, list) or len(langs) > MAX_LANGS:
        count = len(langs) if isinstance(langs, list) else 0
        return prefix + f"array too big (maximum {MAX_LANGS}, got {count}) at $.record.langs"
    return _invalid_facets(record.get("facets", []), text.encode("utf-8"), prefix)


def _invalid_facets(facets: Any, text: bytes, prefix: str) -> str | None:
    if not isinstance(facets, list):
        return prefix + "expected array at $.record.facets"
    for n, facet in enumerate(facets):
        where = f"$.record.facets[{n}]"
        index = facet.get("index") if isinstance(facet, dict) else None
        start = index.get("byteStart") if isinstance(index, dict) else None
        end = index.get("byteEnd") if isinstance(index, dict) else None
        if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start <= end:
            return prefix + f"invalid index at {where}.index"
        if end > len(text) or not _boundary(text, start) or not _boundary(text, end):
            return prefix + f"index outside the text or inside a character at {where}.index"
        features = facet.get("features")
        if not isinstance(features, list) or not features:
            return prefix + f"expected features at {where}.features"
        for feature in features:
            kind = feature.get("$type") if isinstance(feature, dict) else None
            field_name = _FEATURES.get(str(kind))
            if field_name is None or not isinstance(feature.get(field_name), str):
                return prefix + f"invalid feature at {where}.features"
            value = feature[field_name]
            if field_name == "did" and not value.startswith("did:"):
                return prefix + f"Invalid DID at {where}.features"
            if field_name == "uri" and ":" not in value:
                return prefix + f"Invalid URI at {where}.features"
    return None


def _boundary(text: bytes, at: int) -> bool:
    """Whether byte `at` starts a character (or ends the text)."""
    return at == len(text) or (text[at] & 0xC0) != 0x80


def _parses(moment: str) -> bool:
    try:
        datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _error(name: str, message: str) -> dict[str, str]:
    return {"error": name, "message": message}


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _json_body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _jwt(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"typ": "at+jwt", "alg": "HS256"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}.{_b64(secrets.token_bytes(32))}"


def _claims(jwt: str) -> dict[str, Any]:
    try:
        payload = jwt.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _cid(value: Any) -> str:
    """A content id: the same for the same record, whatever the order of its keys."""
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    digest = base64.b32encode(hashlib.sha256(canonical.encode()).digest()).decode().lower()
    return "bafyrei" + digest.rstrip("=")[:52]


def _tid_now(now: float) -> str:
    alphabet = "234567abcdefghijklmnopqrstuvwxyz"
    value = int(now * 1_000_000) << 10
    return "".join(alphabet[(value >> (5 * (12 - i))) & 31] for i in range(13))


def _rate_headers(limit: int, remaining: int, reset: float, window: int) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(math.ceil(reset)),
        "RateLimit-Policy": f"{limit};w={window}",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.bluesky",
        description="A local Bluesky PDS that prints every post it receives.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8086)
    parser.add_argument(
        "--account",
        action="append",
        help=f"HANDLE:APP_PASSWORD (repeatable; default {DEFAULT_HANDLE}:{DEFAULT_PASSWORD})",
    )
    args = parser.parse_args(argv)
    pairs = args.account or [f"{DEFAULT_HANDLE}:{DEFAULT_PASSWORD}"]
    accounts = [(pair.split(":", 1)[0], pair.split(":", 1)[-1]) for pair in pairs]
    server = FakeBluesky(
        accounts=accounts,
        host=args.host,
        port=args.port,
        echo=sys.stdout,
    )
    server.start()
    print(
        f"Bluesky test server (a PDS) on {server.url}\n"
        f"  accounts: {', '.join(handle for handle, _ in accounts)}\n"
        f"  channel api_url: {server.url}\n  Ctrl-C stops.",
        flush=True,
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
