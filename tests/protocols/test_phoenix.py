"""The Phoenix V2 session without sockets (hub/protocols/phoenix.py): text in, 5-element frames
out, with a real core and an in-memory store; Pusher sessions on the same core check that both
protocols share channels, presence and app-wide broadcasts. The protocol is the one described
in ../shared/docs/protocol-phoenix.md."""

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from unittest.mock import ANY

import pytest
from itsdangerous import TimestampSigner
from test_pusher import Harness as PusherHarness
from test_pusher import running_harness

from hub.auth.tokens import SocketToken
from hub.core.apps import LiveApp
from hub.core.revocations import TokenRevoked
from hub.errors import CloseCode, HandshakeRefused
from hub.models import AppSettings, Disconnect, Event
from hub.protocols.frames import Outgoing
from hub.protocols.phoenix import PhoenixSession, admit, payload_of, token_from_subprotocols
from hub.protocols.pusher import PusherSession
from hub.protocols.session import CallbackLink
from hub.tokens import mint

OK = {"status": "ok", "response": {}}
AT_1 = {"seq": 1, "epoch": ANY}  # the position of a channel's first event


class Harness(PusherHarness):
    """test_pusher's core with one app, plus Phoenix sessions and the tokens they open with."""

    def mint(self, user_id: str, **claims: Any) -> str:
        return mint(self.app.keys[0].secret, user_id, **claims)

    def token(self, user_id: str, **claims: Any) -> SocketToken:
        return self.hub.check_token(self.app, self.mint(user_id, **claims))

    def live(self) -> LiveApp:
        live = self.hub.apps.cached(self.app.id)
        assert live is not None
        return live

    def phoenix(self, user_id: str | None = None, **claims: Any) -> "PhoenixClient":
        """An open Phoenix socket: anonymous, or with a token of `user_id` and `claims`."""
        client = PhoenixClient(self)
        token = None if user_id is None else self.token(user_id, **claims)
        client.session.open(self.app, self.app.keys[0].key, token)
        return client


class PhoenixClient:
    def __init__(self, harness: Harness) -> None:
        self.frames: list[list[Any]] = []
        self.closed_with: tuple[int, str] | None = None
        self.session = PhoenixSession(harness.hub, CallbackLink(self._write, self._close))
        self._ref = 0
        self.last_ref: str | None = None

    def _write(self, out: Outgoing) -> None:
        self.frames.append(json.loads(out.text))

    def _close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)

    def next_ref(self) -> str:
        self._ref += 1
        return str(self._ref)

    def send(self, join_ref: Any, ref: Any, topic: str, event: str, payload: Any = None) -> None:
        self.session.receive(
            json.dumps([join_ref, ref, topic, event, {} if payload is None else payload])
        )

    def take(self) -> list[list[Any]]:
        frames, self.frames = self.frames, []
        return frames

    def join(self, topic: str, params: Any = None) -> str:
        """Sends a phx_join (join_ref == ref, as phoenix.js does) and returns its join_ref."""
        ref = self.next_ref()
        self.send(ref, ref, topic, "phx_join", params)
        return ref

    def joined(self, topic: str) -> str:
        """Joins, asserts the ok reply alone, and returns the join_ref."""
        self.take()
        jr = self.join(topic)
        assert self.take() == [[jr, jr, topic, "phx_reply", OK]]
        return jr

    def push(self, jr: str, topic: str, event: str, payload: Any) -> list[list[Any]]:
        """Pushes an event and returns the frames this socket got for it."""
        self.take()
        ref = self.next_ref()
        self.send(jr, ref, topic, event, payload)
        self.last_ref = ref
        return self.take()


