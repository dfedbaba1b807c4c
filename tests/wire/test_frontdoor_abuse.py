"""The front door against clients that misbehave on purpose, on a real hub process (its CPU time
and memory read from /proc): a head or body dribbled a byte at a time, a head of thousands of
headers, a partial head after a kept-alive request, a body too large to read, pipelined
requests whose answers are never read, a Content-Length that is not ASCII digits, and a head
ended by bare line feeds, which must be split into requests exactly as Tornado splits it."""

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import signed_query
from hubprocess import AppKeys, HubProcess, create_app, free_port, signed_request
from rawsocket import Raw

WAIT = 10.0  # seconds any single read may take


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AppKeys]:
    db = tmp_path_factory.mktemp("abuse") / "hub.db"
    return db, create_app(db, "abuse")


@contextlib.asynccontextmanager
async def running(tmp_path: Path, template: tuple[Path, AppKeys], **env: str) -> AsyncIterator:
    db = tmp_path / "hub.db"
    db.write_bytes(template[0].read_bytes())
    hub = HubProcess(db, free_port(), template[1], tmp_path / "hub.log", **env)
    try:
        await hub.start()
        yield hub
        assert "Traceback" not in hub.output(10**6), hub.output()
    finally:
        hub.kill()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def publish(hub: HubProcess, data: str = "{}", headers: dict[str, str] | None = None) -> bytes:
    """A signed publish to `news`, with extra header lines before the blank line."""
    body = {"name": "e", "channel": "news", "data": data}
    request = signed_request(hub.app, "POST", f"/apps/{hub.app.id}/events", body)
    head, blank, rest = request.partition(b"\r\n\r\n")
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items()).encode()
    return head + b"\r\n" + extra + blank[2:] + rest


async def answered_in(hub: HubProcess, limit: float) -> None:
    """Another client's request is answered, within `limit` seconds."""
    began = time.monotonic()
    sock = await Raw.open(hub, limit)
    try:
        await sock.send(b"GET / HTTP/1.1\r\nHost: hub\r\n\r\n")
        assert (await sock.response())[0] == 200
    finally:
        sock.close()
    assert time.monotonic() - began < limit


async def test_a_body_dribbled_a_byte_at_a_time_costs_little(tmp_path, template) -> None:
    async with running(tmp_path, template) as hub:
        # A head near both caps (90 headers, 56 KB), then its body one byte per packet.
        headers = {f"X-Pad-{i}": "p" * 600 for i in range(90)}
        request = publish(hub, "x" * 3000, headers)
        head_length = request.index(b"\r\n\r\n") + 4
        sock = await Raw.open(hub, WAIT)
        sock.writer.transport.get_extra_info("socket").setsockopt(6, 1, 1)  # TCP_NODELAY
        await sock.send(request[:head_length])
        began, cpu = time.monotonic(), cpu_seconds(hub.pid)
        for i in range(head_length, len(request)):
            await sock.send(request[i : i + 1])
            await asyncio.sleep(0.001)
            if i % 1000 == 0:
                await answered_in(hub, 1.0)
        wall, used = time.monotonic() - began, cpu_seconds(hub.pid) - cpu
        assert (await sock.response())[0] == 200
        assert used < 0.2 * wall, f"{used:.2f} s of CPU over {wall:.2f} s"


async def test_thousands_of_headers_are_refused_early(tmp_path, template) -> None:
    async with running(tmp_path, template) as hub:
        sock = await Raw.open(hub, WAIT)
        path = f"/apps/{hub.app.id}/events"
        await sock.send(f"POST {path} HTTP/1.1\r\nHost: hub\r\n".encode())
        sent = 0

        async def dribble() -> None:
            nonlocal sent
            with contextlib.suppress(ConnectionError):
                for sent in range(0, 6000, 20):
                    await sock.send(b"".join(b"X-%d: y\r\n" % (sent + i) for i in range(20)))
                    await asyncio.sleep(0.01)

        sending = asyncio.create_task(dribble())
        try:
            status, _, body = await sock.response()
        finally:
            sending.cancel()
        assert (status, json.loads(body)) == (431, {"error": "too many header lines"})
        assert sent < 300  # refused at the cap, not at the head's end
        await answered_in(hub, 2.0)


async def test_every_request_has_a_deadline_kept_alive_or_not(tmp_path, template) -> None:
    async with running(tmp_path, template, HUB_HEAD_TIMEOUT="1", HUB_BODY_TIMEOUT="1") as hub:
        # The front door's publishing route: a partial head after one answered request.
        sock = await Raw.open(hub, WAIT)
        await sock.send(publish(hub))
        assert (await sock.response())[0] == 200
        await sock.send(b"POST /apps/1/events HTTP/1.1\r\nHost: hub\r\n")
        began = time.monotonic()
        status, _, body = await sock.response()
        assert (status, json.loads(body)) == (408, {"error": "request head not received in time"})
        assert await sock.at_end()
        assert 0.8 < time.monotonic() - began < 4.0
        # A body that stops coming.
        sock = await Raw.open(hub, WAIT)
        request = publish(hub)
        await sock.send(request[:-5])
        status, _, body = await sock.response()
        assert (status, json.loads(body)) == (408, {"error": "request body not received in time"})
        # Tornado's routes: the same deadline for a head after a kept-alive request.
        sock = await Raw.open(hub, WAIT)
        await sock.send(b"GET / HTTP/1.1\r\nHost: hub\r\n\r\n")
        assert (await sock.response())[0] == 200
        began = time.monotonic()
        await sock.send(b"GET / HTTP/1.1\r\nHost: hub\r\n")
        assert await sock.at_end()
        assert time.monotonic() - began < 4.0


