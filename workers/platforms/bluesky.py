"""Bluesky: `putRecord` under a record key derived from the post id, so a resend is always safe.

sign in     createSession (identifier + app password) once; the session (accessJwt,
            refreshJwt, did, handle) lives in the store, sealed, shared by every worker;
            refreshSession when the access token expires (400 ExpiredToken), by one worker
            at a time (workers/platforms/credentials.py); createSession again when the
            refresh token is refused too (expired after 90 days, revoked)
publish     com.atproto.repo.putRecord to app.bsky.feed.post with rkey = a TID derived from
            the post id and its time, `swapRecord: null` (create only), and a record that is
            byte for byte the same on every try (createdAt is the post's scheduled time):
            a repeat returns the same uri and cid and changes nothing, for ever
record      text as previewed (links shown shortened only when the text is over Bluesky's
            limits and the rules counted it so: campaign/bluesky_text.py), langs from the
            audience's locale, facets for links, hashtags and mentions in UTF-8 bytes;
            a mention whose handle does not resolve to a DID stays plain text
errors      {"error", "message"}: InvalidSwap -> another record holds the key (ours, if its
            text and time are ours); AuthenticationRequired, InvalidToken, AccountTakedown
            ... -> AuthRejected with guidance; InvalidRequest -> PermanentPublishError;
            429 RateLimitExceeded -> RateLimited at RateLimit-Reset / Retry-After
post URL    https://bsky.app/profile/<handle>/post/<rkey>
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

import requests

from campaign.bluesky_text import Facet, RichText, as_posted
from campaign.errors import (
    AuthRejected,
    ConfigurationError,
    OutcomeUnknown,
    PermanentPublishError,
    PublishError,
    TransientPublishError,
)
from campaign.rules import bluesky_fits
from workers.platforms.auth import HttpRequest, RefreshingAuth, nothing_posted
from workers.platforms.base import ClientContext, Outgoing, Published, Resend
from workers.platforms.credentials import SharedCredential, Tokens
from workers.platforms.http import HttpClient, credential_names, excerpt, json_object

log = logging.getLogger(__name__)

COLLECTION = "app.bsky.feed.post"
CREATE_SESSION = "com.atproto.server.createSession"
REFRESH_SESSION = "com.atproto.server.refreshSession"
GET_SESSION = "com.atproto.server.getSession"
PUT_RECORD = "com.atproto.repo.putRecord"
GET_RECORD = "com.atproto.repo.getRecord"
RESOLVE_HANDLE = "com.atproto.identity.resolveHandle"
_FACET = "app.bsky.richtext.facet"
_FEATURES = {"link": "uri", "tag": "tag", "mention": "did"}
_ACCEPT = {"Accept": "application/json"}
_JSON = {"Content-Type": "application/json; charset=utf-8", **_ACCEPT}

# Errors that mean the server does not take these credentials: sign in again, or give up.
_TOKEN_REFUSED = frozenset(
    {"ExpiredToken", "InvalidToken", "AuthRequired", "AuthMissing", "AuthenticationRequired"}
)
# An access token the server refuses this way may work again once renewed (InvalidToken too: a
# server that changed its signing key refuses every old token, and signing in again cures it).
_RENEWABLE = frozenset({"ExpiredToken", "InvalidToken"})
_ACCOUNT_GONE = {
    "AccountTakedown": "the account was taken down by its host; nothing here can fix that",
    "AccountDeactivated": "the account is deactivated: reactivate it in the Bluesky app",
}
_RESOLVED_FOR = 3600.0  # seconds a handle's DID (or its absence) is remembered
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


def record_key(post_id: str, scheduled_at: datetime) -> str:
    """The record key of a post: a TID (13 characters, base32-sortable) whose time is the
    post's scheduled second plus microseconds and a clock id drawn from a hash of the post id.

    Two posts of one account at the same second get different keys (2^30 possibilities);
    one post always gets the same key, so putRecord can tell a retry from a new post.
    """
    digest = hashlib.sha256(f"campaign-scheduler/bluesky-rkey\x00{post_id}".encode()).digest()
    micros = int(scheduled_at.timestamp()) * 1_000_000 + int.from_bytes(digest[:4]) % 1_000_000
    value = (micros << 10) | (int.from_bytes(digest[4:6]) & 0x3FF)
    return "".join(_TID_ALPHABET[(value >> (5 * (12 - i))) & 31] for i in range(13))


def created_at(scheduled_at: datetime) -> str:
    """The record's createdAt: the scheduled time, so every retry sends the same record."""
    moment = scheduled_at.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def post_url(handle: str, did: str, rkey: str) -> str:
    """Where the Bluesky app shows a post (by DID when the handle is broken)."""
    who = did if not handle or handle == "handle.invalid" else handle
    return f"https://bsky.app/profile/{who}/post/{rkey}"


