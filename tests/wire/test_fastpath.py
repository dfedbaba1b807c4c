"""The publishing routes answered by the front door (hub/wire/fastpath.py) over raw sockets:
kept-alive and pipelined requests, the same answers as Tornado's handlers for every refusal,
and the requests it leaves to Tornado (HTTP/1.0, chunked bodies, Expect, unknown apps, large
bodies, other routes after it on the same connection)."""

import json
import random
from typing import Any
from urllib.parse import parse_qs

import pytest
from conftest import signed_query

from hub.api.base import MAX_BODY_BYTES
from hub.wire.fastpath import http_response
from hub.wire.httphead import query_arguments


def post(
    hub_server,
    route: str,
    body: bytes,
    *,
    version: str = "HTTP/1.1",
    app_id: str | None = None,
    secret: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    path = f"/apps/{app_id or hub_server.app_id}/{route}"
    query = signed_query("POST", path, body, hub_server.key, secret or hub_server.secret)
    fields = {"Host": "hub", "Content-Type": "application/json", **(headers or {})}
    if "Transfer-Encoding" not in fields:
        fields["Content-Length"] = str(len(body))
    lines = [f"POST {path}?{query} {version}", *(f"{k}: {v}" for k, v in fields.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def event(channel: str = "news", **fields: Any) -> bytes:
    return json.dumps({"name": "e", "data": "{}", "channel": channel, **fields}).encode()


async def test_kept_alive_and_pipelined_then_handed_to_tornado(hub_server, raw) -> None:
    listener = await (await raw()).subscribed(hub_server, "news")
    sock = await raw()
    batch = json.dumps({"batch": [{"name": "b", "data": "2", "channel": "news"}]}).encode()
    # Two publishes in one write, then a route Tornado serves, on one connection.
    await sock.send(
        post(hub_server, "events", event(data="1"))
        + post(hub_server, "batch_events", batch)
        + b"GET / HTTP/1.1\r\nHost: hub\r\n\r\n"
    )
    first, second, status = await sock.response(), await sock.response(), await sock.response()
    assert (first[0], json.loads(first[2])) == (200, {})
    assert first[1]["content-type"] == "application/json; charset=utf-8"
    assert "connection" not in first[1]  # kept alive
    # Answered by the front door: Tornado names itself in a Server header, the front door not.
    assert "server" not in first[1] and "server" not in second[1]
    assert status[1]["server"].startswith("TornadoServer")
    assert (second[0], json.loads(second[2])) == (200, {})
    assert (status[0], json.loads(status[2])["ok"]) == (200, True)
    assert [(await listener.event())["data"] for _ in range(2)] == ["1", "2"]
    # Still Tornado's connection: it serves another request.
    await sock.send(b"GET /nowhere HTTP/1.1\r\nHost: hub\r\n\r\n")
    assert (await sock.response())[0] == 404


async def test_connection_close_is_honoured(hub_server, raw) -> None:
    sock = await raw()
    await sock.send(post(hub_server, "events", event(), headers={"Connection": "close"}))
    status, headers, _ = await sock.response()
    assert (status, headers["connection"]) == (200, "close")
    assert await sock.at_end()


async def test_a_body_in_pieces(hub_server, raw) -> None:
    listener = await (await raw()).subscribed(hub_server, "news")
    sock = await raw()
    request = post(hub_server, "events", event(data="x" * 5000))
    await sock.send(*(request[i : i + 700] for i in range(0, len(request), 700)), pause=0.005)
    assert (await sock.response())[0] == 200
    assert (await listener.event())["data"] == "x" * 5000


REFUSALS = {
    "bad signature": dict(body=event(), secret="not-the-secret"),
    "unknown app": dict(body=event(), app_id="999999"),
    "not JSON": dict(body=b"{nope"),
    "not an object": dict(body=b"[1]"),
    "no name": dict(body=json.dumps({"data": "{}", "channel": "c"}).encode()),
    "bad channel": dict(body=event(channel="bad channel!")),
    "data too big": dict(body=event(data="x" * 20_000)),
    "body too big": dict(body=b" " * (MAX_BODY_BYTES + 1)),
}


@pytest.mark.parametrize("case", REFUSALS)
async def test_refusals_are_tornados(hub_server, raw, case: str) -> None:
    # HTTP/1.0 is always Tornado's: the same request both ways must get the same answer.
    answers, servers = [], []
    for version in ("HTTP/1.1", "HTTP/1.0"):
        sock = await raw()
        await sock.send(post(hub_server, "events", version=version, **REFUSALS[case]))
        status, headers, body = await sock.response()
        answers.append((status, json.loads(body)))
        servers.append(headers.get("server"))
    assert answers[0] == answers[1]
    # The front door answers what it can; an unknown app is Tornado's. A large body is refused
    # from its head on both paths, before a handler (which would name Tornado) is involved.
    assert (servers[0] is None) == (case != "unknown app")
    assert (servers[1] is None) == (case == "body too big")
    assert answers[0][0] >= 400, answers


async def test_a_disabled_app_is_refused_alike(hub_server, raw) -> None:
    await hub_server.server.store.update_app(hub_server.app_id, active=False)
    await hub_server.server.apps.reload()
    for version in ("HTTP/1.1", "HTTP/1.0"):
        sock = await raw()
        await sock.send(post(hub_server, "events", event(), version=version))
        status, _, body = await sock.response()
        assert (status, json.loads(body)) == (403, {"error": "app is disabled"})


@pytest.mark.parametrize(
    "headers",
    [{"Expect": "100-continue"}, {"Transfer-Encoding": "chunked"}],
    ids=["expect", "chunked"],
)
async def test_what_it_leaves_to_tornado_still_works(hub_server, raw, headers) -> None:
    listener = await (await raw()).subscribed(hub_server, "news")
    sock = await raw()
    body = event(data="t")
    request = post(hub_server, "events", body, headers=headers)
    if "Transfer-Encoding" in headers:
        request = request[: -len(body)] + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    await sock.send(request)
    status, _, answer = await sock.response()
    if status == 100:  # Tornado's interim answer to Expect
        status, _, answer = await sock.response()
    assert (status, json.loads(answer)) == (200, {})
    assert (await listener.event())["data"] == "t"


async def test_a_bug_is_a_500_and_the_connection_lives(hub_server, raw, monkeypatch) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(hub_server.server.hub, "publish", broken)
    sock = await raw()
    await sock.send(post(hub_server, "events", event()))
    status, _, body = await sock.response()
    assert (status, json.loads(body)) == (500, {"error": "Internal Server Error"})
    await sock.send(b"GET / HTTP/1.1\r\nHost: hub\r\n\r\n")
    assert (await sock.response())[0] == 200


def test_query_arguments_read_as_parse_qs_reads_them() -> None:
    # Queries made of the characters that matter to the split and the unescaping (the plain
    # ones are split without parse_qs): the same names, values and order either way.
    chance = random.Random(21)
    queries = ["", "a", "a=", "=", "&", "a=1&&a=2", "auth_key=k&body_md5=0f&auth_signature=9"]
    queries += ["".join(chance.choices("ab=&%+;1 ", k=chance.randint(1, 12))) for _ in range(5000)]
    for query in queries:
        expected = {name: values[-1] for name, values in parse_qs(query, True).items()}
        got = query_arguments(query)
        assert list(got.items()) == list(expected.items()), query


def test_the_usual_answer_is_built_once_a_second_and_reads_as_any_other() -> None:
    # `200 {}` kept alive is reused within its second; every other answer is built anew.
    now = 1_800_000_000.25
    first = http_response(200, b"{}", now, False)
    assert http_response(200, b"{}", now + 0.5, False) is first
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and first.endswith(b"\r\n\r\n{}")
    assert b"Date: Fri, 15 Jan 2027 08:00:00 GMT\r\n" in first
    later = http_response(200, b"{}", now + 1, False)
    assert later != first and b"08:00:01 GMT" in later
    closing = http_response(200, b"{}", now + 1, True)
    assert b"Connection: close\r\n" in closing and b"Connection: close" not in later
    other = http_response(200, b'{"channels":{}}', now + 1, False)
    assert other.endswith(b'\r\n\r\n{"channels":{}}') and b"Content-Length: 15\r\n" in other
    assert http_response(200, b"{}", now + 1, False) is later
