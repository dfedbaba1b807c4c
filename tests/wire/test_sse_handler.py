"""The Server-Sent Events endpoint over a real socket, read the way `curl -N` reads it: a
channel followed live, `Last-Event-ID` (header or `lastEventId`) resuming exactly, an explicit
gap for an id it cannot place, tokens for private channels, origins, and refusals."""

import asyncio
import json

import pytest
from conftest import WAIT, call
from sse_stream import Stream

from hub.models import AppSettings
from hub.pytest_plugin import RunningHub
from hub.tokens import mint


async def trigger(hub: RunningHub, channel: str, name: str, data: str) -> None:
    body = {"name": name, "channel": channel, "data": data}
    assert await call(hub, "POST", f"/apps/{hub.app_id}/events", body) == (200, {})


def epoch_of(hub: RunningHub, channel: str) -> str:
    return hub.server.hub.history.log(hub.app_id, channel).epoch


async def test_a_stream_follows_a_channel(hub_server: RunningHub) -> None:
    stream = await Stream.open(hub_server, channel="news")
    assert stream.status == 200
    await trigger(hub_server, "news", "tick", '{"n":1}')
    await trigger(hub_server, "news", "note", "two\nlines")
    epoch = epoch_of(hub_server, "news")
    assert await stream.message() == {"id": f"{epoch}:1", "event": "tick", "data": '{"n":1}'}
    assert await stream.message() == {"id": f"{epoch}:2", "event": "note", "data": "two\nlines"}
    stream.close()


async def test_last_event_id_resumes_exactly(hub_server: RunningHub) -> None:
    for n in range(4):
        await trigger(hub_server, "news", "tick", str(n))
    epoch = epoch_of(hub_server, "news")
    by_header = await Stream.open(hub_server, {"Last-Event-ID": f"{epoch}:2"}, channel="news")
    by_query = await Stream.open(hub_server, channel="news", lastEventId=f"{epoch}:3")
    assert [(await by_header.message())["id"] for _ in range(2)] == [f"{epoch}:3", f"{epoch}:4"]
    assert (await by_query.message())["id"] == f"{epoch}:4"
    await trigger(hub_server, "news", "tick", "live")
    assert (await by_header.message())["id"] == (await by_query.message())["id"] == f"{epoch}:5"
    by_header.close(), by_query.close()


async def test_an_id_it_cannot_place_is_an_explicit_gap(hub_server: RunningHub) -> None:
    await trigger(hub_server, "news", "tick", "0")
    epoch = epoch_of(hub_server, "news")
    stream = await Stream.open(hub_server, {"Last-Event-ID": "gone:7"}, channel="news")
    gap = await stream.message()
    assert gap["event"] == "hub:history_gap" and "id" not in gap
    assert json.loads(gap["data"]) == {
        "channel": "news",
        "reason": "epoch_changed",
        "epoch": epoch,
        "first_seq": 1,
    }
    assert (await stream.message())["id"] == f"{epoch}:1", "then what is still kept"
    stream.close()


async def test_private_channels_need_a_token_that_grants_them(hub_server: RunningHub) -> None:
    refused = await Stream.open(hub_server, channel="private-orders")
    assert (refused.status, await refused.error()) == (
        403,
        {"error": "private-orders needs a token that grants it"},
    )
    token = mint(hub_server.secret, "u1", channels=["private-*"])
    stream = await Stream.open(hub_server, channel=["news", "private-orders"], token=token)
    assert stream.status == 200
    await trigger(hub_server, "private-orders", "paid", "{}")
    assert (await stream.message())["event"] == "paid"
    stream.close()


async def test_refusals(hub_server: RunningHub) -> None:
    cases = [
        ({}, {}, 400),
        ({"channel": "bad name"}, {}, 400),
        ({"channel": "news", "token": "forged"}, {}, 403),
    ]
    for query, headers, status in cases:
        stream = await Stream.open(hub_server, headers, **query)
        assert stream.status == status, (query, await stream.error())
        stream.close()
    unknown = await Stream.open(hub_server, key="no-such-key", channel="news")
    assert unknown.status == 404
    unknown.close()


async def key_of_an_app_for(hub_server: RunningHub, origin: str) -> str:
    """The key of a new app that allows `origin` only, already known to the hub."""
    app = await hub_server.server.store.create_app("web", origins=(origin,))
    await hub_server.server.apps.reload()
    return app.keys[0].key


async def test_origins_apply_as_on_the_sockets(hub_server: RunningHub) -> None:
    key = await key_of_an_app_for(hub_server, "https://good.example")
    evil = await Stream.open(hub_server, {"Origin": "https://evil.example"}, key=key, channel="a")
    good = await Stream.open(hub_server, {"Origin": "https://good.example"}, key=key, channel="a")
    assert (evil.status, good.status) == (403, 200)
    evil.close(), good.close()