class PusherClient:
    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.frames: list[dict[str, Any]] = []
        self.session = PusherSession(
            harness.hub, CallbackLink(self._write, lambda code, reason: None), 120
        )
        self.session.open(harness.app)
        established = self.take()[0]
        assert established["event"] == "pusher:connection_established"
        self.socket_id = json.loads(established["data"])["socket_id"]

    def _write(self, out: Outgoing) -> None:
        self.frames.append(json.loads(out.text))

    def take(self) -> list[dict[str, Any]]:
        frames, self.frames = self.frames, []
        return frames

    def subscribe(self, channel: str, user: dict | None = None) -> dict[str, Any]:
        fields: dict[str, Any] = {"auth": ""}
        if channel.startswith(("private-", "presence-")):
            fields = self.harness.sdk.authenticate(channel, self.socket_id, user)
        message = {"event": "pusher:subscribe", "data": {"channel": channel, **fields}}
        self.session.receive(json.dumps(message))
        [answer] = self.take()
        assert answer["event"] == "pusher_internal:subscription_succeeded", answer
        return answer


@pytest.fixture
def harness(io_loop: Any) -> Iterator[Harness]:
    yield from running_harness(io_loop, Harness, AppSettings())


def error(reason: str, message: str | None = None) -> dict[str, Any]:
    response = {"reason": reason} if message is None else {"reason": reason, "message": message}
    return {"status": "error", "response": response}


def metas(user_id: str, info: Any = None) -> dict[str, Any]:
    meta = {"phx_ref": user_id} if info is None else {"phx_ref": user_id, "user_info": info}
    return {"metas": [meta]}


def diff(topic: str, joins: Any = None, leaves: Any = None) -> list[Any]:
    return [None, None, topic, "presence_diff", {"joins": joins or {}, "leaves": leaves or {}}]


def pair(harness: Harness, topic: str, **claims: Any) -> tuple[PhoenixClient, str, PhoenixClient]:
    """A sender with a token of u1 and `claims`, and an anonymous socket, both joined."""
    sender, other = harness.phoenix("u1", **claims), harness.phoenix()
    jr = sender.joined(topic)
    other.joined(topic)
    return sender, jr, other


def reason_of(frames: list[list[Any]]) -> str:
    [[_, _, _, event, payload]] = frames
    assert event == "phx_reply" and payload["status"] == "error", frames
    return payload["response"]["reason"]


# -- heartbeat, join, leave ---------------------------------------------------------------------


def test_heartbeat_echoes_the_ref(harness: Harness) -> None:
    client = harness.phoenix()
    client.send(None, "1", "phoenix", "heartbeat", {})
    client.send(None, "12", "phoenix", "heartbeat", {})
    assert client.take() == [
        [None, "1", "phoenix", "phx_reply", OK],
        [None, "12", "phoenix", "phx_reply", OK],
    ]


def test_anonymous_joins_a_public_topic(harness: Harness) -> None:
    client = harness.phoenix()
    client.send("5", "5", "room:lobby", "phx_join", {"x": 1})
    assert client.take() == [["5", "5", "room:lobby", "phx_reply", OK]]
    assert (
        client.session.conn.socket_id
        in harness.hub.channel(harness.app.id, "room:lobby").subscribers
    )


def test_private_topic_needs_a_granting_token(harness: Harness) -> None:
    anonymous = harness.phoenix()
    jr = anonymous.join("private-x")
    refused = error("unauthorized", "private-x needs a token that grants it")
    assert anonymous.take() == [[jr, jr, "private-x", "phx_reply", refused]]
    assert harness.hub.channel(harness.app.id, "private-x") is None
    other_grant = harness.phoenix("u1", channels=["private-y"])
    jr = other_grant.join("private-x")
    assert reason_of(other_grant.take()) == "unauthorized"
    granted = harness.phoenix("u1", channels=["private-*"])
    granted.joined("private-x")


def test_invalid_topic_is_refused(harness: Harness) -> None:
    client = harness.phoenix()
    client.join("room lobby")
    assert reason_of(client.take()) == "invalid topic"


