"""A Server-Sent Events client for the tests: one stream read over HTTP/1.0 the way `curl -N`
reads it, its head and messages parsed as they come."""

import asyncio
import json
import ssl
from urllib.parse import urlencode

from conftest import WAIT

from hub.pytest_plugin import RunningHub


class Stream:
    """One SSE response over HTTP/1.0 (no chunking), parsed into messages as they come."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.status = 0
        self.headers: dict[str, list[str]] = {}  # lower-cased names, every value in order
        self.body = b""

    @classmethod
    async def open(
        cls,
        hub: RunningHub,
        headers: dict[str, str] | None = None,
        key: str | None = None,
        tls: ssl.SSLContext | None = None,  # over TLS, trusting what this context trusts
        **query: str | list[str],
    ) -> "Stream":
        reader, writer = await asyncio.open_connection(hub.host, hub.port, ssl=tls)
        path = f"/apps/{key or hub.key}/sse?{urlencode(query, doseq=True)}"
        lines = [f"GET {path} HTTP/1.0", *(f"{k}: {v}" for k, v in (headers or {}).items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        stream = cls(reader, writer)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        status_line, *fields = head.decode("latin-1").strip("\r\n").split("\r\n")
        stream.status = int(status_line.split(" ", 2)[1])
        for field in fields:
            name, _, value = field.partition(":")
            stream.headers.setdefault(name.strip().lower(), []).append(value.strip())
        return stream

    def header(self, name: str) -> str | None:
        """The one value of a response header, None when absent."""
        values = self.headers.get(name.lower(), [])
        assert len(values) <= 1, (name, values)
        return values[0] if values else None

    async def message(self) -> dict[str, str]:
        """The next message (comments skipped): {"id"?, "event", "data"}."""
        while True:
            block = await asyncio.wait_for(self.reader.readuntil(b"\n\n"), WAIT)
            fields: dict[str, str] = {}
            for line in block.decode().strip("\n").split("\n"):
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(": ")
                fields[name] = f"{fields[name]}\n{value}" if name in fields else value
            if fields:
                return fields

    async def error(self) -> dict:
        return json.loads(await asyncio.wait_for(self.reader.read(), WAIT))

    def close(self) -> None:
        self.writer.close()
