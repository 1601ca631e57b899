"""The real Bluesky PDS (`@atproto/pds` 0.5.35) on loopback, offline, for tests.

`install()` puts Node 22 and the packages pinned by bluesky-pds/package-lock.json into the cache
(the first time about 2 minutes: 596 packages, and better-sqlite3 compiled from source against
Node 22's headers, as nothing but the package registries can be reached). `BlueskyPds` runs one
server: a PDS with an in-memory `did:plc` directory in one Node process (bluesky-pds/
start-pds.mjs), on free loopback ports, with a fresh data folder, accounts by invitation only.
The directory forgets every DID when the process stops, so each start begins empty.

    pds = BlueskyPds(folder); pds.start()
    account = pds.create_account()          # did, handle, password, access_jwt, refresh_jwt
    requests.post(pds.xrpc("com.atproto.repo.createRecord"), ...)
    pds.stop()                              # SIGTERM, then SIGKILL after 10 s

tests/fixtures/bluesky_pds.py wraps this as the session fixture `bluesky_pds`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.reference import cache, node

VERSION = "0.5.35"
SOURCE = cache.HERE / "bluesky-pds"
_PINS = ("package.json", "package-lock.json")
_START_SCRIPT = "start-pds.mjs"
_READY = "PDS READY"


class PdsError(RuntimeError):
    """Raised when the PDS does not start, or refuses what a test harness asks of it."""


def install() -> Path:
    """The folder holding @atproto/pds and its dependencies, installed if needed.

    Raises:
        cache.InstallError: if npm cannot install the pinned packages or better-sqlite3 does
            not load afterwards.
    """
    key = cache.digest(*(SOURCE / name for name in _PINS)) + f" node {node.VERSION}"
    return cache.ensure(cache.root() / f"bluesky-pds-{VERSION}", key, _install)


def _install(target: Path) -> None:
    for name in _PINS:
        shutil.copy(SOURCE / name, target / name)
    # Install scripts must run (better-sqlite3 builds itself); from source, against the wheel's
    # headers, because its prebuilt binaries are downloaded from outside the registries.
    npm = node.npm
    npm(["ci", "--no-progress"], cwd=target, what="npm ci @atproto/pds", build_from_source=True)
    if not _loads(target):  # an interrupted build can leave it unbuilt; npm ci skips it then
        npm(["rebuild", "better-sqlite3"], cwd=target, what="npm rebuild", build_from_source=True)
    if not _loads(target):
        raise cache.InstallError("@atproto/pds or better-sqlite3 does not load after npm ci")


def _loads(folder: Path) -> bool:
    """Whether the pinned PDS is there and its native SQLite module loads in Node 22."""
    check = (
        "const v = require('@atproto/pds/package.json').version;"
        f"if (v !== '{VERSION}') process.exit(1);"
        "new (require('better-sqlite3'))(':memory:').close()"
    )
    result = subprocess.run(
        [str(node.executable()), "-e", check], cwd=folder, capture_output=True, check=False
    )
    return result.returncode == 0


@dataclass(frozen=True)
class Account:
    """An account on the test PDS, with the session createAccount opened for it."""

    did: str
    handle: str
    password: str
    access_jwt: str
    refresh_jwt: str


def _free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (held open together, so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class BlueskyPds:
    """One PDS process on loopback, with its data and log in `folder`."""

    def __init__(self, folder: Path, *, start_timeout: float = 60.0) -> None:
        self.folder = folder
        self.start_timeout = start_timeout
        self.port, self.plc_port = _free_ports(2)
        self.admin_password = secrets.token_hex(16)
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / "pds.log"

    @property
    def url(self) -> str:
        """The PDS's base URL, as clients reach it (`http://localhost:<port>`)."""
        return f"http://localhost:{self.port}"

    def xrpc(self, method: str) -> str:
        """The URL of an XRPC method, e.g. xrpc("com.atproto.server.createSession")."""
        return f"{self.url}/xrpc/{method}"

    def start(self) -> None:
        """Install if needed, then start the PDS and wait until it answers its health check.

        Raises:
            cache.InstallError: if the PDS cannot be installed.
            PdsError: if it exits or does not answer within `start_timeout` (with its log).
        """
        app = install()
        shutil.copy(SOURCE / _START_SCRIPT, app / _START_SCRIPT)  # cheap: edits apply at once
        data = self.folder / "data"
        shutil.rmtree(data, ignore_errors=True)  # the in-memory directory starts empty too
        (data / "blobs").mkdir(parents=True)
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PDS_", "PLC_"))},
            "PLC_PORT": str(self.plc_port),
            "PDS_PORT": str(self.port),
            "PDS_HOSTNAME": "localhost",
            "PDS_DEV_MODE": "true",
            "PDS_DATA_DIRECTORY": str(data),
            "PDS_BLOBSTORE_DISK_LOCATION": str(data / "blobs"),
            "PDS_DID_PLC_URL": f"http://127.0.0.1:{self.plc_port}",
            "PDS_INVITE_REQUIRED": "true",
            "PDS_JWT_SECRET": secrets.token_hex(16),
            "PDS_ADMIN_PASSWORD": self.admin_password,
            "PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX": secrets.token_hex(32),
            # No app view and no crawlers are configured: nothing leaves the machine.
        }
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(node.executable()), str(app / _START_SCRIPT)],
                cwd=app,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # our signals reach it alone, not the test run
            )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PdsError(f"the PDS exited with {self.process.returncode}:\n{self._tail()}")
            if _READY in self.log.read_text(errors="replace") and self._healthy():
                return
            time.sleep(0.1)
        self.stop()
        raise PdsError(f"the PDS did not answer within {self.start_timeout:.0f} s:\n{self._tail()}")

    def _healthy(self) -> bool:
        try:
            return requests.get(self.xrpc("_health"), timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def _tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, grace: float = 10.0) -> None:
        """Stop the PDS: SIGTERM, then SIGKILL if it has not exited after `grace` seconds."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def create_account(self, handle: str | None = None, password: str | None = None) -> Account:
        """A new account: an invite code from the admin API, then createAccount.

        A handle must end in `.test` and its first label have 3-18 characters; by default a
        random one. The answer's session tokens come back with it.

        Raises:
            PdsError: if the PDS refuses.
        """
        handle = handle or f"t{secrets.token_hex(5)}.test"
        password = password or secrets.token_urlsafe(16)
        invite = self._post(
            "com.atproto.server.createInviteCode",
            {"useCount": 1},
            auth=("admin", self.admin_password),
        )
        body = {
            "handle": handle,
            "password": password,
            "email": f"{handle.replace('.', '-')}@example.com",
            "inviteCode": invite["code"],
        }
        created = self._post("com.atproto.server.createAccount", body)
        return Account(
            created["did"], created["handle"], password, created["accessJwt"], created["refreshJwt"]
        )

    def _post(
        self, method: str, body: dict[str, Any], auth: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        response = requests.post(self.xrpc(method), json=body, auth=auth, timeout=30)
        if response.status_code != 200:
            raise PdsError(f"{method}: HTTP {response.status_code} {response.text}")
        answer: dict[str, Any] = response.json()
        return answer