def test_leave_replies_ok_then_closes_the_channel(harness: Harness) -> None:
    client = harness.phoenix()
    jr = client.joined("room:1")
    client.send(jr, "9", "room:1", "phx_leave", {})
    assert client.take() == [
        [jr, "9", "room:1", "phx_reply", OK],
        [jr, jr, "room:1", "phx_close", {}],
    ]
    assert harness.hub.channel(harness.app.id, "room:1") is None
    client.send(jr, "10", "room:1", "phx_leave", {})
    assert client.take() == [[jr, "10", "room:1", "phx_reply", error("unmatched topic")]]


def test_push_to_a_topic_not_joined_is_unmatched(harness: Harness) -> None:
    client = harness.phoenix("u1", publish=["*"])
    client.send("3", "4", "room:1", "msg", {"a": 1})
    assert client.take() == [["3", "4", "room:1", "phx_reply", error("unmatched topic")]]


def test_duplicate_join_closes_the_old_instance_first(harness: Harness) -> None:
    client = harness.phoenix()
    old = client.joined("room:1")
    new = client.join("room:1")
    assert client.take() == [
        [old, old, "room:1", "phx_close", {}],
        [new, new, "room:1", "phx_reply", OK],
    ]
    assert len(harness.hub.channel(harness.app.id, "room:1").subscribers) == 1
    client.send(new, "20", "room:1", "phx_leave", {})
    assert client.take()[-1] == [new, new, "room:1", "phx_close", {}]


# -- presence -----------------------------------------------------------------------------------


def test_presence_state_and_diffs(harness: Harness) -> None:
    grant = {"channels": ["presence-*"]}
    ann = harness.phoenix("u1", user_info={"name": "Ann"}, **grant)
    bob = harness.phoenix("u2", **grant)
    ann_jr = ann.join("presence-room")
    state = {"u1": metas("u1", {"name": "Ann"})}
    assert ann.take() == [
        [ann_jr, ann_jr, "presence-room", "phx_reply", OK],
        [ann_jr, None, "presence-room", "presence_state", state],
    ]
    bob_jr = bob.join("presence-room")
    state = {**state, "u2": metas("u2")}
    assert bob.take() == [
        [bob_jr, bob_jr, "presence-room", "phx_reply", OK],
        [bob_jr, None, "presence-room", "presence_state", state],
    ]
    assert ann.take() == [diff("presence-room", joins={"u2": metas("u2")})]
    bob.send(bob_jr, "7", "presence-room", "phx_leave", {})
    assert ann.take() == [diff("presence-room", leaves={"u2": metas("u2")})]
    assert bob.take() == [
        [bob_jr, "7", "presence-room", "phx_reply", OK],
        [bob_jr, bob_jr, "presence-room", "phx_close", {}],
    ]


async def test_presence_refusals(harness: Harness) -> None:
    anonymous = harness.phoenix()
    anonymous.join("presence-room")
    assert reason_of(anonymous.take()) == "unauthorized"
    big = harness.phoenix("u1", user_info={"bio": "x" * 2000}, channels=["presence-*"])
    big.join("presence-room")
    assert reason_of(big.take()) == "too large"
    await harness.set(max_presence_members=1)
    harness.phoenix("u1", channels=["presence-*"]).join("presence-room")
    full = harness.phoenix("u2", channels=["presence-*"])
    full.join("presence-room")
    assert reason_of(full.take()) == "presence full"


async def test_joined_topics_are_capped(harness: Harness) -> None:
    await harness.set(max_channels_per_connection=1)
    client = harness.phoenix()
    client.joined("room:1")
    client.join("room:1")  # a rejoin is the same channel: closes the old join, then ok
    assert client.take()[-1][3:] == ["phx_reply", OK]
    client.join("room:2")
    assert reason_of(client.take()) == "too many channels"
    assert client.closed_with is None


