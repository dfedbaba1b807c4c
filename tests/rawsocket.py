"""Raw TCP clients for tests of the front door (hub/wire/frontdoor.py): websocket handshakes and
client frames written by hand, HTTP heads and bodies and websocket frames read back."""

import asyncio
import json
import os
import struct
from base64 import b64encode


def masked(opcode: int, payload: bytes) -> bytes:
    """A client frame (clients must mask)."""
    mask = os.urandom(4)
    length = len(payload)
    header = bytes([0x80 | opcode]) + (
        bytes([0x80 | length]) if length < 126 else bytes([0x80 | 126]) + struct.pack("!H", length)
    )
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def text(message: dict) -> bytes:
    return masked(0x1, json.dumps(message).encode())


def handshake(path: str, key: str = "", **headers: str) -> bytes:
    key = key or b64encode(os.urandom(16)).decode()
    fields = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": key,
        **headers,
    }
    lines = [f"GET {path} HTTP/1.1", *(f"{k}: {v}" for k, v in fields.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def pusher_path(hub_server, key: str | None = None) -> str:
    """The path pusher-js would open for the test app (or another key)."""
    return f"/app/{key or hub_server.key}?protocol=7&client=raw&version=0"


class Raw:
    """One TCP connection to the hub, read by HTTP heads and websocket frames."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, wait: float
    ) -> None:
        self.reader, self.writer, self.wait = reader, writer, wait

    @classmethod
    async def open(cls, hub_server, wait: float) -> "Raw":
        """`wait`: the longest any read may take."""
        return cls(*await asyncio.open_connection(hub_server.host, hub_server.port), wait)

    async def send(self, *chunks: bytes, pause: float = 0.0) -> None:
        for chunk in chunks:
            self.writer.write(chunk)
            await self.writer.drain()
            if pause:
                await asyncio.sleep(pause)

    async def head(self) -> tuple[int, dict[str, str]]:
        raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), self.wait)
        first, *lines = raw.decode("latin-1").strip().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines)
        return int(first.split(" ")[1]), {k.lower(): v for k, v in headers.items()}

    async def response(self) -> tuple[int, dict[str, str], bytes]:
        status, headers = await self.head()
        length = int(headers.get("content-length", "0"))
        body = await asyncio.wait_for(self.reader.readexactly(length), self.wait)
        return status, headers, body

    async def frame(self) -> tuple[int, bytes]:
        first, second = await asyncio.wait_for(self.reader.readexactly(2), self.wait)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first & 0x0F, await asyncio.wait_for(self.reader.readexactly(length), self.wait)

    async def event(self) -> dict:
        opcode, payload = await self.frame()
        assert opcode == 0x1, (opcode, payload)
        return json.loads(payload)

    async def at_end(self) -> bool:
        return await asyncio.wait_for(self.reader.read(1), self.wait) == b""

    async def subscribed(self, hub_server, channel: str) -> "Raw":
        """Upgrades to a Pusher socket of the test app and subscribes it to `channel`."""
        subscribe = text({"event": "pusher:subscribe", "data": {"channel": channel}})
        await self.send(handshake(pusher_path(hub_server)), subscribe)
        assert (await self.head())[0] == 101
        await self.event(), await self.event()  # established, subscribed
        return self

    def close(self) -> None:
        self.writer.close()
