"""Credentials every worker shares through the store: sealed, and renewed by one worker at a time.

A Bluesky session and X's OAuth 2.0 tokens live in one entry of the store's versioned
credentials per account, so that every worker process, on every machine, uses the same session
and a rotated refresh token is never lost:

- single flight: before it calls the platform, a worker writes a short lease into the entry by
  compare-and-swap. The others see the lease and wait for the next version instead of
  refreshing with the same refresh token (which a rotating platform, X, refuses the second
  time: everybody logged out). A worker that loses the swap reads the winner's tokens.
- crash: a lease ends on its own after `lease_seconds`; then another worker takes over. (If the
  crashed worker had already spent X's refresh token, the platform refuses the next refresh
  and the posts fail with "reconnect the account": nothing else can recover a token that only
  the dead process saw.)
- write before use: renewed tokens are stored (compare-and-swap) before they sign anything. If
  the entry moved on meanwhile (our lease ran out and another worker renewed), the stored
  tokens win: they are at least as new as ours.
- sealed: the tokens are encrypted (AES-GCM) with a key derived (HKDF-SHA256) from the
  channel's own secret in the environment, its "origin". For X the store holds the only live
  credential of the account once the environment's refresh token has been spent, so a copy of
  the store (a Redis without a password, a backup of the SQLite file) must not be enough to
  post as the account. The lease, the generation and a fingerprint of the origin stay readable.
- origin: the entry remembers the fingerprint of the environment secret its chain started from,
  and the origins it replaced. A worker whose secret is the entry's origin uses the stored
  chain; a worker with a secret the entry has never seen (the operator reconnected the account
  and set a new value) starts a new chain from it; a worker whose secret the entry knows as a
  replaced origin has a stale environment and fails with guidance, instead of spending a dead
  token or overwriting the newer chain.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from campaign.errors import AuthRejected, StoreError, TransientPublishError
from workers.platforms.base import CredentialStore

log = logging.getLogger(__name__)

Tokens = Mapping[str, Any]  # what a platform gave: a session, an access and refresh token
# Asks the platform for new tokens: a refresh of the stored ones, or (None) a first sign-in
# from the origin secret. Raises PublishError.
Obtain = Callable[[Tokens | None], Tokens]

_FORMAT = 1
_SALT = b"campaign-scheduler/credentials/v1"
_RETIRED_KEPT = 8  # origins remembered as replaced
_POLL_FIRST = 0.02  # seconds between looks at a leased entry, growing to _POLL_MAX
_POLL_MAX = 0.25
_WRITE_TRIES = 3  # a store that timed out may have written: read, then try again


@dataclass(frozen=True)
class Held:
    """Tokens as the store holds them, and the generation they belong to."""

    tokens: Tokens = field(repr=False)
    generation: int


@dataclass(frozen=True)
class _Entry:
    """One credential entry as stored (the tokens sealed), with the store's version."""

    version: int | None  # None: no entry yet
    origin: str | None = None  # fingerprint of the environment secret the chain started from
    retired: tuple[str, ...] = ()  # origins this chain replaced: stale environments
    generation: int = 0  # goes up by one with every renewal, across chains
    sealed: str | None = None  # the tokens, encrypted with the origin's key
    holder: str | None = None  # who holds the lease: renewing now
    until: float = 0.0  # when the lease ends (the context's clock)

    def leased(self, now: float) -> bool:
        return self.holder is not None and now < self.until

    def encode(self) -> str:
        return json.dumps(
            {
                "format": _FORMAT,
                "origin": self.origin,
                "retired": list(self.retired),
                "generation": self.generation,
                "sealed": self.sealed,
                "lease": None
                if self.holder is None
                else {"holder": self.holder, "until": self.until},
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, value: str, version: int) -> _Entry:
        """The entry stored as `value`; one that cannot be read counts as holding no chain."""
        try:
            data = json.loads(value)
            lease = data.get("lease") or {}
            return cls(
                version=version,
                origin=data.get("origin"),
                retired=tuple(str(item) for item in data.get("retired") or ()),
                generation=int(data.get("generation") or 0),
                sealed=data.get("sealed"),
                holder=lease.get("holder"),
                until=float(lease.get("until") or 0.0),
            )
        except (ValueError, TypeError, AttributeError):
            log.warning("an unreadable shared credential entry will be replaced")
            return cls(version=version)


class SharedCredential:
    """One account's tokens in the store, renewed by one worker at a time."""

    def __init__(
        self,
        store: CredentialStore,
        account: str,
        origin_secret: str,
        *,
        platform: str,
        lease_seconds: float,
        stale_environment: str,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`account` names the entry (platform, server, account); `origin_secret` is the
        channel's secret from the environment that the chain starts from and that keys the
        encryption; `stale_environment` is the guidance given to a worker whose secret the
        entry has seen replaced."""
        self._store = store
        self.account = account
        self.platform = platform
        self._lease = lease_seconds
        self._stale = stale_environment
        self._clock = clock
        self._sleep = sleep
        material = HKDF(
            algorithm=hashes.SHA256(), length=48, salt=_SALT, info=account.encode()
        ).derive(origin_secret.encode())
        self._cipher = AESGCM(material[:32])
        self.origin = material[32:].hex()  # a fingerprint: says nothing about the secret

    def __repr__(self) -> str:
        return f"SharedCredential({self.account!r})"

    def current(self, obtain: Obtain) -> Held:
        """The stored tokens; obtained from the platform first when there are none yet, or
        when the environment holds a new origin.

        Raises:
            PublishError: obtaining failed, the environment is stale (AuthRejected), or the
                store could not be reached (TransientPublishError).
        """
        return self._settle(obtain, stale=None)

    def renew(self, stale: Held, obtain: Obtain) -> Held:
        """Tokens newer than `stale`: renewed by this worker under a lease, or by another.

        Raises:
            PublishError: as for `current`.
        """
        return self._settle(obtain, stale=stale.generation)

    def _settle(self, obtain: Obtain, stale: int | None) -> Held:
        holder = uuid.uuid4().hex  # this call's name on a lease (threads may share a client)
        delay = _POLL_FIRST
        waiting_since: float | None = None
        while True:
            entry = self._read()
            tokens = self._open(entry) if entry.origin == self.origin else None
            if tokens is not None and entry.generation != stale:
                return Held(tokens, entry.generation)
            if entry.origin != self.origin and self.origin in entry.retired:
                raise AuthRejected(self._stale)
            now = self._clock()
            if entry.leased(now):
                # Another worker is renewing: wait for its version rather than spend the same
                # refresh token. Bounded in real time too, whatever the clock says.
                waiting_since = waiting_since or time.monotonic()
                if time.monotonic() - waiting_since > self._lease + 5:
                    raise TransientPublishError(
                        f"{self.platform}: another worker has been signing in for over "
                        f"{self._lease:g} s; trying again later"
                    )
                self._sleep(delay)
                delay = min(delay * 1.5, _POLL_MAX)
                continue
            leased = self._swap(entry, replace(entry, holder=holder, until=now + self._lease))
            if leased is not None:
                return self._renew_under(leased, tokens, obtain)

    def _renew_under(self, leased: _Entry, tokens: Tokens | None, obtain: Obtain) -> Held:
        """Ask the platform while holding the lease; store the answer before anyone uses it."""
        unleased = replace(leased, holder=None, until=0.0)
        try:
            fresh = obtain(tokens)
        except AuthRejected:
            # A worker whose lease ran out while it waited for the platform may have spent
            # the refresh token meanwhile: then the entry holds its tokens, and they are ours.
            self._swap(leased, unleased, quiet=True)
            moved = self._read()
            if moved.origin == self.origin and moved.generation != leased.generation:
                theirs = self._open(moved)
                if theirs is not None:
                    return Held(theirs, moved.generation)
            raise
        except BaseException:
            self._swap(leased, unleased, quiet=True)
            raise
        generation = leased.generation + 1
        retired = leased.retired
        if leased.origin not in (None, self.origin):  # a new chain replaces an older origin
            retired = (*retired, leased.origin)[-_RETIRED_KEPT:]
        renewed = _Entry(None, self.origin, retired, generation, self._seal(fresh, generation))
        return self._store_renewed(leased, renewed, fresh)

    def _store_renewed(self, leased: _Entry, renewed: _Entry, fresh: Tokens) -> Held:
        """Write `renewed` over the entry we leased, unless another worker renewed it first.

        A refresh token the platform has just rotated exists nowhere else, so a store that
        fails or times out is asked again (it may have written) before giving up.
        """
        version = leased.version
        for attempt in range(_WRITE_TRIES):
            try:
                if self._store.swap_credential(self.account, version, renewed.encode()):
                    log.debug("%s: %s renewed (generation %d)", self.platform, self.account,
                              renewed.generation)  # fmt: skip
                    return Held(fresh, renewed.generation)
                found = self._store.credential(self.account)
            except StoreError as exc:
                log.warning("%s: storing the renewed session failed (%s); asking again",
                            self.platform, exc)  # fmt: skip
                self._sleep(_POLL_MAX * (attempt + 1))
                continue
            current = _Entry(None) if found is None else _Entry.decode(found.value, found.version)
            if current.generation != leased.generation or current.origin != leased.origin:
                # The write that timed out went through, or another worker renewed after our
                # lease ran out: either way the stored tokens are as new as ours.
                theirs = self._open(current) if current.origin == self.origin else None
                if theirs is None:
                    return Held(fresh, renewed.generation)
                return Held(theirs, current.generation)
            version = current.version  # the same chain, leased again meanwhile: still ours
        raise TransientPublishError(
            f"{self.platform}: the renewed session could not be stored; trying again later"
        )

    def _read(self) -> _Entry:
        try:
            found = self._store.credential(self.account)
        except StoreError as exc:
            raise TransientPublishError(
                f"{self.platform}: the shared session could not be read from the store: {exc}"
            ) from None
        return _Entry(None) if found is None else _Entry.decode(found.value, found.version)

    def _swap(self, entry: _Entry, new: _Entry, *, quiet: bool = False) -> _Entry | None:
        """`new` as stored in place of `entry`, or None when another worker swapped first."""
        try:
            if self._store.swap_credential(self.account, entry.version, new.encode()):
                return replace(new, version=(entry.version or 0) + 1)
        except StoreError as exc:
            if not quiet:
                raise TransientPublishError(
                    f"{self.platform}: the shared session could not be stored: {exc}"
                ) from None
        return None

    def _seal(self, tokens: Tokens, generation: int) -> str:
        nonce = os.urandom(12)
        plain = json.dumps(dict(tokens), separators=(",", ":")).encode()
        sealed = self._cipher.encrypt(nonce, plain, self._bound(generation))
        return base64.b64encode(nonce + sealed).decode("ascii")

    def _open(self, entry: _Entry) -> Tokens | None:
        """The entry's tokens, or None when it has none that this origin's key opens."""
        if entry.sealed is None:
            return None
        try:
            raw = base64.b64decode(entry.sealed, validate=True)
            plain = self._cipher.decrypt(raw[:12], raw[12:], self._bound(entry.generation))
            tokens = json.loads(plain)
        except (InvalidTag, ValueError, binascii.Error):
            log.warning("%s: the shared credential %s cannot be opened; signing in afresh",
                        self.platform, self.account)  # fmt: skip
            return None
        return tokens if isinstance(tokens, dict) else None

    def _bound(self, generation: int) -> bytes:
        """What a sealed value is bound to: its account and generation (no copying between)."""
        return f"{self.account}\n{generation}".encode()