async def test_connection_quota_closes_4004(harness: Harness) -> None:
    await harness.set(max_connections=1)
    first, second = harness.phoenix(), harness.phoenix("u1")
    assert first.closed_with is None
    assert second.closed_with is not None and second.closed_with[0] == 4004
    second.send(None, "1", "phoenix", "heartbeat", {})
    assert second.take() == []


def test_presence_is_shared_with_pusher(harness: Harness) -> None:
    watcher = PusherClient(harness)
    watcher.subscribe("presence-room", {"user_id": "p1", "user_info": {"name": "Pat"}})
    phx = harness.phoenix("u1", user_info={"name": "Ann"}, channels=["presence-room"])
    jr = phx.join("presence-room")
    state = {"p1": metas("p1", {"name": "Pat"}), "u1": metas("u1", {"name": "Ann"})}
    assert phx.take() == [
        [jr, jr, "presence-room", "phx_reply", OK],
        [jr, None, "presence-room", "presence_state", state],
    ]
    assert watcher.take() == [
        {
            "event": "pusher_internal:member_added",
            "channel": "presence-room",
            "data": '{"user_id":"u1","user_info":{"name":"Ann"}}',
        }
    ]
    other = PusherClient(harness)
    other.subscribe("presence-room", {"user_id": "p2"})
    assert phx.take() == [diff("presence-room", joins={"p2": metas("p2")})]
    other.session.closed_by_peer()
    assert phx.take() == [diff("presence-room", leaves={"p2": metas("p2")})]
    phx.session.closed_by_peer()
    assert watcher.take()[-1] == {
        "event": "pusher_internal:member_removed",
        "channel": "presence-room",
        "data": '{"user_id":"u1"}',
    }


# -- pushes -------------------------------------------------------------------------------------


def test_push_without_publish_grant_is_refused_and_goes_nowhere(harness: Harness) -> None:
    sender, jr, other = pair(harness, "room:1", channels=["private-*"])
    answer = sender.push(jr, "room:1", "msg", {"a": 1})
    refused = error("unauthorized", "the token does not grant publishing to room:1")
    assert answer == [[jr, sender.last_ref, "room:1", "phx_reply", refused]]
    anonymous = harness.phoenix()
    anonymous_jr = anonymous.joined("room:1")
    assert reason_of(anonymous.push(anonymous_jr, "room:1", "msg", {})) == "unauthorized"
    assert other.take() == []


def test_pushes_to_encrypted_channels_are_refused_even_when_granted(harness: Harness) -> None:
    topic = "private-encrypted-room"
    sender = harness.phoenix("u1", channels=["private-*"], publish=["*"])
    jr = sender.joined(topic)
    answer = sender.push(jr, topic, "msg", {"ciphertext": "x", "nonce": "y"})
    refused = error(
        "unauthorized", f"{topic} is end-to-end encrypted: publish through the HTTP API"
    )
    assert answer == [[jr, sender.last_ref, topic, "phx_reply", refused]]


@pytest.mark.parametrize("grant", ["room-*", "room-1"])
def test_granted_push_reaches_others_on_both_protocols(harness: Harness, grant: str) -> None:
    sender, jr, other = pair(harness, "room-1", publish=[grant])
    watcher = PusherClient(harness)
    watcher.subscribe("room-1")
    answer = sender.push(jr, "room-1", "new_msg", {"body": "hi"})
    assert answer == [[jr, sender.last_ref, "room-1", "phx_reply", OK]]  # no copy to the sender
    # Delivered events carry the channel position: inside the Phoenix payload, and as extra
    # top-level fields of the Pusher frame.
    assert other.take() == [[None, None, "room-1", "new_msg", {"body": "hi", **AT_1}]]
    assert watcher.take() == [
        {"event": "new_msg", "channel": "room-1", "data": {"body": "hi"}, **AT_1}
    ]


