"""A fast Mastodon-shaped server for benchmarks: `POST /api/v1/statuses`, as cheaply as possible.

The shape of tests/fakes/mastodon.py (a Bearer token, an Idempotency-Key that returns the first
status on a repeat, a status with `id` and `url`), none of its checks: the test fake counts
graphemes and validates every field in a thread per connection, which is right for tests and
wrong for a benchmark, where the server must cost little, and the same for the baseline and for
us. One asyncio loop, HTTP/1.1 keep-alive, in its own process.

Any token that starts with `--token-prefix` is an account. Benchmarks read back what arrived:

    GET  /_bench/received   {"count": N, "keys": {idempotency key: receive time (epoch s)}}
    POST /_bench/reset      forget every status

    python -m bench.mastodon_fast --port 8081 --token-prefix bench-
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time

_STATUS_PATH = b"/api/v1/statuses"


class Statuses:
    """What the server has created, by idempotency key."""

    def __init__(self, base_url: str, prefix: str) -> None:
        self.base_url = base_url
        self.prefix = prefix
        self.by_key: dict[str, tuple[str, float]] = {}  # key -> (status id, received at)
        self.next_id = 113_000_000_000_000_000

    def create(self, key: str | None, token: str) -> tuple[int, bytes]:
        if not token.startswith(self.prefix):
            return 401, b'{"error":"The access token is invalid"}'
        now = time.time()
        found = self.by_key.get(key) if key else None
        if found is None:
            self.next_id += 1
            found = (str(self.next_id), now)
            if key:
                self.by_key[key] = found
        status_id = found[0]
        body = {"id": status_id, "url": f"{self.base_url}/@{token[-12:]}/{status_id}"}
        return 200, json.dumps(body).encode()


async def _serve(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, statuses: Statuses
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            method, path, _ = lines[0].split(b" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0"))
            if length:
                await reader.readexactly(length)
            status, body = _route(method, path, headers, statuses)
            writer.write(
                b"HTTP/1.1 %d OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                % (status, len(body))
                + body
            )
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def _route(
    method: bytes, path: bytes, headers: dict[bytes, bytes], statuses: Statuses
) -> tuple[int, bytes]:
    if method == b"POST" and path == _STATUS_PATH:
        token = headers.get(b"authorization", b"").decode().removeprefix("Bearer ")
        key = headers.get(b"idempotency-key")
        return statuses.create(key.decode() if key else None, token)
    if path == b"/_bench/received":
        keys = {key: at for key, (_, at) in statuses.by_key.items()}
        return 200, json.dumps({"count": len(keys), "keys": keys}).encode()
    if method == b"POST" and path == b"/_bench/reset":
        statuses.by_key.clear()
        return 200, b"{}"
    return 404, b'{"error":"Record not found"}'


async def _main(port: int, prefix: str) -> None:
    statuses = Statuses(f"http://127.0.0.1:{port}", prefix)
    server = await asyncio.start_server(
        lambda r, w: _serve(r, w, statuses), "127.0.0.1", port, backlog=1024
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token-prefix", default="bench-")
    arguments = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(arguments.port, arguments.token_prefix))


if __name__ == "__main__":
    main()
