"""Small load-generator parts shared by the benchmarks: signed HTTP API requests sent over
keep-alive connections, and Pusher subscribers on raw sockets that only count what they get.

Both are kept cheap on purpose (no JSON decoding of deliveries, requests built once and sent
again), so that the process generating the load is not what limits the numbers; every benchmark
also reports this process's own CPU use.
"""

import asyncio
import hashlib
import json
import os
import socket
import struct
import time
from base64 import b64encode
from urllib.parse import urlencode

from hub.auth.signatures import request_signed_text, sign


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def signed_request(host: str, path: str, body: dict, key: str, secret: str) -> bytes:
    """A complete signed `POST path` HTTP/1.1 request, ready to be sent (again and again:
    its signature stays valid for the hub's 600 s window)."""
    raw = json.dumps(body).encode()
    params = {
        "auth_key": key,
        "auth_timestamp": str(int(time.time())),
        "auth_version": "1.0",
        "body_md5": hashlib.md5(raw).hexdigest(),
    }
    params["auth_signature"] = sign(secret, request_signed_text("POST", path, params))
    head = (
        f"POST {path}?{urlencode(params)} HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n"
    )
    return head.encode() + raw


async def post_until(host: str, port: int, request: bytes, deadline: float) -> int:
    """Sends `request` on one keep-alive connection, one after the other, until `deadline`
    (time.monotonic); returns how many were answered 200."""
    reader, writer = await asyncio.open_connection(host, port)
    ok = 0
    try:
        while time.monotonic() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            if head.startswith(b"HTTP/1.1 200"):
                ok += 1
            else:
                raise RuntimeError(f"the hub refused a publish: {head[:40]!r} {body[:200]!r}")
    finally:
        writer.close()
    return ok


def handshake_request(host: str, port: int, app_key: str) -> bytes:
    """A Pusher websocket handshake, as pusher-js sends it, with a new Sec-WebSocket-Key."""
    key = b64encode(os.urandom(16)).decode()
    return (
        f"GET /app/{app_key}?protocol=7&client=bench&version=1 HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def client_frame(text: str) -> bytes:
    """A masked WebSocket text frame, as a client must send it."""
    payload = text.encode()
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x81, 0x80 | size)
    else:
        head = struct.pack("!BBH", 0x81, 0x80 | 126, size)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


class CountingSubscriber(asyncio.Protocol):
    """A Pusher client on a raw socket that subscribes to channels and counts the frames
    carrying `marker` (without decoding them): the deliveries of one benchmark event name."""

    def __init__(self, marker: bytes) -> None:
        self.marker = marker
        self.count = 0
        self._tail = b""
        self._handshake = b""
        self.ready = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def data_received(self, data: bytes) -> None:
        if not self.ready.done():
            self._handshake += data
            if b"\r\n\r\n" in self._handshake:
                status = self._handshake.split(b"\r\n", 1)[0]
                if b" 101 " not in status:
                    self.ready.set_exception(RuntimeError(f"handshake refused: {status!r}"))
                else:
                    self.ready.set_result(None)
            return
        # The marker may straddle two reads: look at the end of the last one too.
        window = self._tail + data
        self.count += window.count(self.marker)
        self._tail = window[-(len(self.marker) - 1) :]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]


async def subscribe(
    host: str, port: int, app_key: str, channels: list[str], marker: bytes
) -> CountingSubscriber:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(lambda: CountingSubscriber(marker), host, port)
    key = b64encode(os.urandom(16)).decode()
    client.transport.write(
        (
            f"GET /app/{app_key}?protocol=7&client=bench HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await asyncio.wait_for(client.ready, 10)
    for channel in channels:
        subscribe = {"event": "pusher:subscribe", "data": {"channel": channel}}
        client.transport.write(client_frame(json.dumps(subscribe)))
    return client