def test_push_on_presence_tells_pusher_the_sender(harness: Harness) -> None:
    sender = harness.phoenix("u1", channels=["presence-*"], publish=["presence-*"])
    watcher = PusherClient(harness)
    watcher.subscribe("presence-chat", {"user_id": "p1"})
    jr = sender.join("presence-chat")
    watcher.take()
    assert sender.push(jr, "presence-chat", "wave", [1])[0][4] == OK
    assert watcher.take() == [
        {"event": "wave", "channel": "presence-chat", "data": [1], "user_id": "u1", **AT_1}
    ]


def test_pusher_event_reaches_phoenix_as_a_payload(harness: Harness) -> None:
    phx = harness.phoenix()
    phx.joined("news")
    harness.hub.publish(harness.app.id, Event("news", "update", '{"v":2}'))
    harness.hub.publish(harness.app.id, Event("news", "text", "plain words"))
    assert phx.take() == [
        [None, None, "news", "update", {"v": 2, **AT_1}],
        [None, None, "news", "text", "plain words"],  # no object to carry the position
    ]


@pytest.mark.parametrize(
    "event",
    ["phx_x", "phx_reply", "presence_diff", "pusher:foo", "pusher_internal:x", "hub:x", ""],
)
def test_reserved_event_names_are_refused(harness: Harness, event: str) -> None:
    sender, jr, other = pair(harness, "room-1", publish=["*"])
    assert reason_of(sender.push(jr, "room-1", event, {})) == "reserved event"
    assert other.take() == []


def test_payload_over_the_limit_is_too_large(harness: Harness) -> None:
    sender, jr, other = pair(harness, "room-1", publish=["*"])
    limit = harness.app.settings.max_event_data_bytes
    fits = {"b": "x" * (limit - len('{"b":""}'))}
    assert sender.push(jr, "room-1", "m", fits)[0][4] == OK
    assert other.take() == [[None, None, "room-1", "m", {**fits, **AT_1}]]
    assert reason_of(sender.push(jr, "room-1", "m", {"b": "x" * limit})) == "too large"
    assert reason_of(sender.push(jr, "room-1", "e" * 201, {})) == "too large"
    assert other.take() == []


def test_pushes_over_the_rate_are_limited(harness: Harness) -> None:
    sender, jr, other = pair(harness, "room-1", publish=["*"])
    per_second = harness.app.settings.client_events_per_second
    for i in range(per_second):
        assert sender.push(jr, "room-1", "n", {"i": i})[0][4] == OK
    assert reason_of(sender.push(jr, "room-1", "n", {"i": per_second})) == "rate limited"
    assert [f[4]["i"] for f in other.take()] == list(range(per_second))
    assert sender.closed_with is None


# -- #general and user channels -----------------------------------------------------------------


def test_general_reaches_phoenix_and_pusher(harness: Harness) -> None:
    phx = harness.phoenix()
    jr = phx.joined("#general")
    watcher = PusherClient(harness)  # every Pusher socket hears #general without subscribing
    harness.hub.publish(harness.app.id, Event("#general", "note", '{"a":1}'))
    assert phx.take() == [[None, None, "#general", "note", {"a": 1}]]
    assert watcher.take() == [{"event": "note", "data": '{"a":1}'}]
    granted = harness.phoenix("u1", publish=["*"])
    granted_jr = granted.joined("#general")
    assert reason_of(granted.push(granted_jr, "#general", "note", {})) == "unauthorized"
    assert reason_of(phx.push(jr, "#general", "note", {})) == "unauthorized"
    assert phx.take() == [] and watcher.take() == []


def test_user_channel_is_for_that_user_only(harness: Harness) -> None:
    topic = "#server-to-user-u1"
    own = harness.phoenix("u1")
    own.joined(topic)
    other = harness.phoenix("u2", channels=["*"])
    other.join(topic)
    assert reason_of(other.take()) == "unauthorized"
    anonymous = harness.phoenix()
    anonymous.join(topic)
    assert reason_of(anonymous.take()) == "unauthorized"
    harness.hub.publish(harness.app.id, Event(topic, "ping", "{}"))
    assert own.take() == [[None, None, topic, "ping", AT_1]]