async def test_an_admitted_origin_may_read_the_stream_and_its_refusals(
    hub_server: RunningHub,
) -> None:
    key = await key_of_an_app_for(hub_server, "https://good.example")
    good = await Stream.open(hub_server, {"Origin": "https://good.example"}, key=key, channel="a")
    assert good.status == 200
    assert good.header("Access-Control-Allow-Origin") == "https://good.example"
    assert good.header("Vary") == "Origin"
    assert good.header("Content-Type") == "text/event-stream; charset=utf-8"
    # A refusal after the origin was admitted: the page may read why.
    bad_name = await Stream.open(
        hub_server, {"Origin": "https://good.example"}, key=key, channel="bad name"
    )
    assert bad_name.status == 400
    assert bad_name.header("Access-Control-Allow-Origin") == "https://good.example"
    assert bad_name.header("Vary") == "Origin"
    # The test app allows every origin: whichever came is echoed.
    anywhere = await Stream.open(hub_server, {"Origin": "http://app.test"}, channel="a")
    assert (anywhere.status, anywhere.header("Access-Control-Allow-Origin")) == (
        200,
        "http://app.test",
    )
    good.close(), bad_name.close(), anywhere.close()


async def test_a_refused_origin_gets_no_cors_header(hub_server: RunningHub) -> None:
    key = await key_of_an_app_for(hub_server, "https://good.example")
    evil = await Stream.open(hub_server, {"Origin": "https://evil.example"}, key=key, channel="a")
    assert (evil.status, await evil.error()) == (403, {"error": "origin not allowed for this app"})
    assert evil.header("Access-Control-Allow-Origin") is None
    assert evil.header("Vary") is None
    unknown = await Stream.open(
        hub_server, {"Origin": "https://good.example"}, key="no-such-key", channel="a"
    )
    assert (unknown.status, unknown.header("Access-Control-Allow-Origin")) == (404, None)
    evil.close(), unknown.close()


async def test_no_origin_no_cors_header(hub_server: RunningHub) -> None:
    stream = await Stream.open(hub_server, channel="news")
    refused = await Stream.open(hub_server, channel="bad name")
    assert (stream.status, refused.status) == (200, 400)
    for answer in (stream, refused):
        assert answer.header("Access-Control-Allow-Origin") is None
        assert answer.header("Vary") is None
    stream.close(), refused.close()


async def test_a_resumed_stream_is_an_event_stream(hub_server: RunningHub) -> None:
    """Resuming writes the replay while the session opens: the stream's headers must already
    be set then, or the replay's flush sends Tornado's default (text/html)."""
    for n in range(3):
        await trigger(hub_server, "news", "tick", str(n))
    epoch = epoch_of(hub_server, "news")
    by_header = await Stream.open(hub_server, {"Last-Event-ID": f"{epoch}:1"}, channel="news")
    by_query = await Stream.open(hub_server, channel="news", lastEventId=f"{epoch}:2")
    with_gap = await Stream.open(hub_server, {"Last-Event-ID": "gone:7"}, channel="news")
    firsts = [f"{epoch}:2", f"{epoch}:3", None]
    for stream, first in zip((by_header, by_query, with_gap), firsts, strict=True):
        assert stream.status == 200
        assert stream.header("Content-Type") == "text/event-stream; charset=utf-8"
        assert stream.header("Cache-Control") == "no-cache"
        assert (await stream.message()).get("id") == first, "the replay came with them"
        stream.close()


async def test_terminating_the_tokens_user_ends_the_stream(hub_server: RunningHub) -> None:
    stream = await Stream.open(hub_server, channel="news", token=mint(hub_server.secret, "u1"))
    path = f"/apps/{hub_server.app_id}/users/u1/terminate_connections"
    assert await call(hub_server, "POST", path, {}) == (200, {"terminated": 1})
    # read() returns at the end of the response: the opening comment, and nothing after it.
    assert await asyncio.wait_for(stream.reader.read(), WAIT) == b": heartbeat\n\n"
    stream.close()


class TestAnAppThatRequiresUsers:
    @pytest.fixture
    def hub_app_settings(self) -> AppSettings:
        return AppSettings(user_authentication_required=True)

    async def test_anonymous_streams_are_refused(self, hub_server: RunningHub) -> None:
        anonymous = await Stream.open(hub_server, channel="news")
        assert (anonymous.status, await anonymous.error()) == (
            403,
            {"error": "this app requires a token"},
        )
        signed = await Stream.open(hub_server, channel="news", token=mint(hub_server.secret, "u1"))
        assert signed.status == 200
        anonymous.close(), signed.close()