class RecordTaken(PermanentPublishError):
    """Raised when putRecord answers InvalidSwap: a record already holds the post's key."""


class BlueskySession(RefreshingAuth):
    """The account's session, shared by every worker through the store."""

    def __init__(self, client: BlueskyClient, shared: SharedCredential) -> None:
        super().__init__(shared, client.context.clock)
        self._client = client

    def sign(self, request: HttpRequest, tokens: Tokens) -> HttpRequest:
        return request.with_header("Authorization", f"Bearer {tokens['accessJwt']}")

    def expired(self, response: requests.Response) -> bool:
        return response.status_code == 400 and xrpc_name(response) in _RENEWABLE

    def obtain(self, current: Tokens | None) -> Tokens:
        return self._client.sign_in(current)


class BlueskyClient(HttpClient):
    """Publishes posts to one Bluesky account with an app password."""

    platform: ClassVar[str] = "bluesky"
    resend: ClassVar[Resend] = Resend.BY_KEY
    resend_window: ClassVar[timedelta | None] = None  # a record key is kept for ever

    def __init__(self, context: ClientContext) -> None:
        super().__init__(context)
        channel = context.channel
        base = channel.resolved_api_url()
        if base is None:  # the platform table gives bsky.social: only a broken table gets here
            raise ConfigurationError("a bluesky channel needs api_url")
        self._base = base
        self._host = urlsplit(base).netloc
        identifier = (context.secrets.get("identifier") or channel.account or "").strip()
        self._identifier = identifier.removeprefix("@")
        if not self._identifier:
            raise ConfigurationError(
                "a bluesky channel needs its account (the handle, e.g. name.bsky.social) or an "
                "identifier in its credentials"
            )
        self._password = context.secret("password")
        names = credential_names(channel)
        shared = SharedCredential(
            context.credentials,
            f"bluesky:{self._host}:{self._identifier.lower()}",
            f"{self._identifier}\n{self._password}",
            platform=self.platform,
            lease_seconds=context.timeouts.connect + context.timeouts.read + 5,
            clock=context.clock,
            stale_environment=(
                f"bluesky: {names} on this worker is older than the app password other workers "
                f"signed in with for {self._identifier}: set the current one in its environment"
            ),
        )
        self.session = BlueskySession(self, shared)
        self.auth = self.session
        self._dids: dict[str, tuple[str | None, float]] = {}  # handle -> (DID, until when)

    # -- the interface -------------------------------------------------------------------

    def publish(self, post: Outgoing) -> Published:
        did, handle = self._account()
        try:
            record = self._record(post)
        except OutcomeUnknown as exc:  # only a handle was looked up, never the post sent
            raise TransientPublishError(nothing_posted(str(exc), "resolving a mention")) from None
        rkey = record_key(post.post_id, post.scheduled_at)
        body = {
            "repo": did,
            "collection": COLLECTION,
            "rkey": rkey,
            "record": record,
            "swapRecord": None,
        }
        request = HttpRequest(
            "POST", self._xrpc(PUT_RECORD), _encode(body), _JSON, self._what(PUT_RECORD)
        )
        try:
            response = self._exchange(request)
        except RecordTaken:
            return self._taken(post, record, did, handle, rkey)
        answer = self._json(response, request.what)
        uri = answer.get("uri")
        if not isinstance(uri, str) or not uri.endswith(f"/{COLLECTION}/{rkey}"):
            raise OutcomeUnknown(
                f"bluesky: {request.what} answered HTTP {response.status_code} without the "
                "record's uri; the post was probably published"
            )
        log.debug("bluesky: post %s published as %s", post.post_id, uri)
        return Published(uri, post_url(handle, did, rkey))

    def find(self, post: Outgoing) -> Published | None:
        did, handle = self._account()
        rkey = record_key(post.post_id, post.scheduled_at)
        found = self._get_record(did, rkey)
        if found is None or not _same_post(found[1], self._rich(post).text, post):
            return None
        return Published(found[0], post_url(handle, did, rkey))

    def check(self) -> str:
        request = HttpRequest(
            "GET",
            self._xrpc(GET_SESSION),
            None,
            {"Accept": "application/json"},
            self._what(GET_SESSION),
        )
        answer = self._read_json(request)
        handle, did = answer.get("handle"), answer.get("did")
        said = f"signed in as @{handle} ({did})"
        account = (self.channel.account or "").removeprefix("@").lower()
        if account and isinstance(handle, str) and handle.lower() != account:
            said += f", not as the channel's account {self.channel.account}"
        return said

    # -- signing in (called under the shared session's lease) ------------------------------

    def sign_in(self, current: Tokens | None) -> Tokens:
        """A new session: refreshSession with the current one's refresh token, or
        createSession with the app password (first, and when the refresh token is refused).

        Raises:
            PublishError: AuthRejected when the app password is refused; RateLimited (the
                server allows 30 sign-ins per 5 minutes); others when it cannot be asked.
        """
        if current is not None:
            what = self._what(REFRESH_SESSION)
            refresh = HttpRequest(
                "POST",
                self._xrpc(REFRESH_SESSION),
                None,
                {"Authorization": f"Bearer {current['refreshJwt']}", "Accept": "application/json"},
                what,
            )
            response = self._send(refresh)
            if response.ok:
                return self._session_of(response, what)
            refused = xrpc_name(response)
            if response.status_code not in (400, 401) or refused not in _TOKEN_REFUSED:
                self._raise_for_status(response, what)
            log.info(
                "bluesky: the session of %s cannot be refreshed (%s); signing in again",
                self._identifier,
                refused,
            )
        what = self._what(CREATE_SESSION)
        body = {"identifier": self._identifier, "password": self._password}
        response = self._send(
            HttpRequest("POST", self._xrpc(CREATE_SESSION), _encode(body), _JSON, what)
        )
        if not response.ok:
            self._raise_for_status(response, what)
        log.info("bluesky: signed in as %s", self._identifier)
        return self._session_of(response, what)

    # -- the platform's errors -------------------------------------------------------------

    def _platform_error(self, response: requests.Response, what: str) -> PublishError | None:
        found = xrpc_error(response)
        if found is None:
            return None
        name, message = found
        said = excerpt(self._redact(f"{name}: {message}" if message else name))
        if name == "InvalidSwap":
            return RecordTaken(f"bluesky: {what}: {said}")
        if name in _ACCOUNT_GONE:
            return AuthRejected(
                f"bluesky: {what} refused {self._identifier} ({said}): {_ACCOUNT_GONE[name]}"
            )
        if name == "ExpiredToken" and response.status_code == 400:
            return TransientPublishError(
                f"bluesky: the session expired again right after it was renewed ({said}); "
                "check this machine's clock"
            )
        if name in _TOKEN_REFUSED:
            return AuthRejected(
                f"bluesky: {what} refused the sign-in of {self._identifier} ({said}): the app "
                "password was revoked or mistyped, or the identifier is wrong. Create an app "
                "password in Bluesky (Settings > Privacy and security > App passwords) and set "
                f"it in {credential_names(self.channel)}"
            )
        return None

    # -- helpers ---------------------------------------------------------------------------

    def _account(self) -> tuple[str, str]:
        """(DID, handle) the shared session speaks for, signing in first if needed.

        Raises:
            AuthRejected: the app password signs in another account than the channel's (a post
                would land in the wrong account).
        """
        session = self.session.tokens().tokens
        did, handle = str(session["did"]), str(session.get("handle") or "")
        account = (self.channel.account or "").strip().removeprefix("@").lower()
        if account and account not in (handle.lower(), did.lower()):
            raise AuthRejected(
                f"bluesky: the app password in {credential_names(self.channel)} signs in "
                f"@{handle}, not the channel's account {self.channel.account}: correct the "
                "account in the campaign file, or the app password"
            )
        return did, handle

    def _record(self, post: Outgoing) -> dict[str, Any]:
        """The post as an app.bsky.feed.post record, the same on every try."""
        rich = self._rich(post)
        record: dict[str, Any] = {
            "$type": COLLECTION,
            "text": rich.text,
            "createdAt": created_at(post.scheduled_at),
            "langs": [post.locale],
        }
        facets = [facet for facet in map(self._facet, rich.facets) if facet is not None]
        if facets:
            record["facets"] = facets
        return record

    def _rich(self, post: Outgoing) -> RichText:
        return as_posted(post.text, bluesky_fits)

    def _facet(self, facet: Facet) -> dict[str, Any] | None:
        value = facet.value
        if facet.kind == "mention":
            resolved = self._resolve(value)
            if resolved is None:
                return None
            value = resolved
        feature = {"$type": f"{_FACET}#{facet.kind}", _FEATURES[facet.kind]: value}
        return {"index": {"byteStart": facet.start, "byteEnd": facet.end}, "features": [feature]}

    def _resolve(self, handle: str) -> str | None:
        """The DID of `handle`, or None when it does not resolve (the mention stays text).

        Raises:
            PublishError: the server could not be asked (nothing was posted yet).
        """
        key = handle.lower()
        known = self._dids.get(key)
        now = self.context.clock()
        if known is not None and known[1] > now:
            return known[0]
        what = self._what(RESOLVE_HANDLE)
        url = f"{self._xrpc(RESOLVE_HANDLE)}?{urlencode({'handle': key})}"
        response = self._send(HttpRequest("GET", url, None, _ACCEPT, what))
        did: str | None = None
        if response.ok:
            found = json_object(response).get("did")
            did = found if isinstance(found, str) and found.startswith("did:") else None
        elif response.status_code != 400:
            self._raise_for_status(response, what)
        if did is None:
            log.warning(
                "bluesky: @%s does not resolve to an account; it is posted as plain "
                "text, not as a mention",
                handle,
            )
        self._dids[key] = (did, now + _RESOLVED_FOR)
        return did

    def _taken(
        self, post: Outgoing, record: dict[str, Any], did: str, handle: str, rkey: str
    ) -> Published:
        """putRecord said another record holds the key: ours (an earlier try whose mentions
        resolved differently), or a different text published before under this post's key."""
        url = post_url(handle, did, rkey)
        found = self._get_record(did, rkey)
        if found is not None and _same_post(found[1], record["text"], post):
            log.info("bluesky: post %s was already published as %s", post.post_id, found[0])
            return Published(found[0], url)
        raise PermanentPublishError(
            f"bluesky: this post was published before with another text ({url}); it is not "
            "overwritten. Delete that post in Bluesky to publish this text instead"
        )

    def _get_record(self, did: str, rkey: str) -> tuple[str, dict[str, Any]] | None:
        """(uri, record) stored under `rkey`, or None."""
        what = self._what(GET_RECORD)
        query = urlencode({"repo": did, "collection": COLLECTION, "rkey": rkey})
        url = f"{self._xrpc(GET_RECORD)}?{query}"
        response = self._send(HttpRequest("GET", url, None, _ACCEPT, what))
        if not response.ok:
            if response.status_code == 400 and xrpc_name(response) == "RecordNotFound":
                return None
            self._raise_for_status(response, what)
        answer = json_object(response)
        uri, value = answer.get("uri"), answer.get("value")
        if not isinstance(uri, str) or not isinstance(value, dict):
            return None
        return uri, value

    def _session_of(self, response: requests.Response, what: str) -> Tokens:
        answer = json_object(response)
        fields = ("accessJwt", "refreshJwt", "did")
        if not all(isinstance(answer.get(name), str) and answer.get(name) for name in fields):
            raise TransientPublishError(f"bluesky: {what} answered without a session")
        return {
            "accessJwt": answer["accessJwt"],
            "refreshJwt": answer["refreshJwt"],
            "did": answer["did"],
            "handle": str(answer.get("handle") or ""),
            "expires": _expiry(answer["accessJwt"]),
        }

    def _xrpc(self, method: str) -> str:
        return f"{self._base}/xrpc/{method}"

    def _what(self, method: str) -> str:
        return f"{self._host}/xrpc/{method}"


def xrpc_name(response: requests.Response) -> str | None:
    """The `error` name of an XRPC error body (ExpiredToken, InvalidSwap, ...), or None."""
    found = xrpc_error(response)
    return found[0] if found else None


def xrpc_error(response: requests.Response) -> tuple[str, str] | None:
    """(error, message) from an XRPC error body, or None when it is not one."""
    data = json_object(response)
    if not isinstance(data.get("error"), str):
        return None
    message = data.get("message")
    return data["error"], message if isinstance(message, str) else ""


def _same_post(value: dict[str, Any], text: str, post: Outgoing) -> bool:
    return value.get("text") == text and value.get("createdAt") == created_at(post.scheduled_at)


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _expiry(jwt: str) -> float | None:
    """When an access token expires, from its payload (unverified: only to renew early)."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None