# -- payloads and malformed frames --------------------------------------------------------------


def test_payload_of() -> None:
    assert payload_of('{"a":1}') == {"a": 1}
    assert payload_of("[1,2]") == [1, 2]
    assert payload_of("plain") == "plain"
    assert payload_of("") == ""
    assert payload_of("null") == payload_of(None) == {}
    assert payload_of([1, 2]) == [1, 2]
    assert payload_of({"k": None}) == {"k": None}


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"topic": "room", "event": "phx_join"}',
        '["1", "1", "room", "phx_join"]',
        '["1", "1", "room", "phx_join", {}, 6]',
        '["1", "1", 5, "phx_join", {}]',
        '["1", "1", "room", null, {}]',
        '["1", ["r"], "room", "phx_join", {}]',
        "[" * 60_000,
    ],
)
def test_malformed_frames_close_1007(harness: Harness, text: str) -> None:
    client = harness.phoenix()
    client.joined("room")
    client.session.receive(text)
    assert (
        client.closed_with is not None and client.closed_with[0] == CloseCode.INVALID_DATA == 1007
    )
    assert client.take() == []
    assert harness.hub.channel(harness.app.id, "room") is None  # left on close
    client.send(None, "2", "phoenix", "heartbeat", {})
    assert client.take() == []  # a closed session answers nothing


def test_binary_frames_close_1003(harness: Harness) -> None:
    client = harness.phoenix()
    client.session.receive_binary()
    assert client.closed_with is not None and client.closed_with[0] == 1003


# -- admission ----------------------------------------------------------------------------------


async def test_admit(harness: Harness) -> None:
    app, hub, live = harness.app, harness.hub, harness.live()
    for vsn in (None, "1.0.0", "", "3.0"):
        with pytest.raises(HandshakeRefused) as refused:
            admit(hub, live, None, vsn, None)
        assert refused.value.status == 400
    assert admit(hub, live, None, "2.0.0", None).token is None
    assert admit(hub, live, None, "2.0.0", "").token is None
    claims = admit(hub, live, None, "2.0.0", harness.mint("u1", channels=["private-*"])).token
    assert claims is not None
    assert (claims.user_id, claims.channels) == ("u1", ("private-*",))
    other_app = await harness.store.create_app("b")
    disabled = LiveApp(replace(app, active=False), live.origins)
    refusals = [
        (None, None, 404),
        (disabled, None, 403),
        (live, "garbage", 403),
        (live, mint(other_app.keys[0].secret, "u1"), 403),
        (live, "A" + harness.mint("u1")[1:], 403),
    ]
    for target, token, status in refusals:
        with pytest.raises(HandshakeRefused) as refused:
            admit(hub, target, None, "2.0.0", token)
        assert refused.value.status == status, (target, token)


def test_admit_refuses_an_expired_token(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    now = int(time.time())
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: now - 86401)
    old = harness.mint("u1")
    monkeypatch.undo()
    with pytest.raises(HandshakeRefused) as refused:
        admit(harness.hub, harness.live(), None, "2.0.0", old)
    assert (refused.value.status, refused.value.message) == (403, "token expired")


async def test_admit_requires_a_token_when_the_app_does(harness: Harness) -> None:
    await harness.set(user_authentication_required=True)
    with pytest.raises(HandshakeRefused) as refused:
        admit(harness.hub, harness.live(), None, "2.0.0", None)
    assert refused.value.status == 403
    admitted = admit(harness.hub, harness.live(), None, "2.0.0", harness.mint("u1"))
    assert admitted.token is not None and admitted.token.user_id == "u1"


