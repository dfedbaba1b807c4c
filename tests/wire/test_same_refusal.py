"""The same refusal gets the same answer on every endpoint, over real sockets: for an unknown
key, a disabled app, a foreign origin and an app at its connection quota, the SSE stream's and
the Phoenix upgrade's status and message, and the Pusher socket's close code and `pusher:error`
message (or its status, for an origin refused before the upgrade), all from one entry of the
table of refusals (hub/errors.py `Refusal`)."""

import json
import struct
from typing import Any

import pytest
from conftest import WAIT
from rawsocket import Raw, handshake, pusher_path

from hub.errors import Refusal
from hub.models import AppSettings
from hub.pytest_plugin import RunningHub

GOOD, EVIL = "https://good.example", "https://evil.example"
CLOSE = 0x8


async def sse_answer(hub: RunningHub, key: str, origin: str | None) -> tuple[int, Any]:
    """(status, JSON body) of an event stream's refusal."""
    raw = await Raw.open(hub, WAIT)
    fields = {"Host": "127.0.0.1", "Connection": "close", **({"Origin": origin} if origin else {})}
    lines = [
        f"GET /apps/{key}/sse?channel=news HTTP/1.1",
        *(f"{k}: {v}" for k, v in fields.items()),
    ]
    await raw.send(("\r\n".join(lines) + "\r\n\r\n").encode())
    status, _, body = await raw.response()
    raw.close()
    return status, json.loads(body)


async def phoenix_answer(hub: RunningHub, key: str, origin: str | None) -> tuple[int, Any]:
    """(status, JSON body) of a refused Phoenix upgrade."""
    raw = await Raw.open(hub, WAIT)
    headers = {"Origin": origin} if origin else {}
    await raw.send(handshake(f"/socket/websocket?vsn=2.0.0&key={key}", **headers))
    status, _, body = await raw.response()
    raw.close()
    return status, json.loads(body)


async def pusher_answer(hub: RunningHub, key: str, origin: str | None) -> Any:
    """A refused Pusher socket: (status, JSON body) when refused before the upgrade, else
    (pusher:error's code, its message, the close code)."""
    raw = await Raw.open(hub, WAIT)
    headers = {"Origin": origin} if origin else {}
    await raw.send(handshake(pusher_path(hub, key), **headers))
    status, headers = await raw.head()
    if status != 101:
        length = int(headers.get("content-length", "0"))
        body = await raw.reader.readexactly(length)
        raw.close()
        return status, json.loads(body)
    error = await raw.event()
    assert error["event"] == "pusher:error", error
    opcode, payload = await raw.frame()
    assert opcode == CLOSE, (opcode, payload)
    raw.close()
    return error["data"]["code"], error["data"]["message"], struct.unpack("!H", payload[:2])[0]


async def held_pusher_socket(hub: RunningHub, key: str) -> Raw:
    raw = await Raw.open(hub, WAIT)
    await raw.send(handshake(pusher_path(hub, key)))
    assert (await raw.head())[0] == 101
    assert (await raw.event())["event"] == "pusher:connection_established"
    return raw


@pytest.mark.parametrize(
    "refusal",
    [Refusal.UNKNOWN_KEY, Refusal.APP_DISABLED, Refusal.ORIGIN_NOT_ALLOWED, Refusal.OVER_QUOTA],
)
async def test_one_refusal_one_answer(hub_server: RunningHub, refusal: Refusal) -> None:
    store, apps = hub_server.server.store, hub_server.server.apps
    origin: str | None = None
    held: Raw | None = None
    if refusal is Refusal.UNKNOWN_KEY:
        key = "no-such-key"
    elif refusal is Refusal.APP_DISABLED:
        app = await store.create_app("off")
        await store.update_app(app.id, active=False)
        key = app.keys[0].key
    elif refusal is Refusal.ORIGIN_NOT_ALLOWED:
        app = await store.create_app("web", origins=(GOOD,))
        key, origin = app.keys[0].key, EVIL
    else:
        app = await store.create_app("full", settings=AppSettings(max_connections=1))
        key = app.keys[0].key
    await apps.reload()
    if refusal is Refusal.OVER_QUOTA:
        held = await held_pusher_socket(hub_server, key)

    try:
        sse = await sse_answer(hub_server, key, origin)
        phoenix = await phoenix_answer(hub_server, key, origin)
        pusher = await pusher_answer(hub_server, key, origin)
    finally:
        if held is not None:
            held.close()
    expected = (refusal.status, {"error": refusal.message})
    assert sse == phoenix == expected
    if refusal is Refusal.ORIGIN_NOT_ALLOWED:
        assert pusher == expected  # refused before the upgrade, like the others
    else:
        assert pusher == (refusal.code, refusal.message, refusal.code)