@pytest.mark.parametrize(
    "route", ["/apps/ID/events", "/api/admin/apps", "/apps/ID/users/u/terminate_connections"]
)
async def test_a_large_body_is_refused_before_it_is_read(tmp_path, template, route) -> None:
    async with running(tmp_path, template) as hub:
        rss = rss_mb(hub.pid)
        sock = await Raw.open(hub, WAIT)
        path = route.replace("ID", hub.app.id)
        await sock.send(f"POST {path} HTTP/1.1\r\nHost: hub\r\n".encode())
        await sock.send(b"Content-Length: 104857600\r\n\r\n" + b" " * 100_000)
        status, _, body = await sock.response()
        assert (status, json.loads(body)) == (
            413,
            {"error": "request body larger than 1048576 bytes"},
        )
        assert await sock.at_end()
        assert rss_mb(hub.pid) < rss + 10


async def test_unread_pipelined_answers_do_not_pile_up(tmp_path, template) -> None:
    async with running(tmp_path, template) as hub:
        await answered_in(hub, 2.0)
        rss = rss_mb(hub.pid)
        sock = await Raw.open(hub, WAIT)
        requests = publish(hub) * 200_000  # about 70 MB, answers never read

        async def flood() -> None:
            with contextlib.suppress(ConnectionError):
                await sock.send(requests)

        flooding = asyncio.create_task(flood())
        try:
            grown = 0.0
            for _ in range(30):  # 6 s: the hub stops reading long before
                await asyncio.sleep(0.2)
                grown = max(grown, rss_mb(hub.pid) - rss)
            await answered_in(hub, 2.0)
            assert not flooding.done()  # the hub reads no more of it
        finally:
            flooding.cancel()
            sock.close()
        assert grown < 25, f"the hub grew by {grown:.1f} MB"


async def test_a_content_length_that_is_not_ascii_digits_is_a_400(tmp_path, template) -> None:
    async with running(tmp_path, template) as hub:
        for value in (b"\xb2", b"\xb9\xb2", b"+5", b"0x5"):  # "²".isdigit() is True
            sock = await Raw.open(hub, WAIT)
            await sock.send(b"POST /apps/%s/events HTTP/1.1\r\n" % hub.app.id.encode())
            await sock.send(b"Host: hub\r\nContent-Length: " + value + b"\r\n\r\n{}")
            status, _, body = await sock.response()
            assert (status, json.loads(body)["error"]) == (
                400,
                "Content-Length must be a decimal number",
            )
        # ... and no traceback in the hub's log (checked when it stops).


async def test_a_bare_lf_head_is_read_the_way_tornado_reads_it(tmp_path, template) -> None:
    async with running(tmp_path, template) as hub:
        request = publish(hub)
        head, _, body = request.partition(b"\r\n\r\n")
        bare = head.replace(b"\r\n", b"\n") + b"\n\n" + body
        # Ended at "\n\n", as Tornado ends it, this is a publish then a request for Tornado;
        # ended at "\r\n\r\n" instead, it would be one request with a very different body.
        sock = await Raw.open(hub, WAIT)
        await sock.send(bare + b"GET /nowhere HTTP/1.1\r\nHost: hub\r\n\r\n")
        first, second = await sock.response(), await sock.response()
        assert (first[0], json.loads(first[2])) == (200, {})
        assert second[0] == 404
        # The same bytes as HTTP/1.0, all Tornado's: the same two answers.
        sock = await Raw.open(hub, WAIT)
        old = bare.replace(b"HTTP/1.1\n", b"HTTP/1.0\nConnection: keep-alive\n", 1)
        await sock.send(old + b"GET /nowhere HTTP/1.1\r\nHost: hub\r\n\r\n")
        first, second = await sock.response(), await sock.response()
        assert (first[0], second[0]) == (200, 404)


async def test_a_head_half_ended_by_bare_lf_is_split_as_tornado_splits_it(
    tmp_path, template
) -> None:
    async with running(tmp_path, template) as hub:
        # Read up to "\n\n", as Tornado reads it: a publish of the body "ab", then a request
        # whose first line is "X-Other: z". Read up to "\r\n\r\n", one request whose
        # headers include "abX-Other: z", waiting for a 2-byte body.
        path = f"/apps/{hub.app.id}/events"
        query = signed_query("POST", path, b"ab", hub.app.key, hub.app.secret)
        probe = f"POST {path}?{query} HTTP/1.1\r\nHost: hub\r\nContent-Length: 2\n\n".encode()
        probe_bytes = probe + b"abX-Other: z\r\n\r\n"
        sock = await Raw.open(hub, 3.0)
        await sock.send(probe_bytes)
        status, _, body = await sock.response()
        assert (status, json.loads(body)) == (400, {"error": "body is not valid JSON"})
        assert (await sock.head())[0] == 400  # Tornado's answer to "X-Other: z"
        assert await sock.at_end()