def test_token_from_subprotocols(harness: Harness) -> None:
    token = harness.mint("u1", user_info={"n": "ü"})
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(token.encode()).decode().rstrip("=")
        offered = ["phoenix", "base64url.bearer.phx." + encoded]
        assert token_from_subprotocols(offered) == token
    assert token_from_subprotocols(["phoenix"]) is None
    assert token_from_subprotocols([]) is None
    with pytest.raises(HandshakeRefused) as refused:
        token_from_subprotocols(["phoenix", "base64url.bearer.phx.a"])  # 1 char: bad length
    assert refused.value.status == 403


@pytest.mark.parametrize("junk", ["%%%", "\u00e9t\u00e9"])
def test_token_from_subprotocols_refuses_what_is_not_base64(junk: str) -> None:
    # The front door (hub/wire/frontdoor.py) turns only HandshakeRefused into a refusal:
    # anything else is a 500, and a value decoding to "" makes the socket silently anonymous.
    with pytest.raises(HandshakeRefused) as refused:
        token_from_subprotocols(["phoenix", "base64url.bearer.phx." + junk])
    assert refused.value.status == 403


# -- terminate ----------------------------------------------------------------------------------


async def test_terminate_user_closes_its_sockets_and_revokes_its_tokens(harness: Harness) -> None:
    old_token = harness.mint("u1")
    ann = harness.phoenix("u1", channels=["presence-*"])
    bob = harness.phoenix("u2", channels=["presence-*"])
    ann.joined("room:1")
    ann.join("presence-room")
    bob.join("presence-room")
    ann.take(), bob.take()
    assert await harness.hub.terminate_user(harness.app, "u1") == 1
    assert ann.closed_with == (4009, "connection terminated by the app")
    assert ann.take() == []
    assert bob.closed_with is None
    assert bob.take() == [diff("presence-room", leaves={"u1": metas("u1")})]
    assert harness.hub.channel(harness.app.id, "room:1") is None
    with pytest.raises(TokenRevoked):
        harness.hub.check_token(harness.app, old_token)
    assert harness.hub.check_token(harness.app, harness.mint("u2")).user_id == "u2"
    with pytest.raises(HandshakeRefused):
        admit(harness.hub, harness.live(), None, "2.0.0", old_token)


def test_a_disconnect_is_counted_once_by_its_first_reason(harness: Harness) -> None:
    client, closed_by_client = harness.phoenix(), harness.phoenix()
    closed_by_client.session.closed_by_peer()
    client.session.disconnect(Disconnect.SLOW)
    assert client.closed_with == (4100, Disconnect.SLOW.value)
    client.session.disconnect(Disconnect.SHUTDOWN)  # already closed: not counted again
    closed_by_client.session.disconnect(Disconnect.SHUTDOWN)
    metrics = harness.hub.metrics
    assert metrics.disconnects == {**dict.fromkeys(Disconnect, 0), Disconnect.SLOW: 1}
    assert metrics.connections_opened == {"phoenix": 2}
    assert metrics.connections_closed == 2


async def test_terminate_session(harness: Harness) -> None:
    old_token = harness.mint("u1", session_id="s1")
    in_session = harness.phoenix("u1", session_id="s1")
    other_session = harness.phoenix("u1", session_id="s2")
    assert await harness.hub.terminate_session(harness.app, "s1") == 1
    assert in_session.closed_with is not None and in_session.closed_with[0] == 4009
    assert other_session.closed_with is None
    with pytest.raises(TokenRevoked):
        harness.hub.check_token(harness.app, old_token)
    assert harness.hub.check_token(harness.app, harness.mint("u1", session_id="s2")).user_id == "u1"


async def test_admit_refuses_an_app_at_its_quota_before_the_upgrade(harness: Harness) -> None:
    await harness.set(max_connections=1)
    assert admit(harness.hub, harness.live(), None, "2.0.0", None).token is None
    harness.phoenix()
    with pytest.raises(HandshakeRefused) as refused:
        admit(harness.hub, harness.live(), None, "2.0.0", None)
    assert (refused.value.status, refused.value.message) == (
        503,
        "app is over its connection quota",
    )
