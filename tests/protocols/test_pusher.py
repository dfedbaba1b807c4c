"""The Pusher protocol session without sockets: text in, frames out, with a real core and an
in-memory store. Signatures come from the official Pusher SDK, not from hub's own code."""

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, TypeVar
from unittest.mock import ANY

import pusher
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.broker.local import LocalBroker
from hub.core.apps import AppRegistry
from hub.core.hub import Hub
from hub.errors import HandshakeRefused, PusherCode, Refusal
from hub.models import App, AppSettings, Disconnect, Event
from hub.protocols.frames import Outgoing
from hub.protocols.pusher import PusherSession, handshake_problem
from hub.protocols.session import CallbackLink
from hub.store import Store

AT_1 = {"seq": 1, "epoch": ANY}  # the position of a channel's first event


class Harness:
    """A core with one app, and sessions whose frames are collected in lists."""

    def __init__(self, store: Store, hub: Hub, app: App) -> None:
        self.store, self.hub, self.app = store, hub, app
        self.sdk = pusher.Pusher(
            app.id,
            app.keys[0].key,
            app.keys[0].secret,
            encryption_master_key_base64=base64.b64encode(b"k" * 32).decode(),
        )

    def session(self) -> "Client":
        return Client(self)

    async def set(self, **settings: Any) -> None:
        await self.store.update_app(self.app.id, settings=self.app.settings.updated(settings))
        await self.hub.apps.reload()
        self.app = self.hub.apps.cached(self.app.id).app


class Client:
    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.frames: list[dict[str, Any]] = []
        self.raw: list[Outgoing] = []
        self.closed_with: tuple[int, str] | None = None
        self.socket_id = ""
        self.session = PusherSession(
            harness.hub, CallbackLink(self._write, self._close), activity_timeout=120
        )

    def _write(self, out: Outgoing) -> None:
        self.raw.append(out)
        self.frames.append(json.loads(out.text))

    def _close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)

    def open(self, protocol: str | None = "7") -> "Client":
        hub, app = self.harness.hub, self.harness.app
        refused = handshake_problem(hub, hub.apps.cached(app.id), True, protocol)
        self.session.open(app, refused=refused)
        if self.frames and self.frames[0]["event"] == "pusher:connection_established":
            self.socket_id = json.loads(self.frames[0]["data"])["socket_id"]
        return self

    def send(self, event: str, data: Any = None, channel: str | None = None) -> None:
        message: dict[str, Any] = {"event": event, "data": {} if data is None else data}
        if channel:
            message["channel"] = channel
        self.session.receive(json.dumps(message))

    def take(self) -> list[dict[str, Any]]:
        frames, self.frames = self.frames, []
        return frames

    def subscribe(self, channel: str, **fields: Any) -> dict[str, Any]:
        self.take()
        self.send("pusher:subscribe", {"channel": channel, "auth": "", **fields})
        answers = [
            f
            for f in self.take()
            if f["event"] in ("pusher_internal:subscription_succeeded", "pusher:subscription_error")
        ]
        assert len(answers) == 1, answers
        return answers[0]

    def subscribe_signed(self, channel: str, user: dict | None = None) -> dict[str, Any]:
        auth = self.harness.sdk.authenticate(channel, self.socket_id, user)
        auth.pop("shared_secret", None)  # pusher-js keeps it client-side, as here
        return self.subscribe(channel, **auth)


H = TypeVar("H", bound=Harness)


def running_harness(io_loop: Any, kind: type[H], settings: AppSettings) -> Iterator[H]:
    """A harness of `kind` on an in-memory store with one app, closed afterwards (the body of
    this module's fixture and of test_phoenix.py's). The app keeps no history: an event that a
    channel keeps goes out only once the hub's writer has stored it, which runs on the loop,
    while these tests deliver in the same call. Replay is tested with a running hub
    and in the core (tests/core/test_replay.py, tests/core/test_history.py)."""
    settings = settings.updated({"history_depth": 0})

    async def build() -> H:
        store = await Store.open(":memory:")
        app = await store.create_app("a", settings=settings)
        apps = AppRegistry(store, reload_interval=0)
        await apps.start()
        return kind(store, Hub(apps, LocalBroker()), app)

    built = io_loop.run_sync(build)
    yield built
    io_loop.run_sync(built.store.close)


@pytest.fixture
def harness(io_loop: Any) -> Iterator[Harness]:
    yield from running_harness(io_loop, Harness, AppSettings(client_events=True))


def error_of(frame: dict[str, Any]) -> tuple[int | None, str]:
    assert frame["event"] == "pusher:error", frame
    return frame["data"]["code"], frame["data"]["message"]


def refusal(frame: dict[str, Any]) -> dict[str, Any]:
    assert frame["event"] == "pusher:subscription_error", frame
    return json.loads(frame["data"])


# -- handshake ----------------------------------------------------------------------------------


def test_handshake_checks_in_order(harness: Harness) -> None:
    hub, live = harness.hub, harness.hub.apps.cached(harness.app.id)
    assert live is not None
    app = live.app
    disabled = replace(live, app=App(app.id, app.name, False, app.settings, app.keys, app.origins))

    def code_of(refused: HandshakeRefused | None) -> PusherCode | None:
        assert refused is not None
        return refused.code

    assert code_of(handshake_problem(hub, live, False, "7")) == PusherCode.PATH_NOT_FOUND
    assert code_of(handshake_problem(hub, None, False, "7")) == PusherCode.PATH_NOT_FOUND
    assert code_of(handshake_problem(hub, None, True, None)) == PusherCode.APP_KEY_UNKNOWN
    assert code_of(handshake_problem(hub, disabled, True, None)) == PusherCode.APP_DISABLED
    assert code_of(handshake_problem(hub, live, True, None)) == PusherCode.PROTOCOL_MISSING
    for bad in ("abc", "3", "8", ""):
        assert code_of(handshake_problem(hub, live, True, bad)) == PusherCode.PROTOCOL_UNSUPPORTED
    for good in ("4", "5", "6", "7"):
        assert handshake_problem(hub, live, True, good) is None


def test_a_refusal_is_sent_with_the_message_and_code_of_its_table_entry(harness: Harness) -> None:
    client = Client(harness)
    client.session.open(None, refused=HandshakeRefused(Refusal.UNKNOWN_KEY))
    assert error_of(client.frames[0]) == (4001, "unknown app key")
    assert client.closed_with == (4001, "unknown app key")


def test_connection_established_first(harness: Harness) -> None:
    client = harness.session().open()
    [frame] = client.frames
    assert frame["event"] == "pusher:connection_established"
    data = json.loads(frame["data"])  # a JSON string, as pusher-js requires
    assert re.fullmatch(r"\d+\.\d+", data["socket_id"])
    assert data["activity_timeout"] == 120


def test_refused_handshake_sends_error_then_closes_with_same_code(harness: Harness) -> None:
    client = harness.session().open(protocol="9")
    assert error_of(client.frames[0])[0] == 4007
    assert client.closed_with[0] == 4007


async def test_connection_quota(harness: Harness) -> None:
    await harness.set(max_connections=1)
    harness.session().open()
    second = harness.session().open()
    assert error_of(second.frames[0])[0] == PusherCode.OVER_QUOTA == 4004
    assert second.closed_with[0] == 4004


def test_ping_pong_and_bad_messages(harness: Harness) -> None:
    client = harness.session().open()
    client.take()
    client.send("pusher:ping")
    assert client.take() == [{"event": "pusher:pong", "data": {}}]
    client.session.receive("{not json")
    assert error_of(client.take()[0])[0] is None
    client.session.receive('["an", "array"]')
    assert error_of(client.take()[0])[0] is None
    client.send("pusher:nonsense")
    assert error_of(client.take()[0])[0] is None
    assert client.closed_with is None


# -- subscriptions ------------------------------------------------------------------------------


def test_public_subscription_is_idempotent(harness: Harness) -> None:
    client = harness.session().open()
    first = client.subscribe("news")
    again = client.subscribe("news")
    expected = {"event": "pusher_internal:subscription_succeeded", "channel": "news", "data": "{}"}
    assert first == again == expected
    assert len(harness.hub.channel(harness.app.id, "news").subscribers) == 1


def test_deeply_nested_json_is_refused_without_closing(harness: Harness) -> None:
    client = harness.session().open()
    client.take()
    client.session.receive("[" * 60_000)
    assert error_of(client.take()[0]) == (None, "Invalid JSON")
    assert client.closed_with is None


def test_data_sent_as_a_json_string_is_accepted(harness: Harness) -> None:
    client = harness.session().open()
    client.take()
    client.session.receive(json.dumps({"event": "pusher:subscribe", "data": '{"channel":"s"}'}))
    assert client.take()[0]["event"] == "pusher_internal:subscription_succeeded"
    client.session.receive(json.dumps({"event": "pusher:subscribe", "data": "{nope"}))
    assert error_of(client.take()[0])[0] is None


@pytest.mark.parametrize(
    "name", ["", "a" * 165, "bad name", "bad/name", "ünïcode", "#not-a-user-channel"]
)
def test_invalid_channel_names(harness: Harness, name: str) -> None:
    client = harness.session().open()
    answer = client.subscribe(name)
    if name.startswith("#"):
        assert refusal(answer)["type"] in ("InvalidChannel", "AuthError")
    else:
        assert refusal(answer)["type"] == "InvalidChannel"


def test_channel_name_of_164_characters_is_accepted(harness: Harness) -> None:
    client = harness.session().open()
    answer = client.subscribe("c" * 164)
    assert answer["event"] == "pusher_internal:subscription_succeeded"


def test_private_channel_needs_a_valid_signature(harness: Harness) -> None:
    client = harness.session().open()
    assert refusal(client.subscribe("private-orders")) == {
        "type": "AuthError",
        "error": "Invalid signature",
        "status": 401,
    }
    wrong_socket = harness.sdk.authenticate("private-orders", "1.1")
    assert refusal(client.subscribe("private-orders", **wrong_socket))["status"] == 401
    other_secret = pusher.Pusher(harness.app.id, harness.app.keys[0].key, "not-the-secret")
    forged = other_secret.authenticate("private-orders", client.socket_id)
    assert refusal(client.subscribe("private-orders", **forged))["status"] == 401
    ok = client.subscribe_signed("private-orders")
    assert ok["event"] == "pusher_internal:subscription_succeeded"
    encrypted = client.subscribe_signed("private-encrypted-orders")
    assert encrypted["event"] == "pusher_internal:subscription_succeeded"


def test_user_channels_are_refused_without_sign_in(harness: Harness) -> None:
    client = harness.session().open()
    assert refusal(client.subscribe("#server-to-user-42"))["type"] == "AuthError"


def test_presence_members(harness: Harness) -> None:
    ann = harness.session().open()
    ann_data = {"user_id": "42", "user_info": {"name": "Ann"}}
    joined = ann.subscribe_signed("presence-room", ann_data)
    assert json.loads(joined["data"]) == {
        "presence": {"ids": ["42"], "hash": {"42": {"name": "Ann"}}, "count": 1}
    }
    bob = harness.session().open()
    bob_joined = bob.subscribe_signed("presence-room", {"user_id": 7, "user_info": None})
    assert json.loads(bob_joined["data"])["presence"]["count"] == 2
    assert json.loads(bob_joined["data"])["presence"]["hash"] == {"42": {"name": "Ann"}, "7": None}
    added = ann.take()
    assert added == [
        {
            "event": "pusher_internal:member_added",
            "channel": "presence-room",
            "data": '{"user_id":"7","user_info":null}',
        }
    ]
    assert bob.take() == []  # the joiner learns of itself from subscription_succeeded only
    # A second connection of Ann is the same member: nobody hears of it.
    ann2 = harness.session().open()
    assert (
        json.loads(ann2.subscribe_signed("presence-room", ann_data)["data"])["presence"]["count"]
        == 2
    )
    assert ann.take() == [] and bob.take() == []
    ann.send("pusher:unsubscribe", {"channel": "presence-room"})
    assert bob.take() == []  # Ann still has a connection
    ann2.session.closed_by_peer()
    assert bob.take() == [
        {
            "event": "pusher_internal:member_removed",
            "channel": "presence-room",
            "data": '{"user_id":"42"}',
        }
    ]


def test_presence_refusals(harness: Harness) -> None:
    client = harness.session().open()
    assert refusal(client.subscribe("presence-x"))["status"] == 401  # no channel_data
    auth = harness.sdk.authenticate("presence-x", client.socket_id, {"user_id": "1"})
    tampered = {**auth, "channel_data": '{"user_id":"2"}'}
    assert refusal(client.subscribe("presence-x", **tampered))["status"] == 401
    no_user = harness.sdk.authenticate("presence-x", client.socket_id, {"user_info": {}})
    assert refusal(client.subscribe("presence-x", **no_user))["status"] == 401
    big = {"user_id": "1", "user_info": {"bio": "x" * 2000}}
    assert refusal(client.subscribe_signed("presence-x", big)) == {
        "type": "LimitReached",
        "error": "user_info larger than 1024 bytes",
        "status": 4301,
    }


async def test_presence_channel_full(harness: Harness) -> None:
    await harness.set(max_presence_members=1)
    first = harness.session().open()
    first.subscribe_signed("presence-full", {"user_id": "1"})
    second = harness.session().open()
    answer = refusal(second.subscribe_signed("presence-full", {"user_id": "2"}))
    assert (answer["type"], answer["status"]) == ("LimitReached", 4100)
    # The same user again is not a new member, so it still fits.
    again = harness.session().open().subscribe_signed("presence-full", {"user_id": "1"})
    assert again["event"] == "pusher_internal:subscription_succeeded"


async def test_channels_per_connection_are_capped(harness: Harness) -> None:
    await harness.set(max_channels_per_connection=2)
    client = harness.session().open()
    for name in ("one", "two", "two"):  # the same channel again is not one more
        assert client.subscribe(name)["event"] == "pusher_internal:subscription_succeeded"
    assert refusal(client.subscribe("three")) == {
        "type": "LimitReached",
        "error": "at most 2 channels per connection",
        "status": 4004,
    }
    assert client.closed_with is None  # the socket stays, as after any subscription error
    # Leaving one makes room; another socket has its own cap.
    client.send("pusher:unsubscribe", {"channel": "one"})
    assert client.subscribe("three")["event"] == "pusher_internal:subscription_succeeded"
    other = harness.session().open()
    assert other.subscribe("four")["event"] == "pusher_internal:subscription_succeeded"
    await harness.set(max_channels_per_connection=0)  # 0: no cap
    assert client.subscribe("five")["event"] == "pusher_internal:subscription_succeeded"


def test_unsubscribing_an_unknown_channel_is_a_no_op(harness: Harness) -> None:
    client = harness.session().open()
    client.take()
    client.send("pusher:unsubscribe", {"channel": "never-joined"})
    assert client.take() == []


# -- events -------------------------------------------------------------------------------------


def test_fan_out_encodes_an_event_once(harness: Harness) -> None:
    from hub.models import Event

    clients = [harness.session().open() for _ in range(3)]
    for client in clients:
        client.subscribe("news")
    harness.hub.publish(harness.app.id, Event("news", "e", '{"x":1}', exclude=clients[2].socket_id))
    first, second = clients[0].raw[-1], clients[1].raw[-1]
    assert first is second  # the very same frame object, framed once by the transport
    assert json.loads(first.text) == {
        "event": "e",
        "channel": "news",
        "data": '{"x":1}',
        **{"seq": 1, "epoch": harness.hub.history.log(harness.app.id, "news").epoch},
    }
    assert clients[2].take() == []  # excluded by socket id


def test_client_events_reach_others_not_the_sender(harness: Harness) -> None:
    ann, bob = harness.session().open(), harness.session().open()
    ann.subscribe_signed("private-chat")
    bob.subscribe_signed("private-chat")
    ann.take(), bob.take()
    ann.send("client-typing", {"who": "ann"}, channel="private-chat")
    assert ann.take() == []
    assert bob.take() == [
        {"event": "client-typing", "channel": "private-chat", "data": {"who": "ann"}, **AT_1}
    ]


def test_client_events_on_presence_carry_user_id(harness: Harness) -> None:
    ann, bob = harness.session().open(), harness.session().open()
    ann.subscribe_signed("presence-chat", {"user_id": "ann"})
    bob.subscribe_signed("presence-chat", {"user_id": "bob"})
    ann.take(), bob.take()
    ann.send("client-wave", {}, channel="presence-chat")
    assert bob.take() == [
        {"event": "client-wave", "channel": "presence-chat", "data": {}, "user_id": "ann", **AT_1}
    ]


async def test_client_event_refusals_are_4301_and_keep_the_socket(harness: Harness) -> None:
    client = harness.session().open()
    client.subscribe("public")
    client.subscribe_signed("private-chat")
    client.take()
    cases = [
        ("client-x", "public", {}, "only allowed on private and presence"),
        ("client-x", "private-other", {}, "Not subscribed"),
        ("client-x", "private-encrypted-x", {}, "only allowed on private and presence"),
        ("client-" + "x" * 200, "private-chat", {}, "Event name longer"),
        ("client-x", "private-chat", {"blob": "x" * 11_000}, "larger than 10240 bytes"),
    ]
    for event, channel, data, message in cases:
        client.send(event, data, channel=channel)
        code, text = error_of(client.take()[0])
        assert code == 4301 and message in text, (event, channel, text)
    await harness.set(client_events=False)
    client.send("client-x", {}, channel="private-chat")
    code, text = error_of(client.take()[0])
    assert code == 4301 and "disabled" in text
    assert client.closed_with is None


def test_client_event_rate_limit(harness: Harness) -> None:
    ann, bob = harness.session().open(), harness.session().open()
    ann.subscribe_signed("private-chat")
    bob.subscribe_signed("private-chat")
    ann.take(), bob.take()
    for i in range(11):
        ann.send("client-n", {"i": i}, channel="private-chat")
    assert len(bob.take()) == 10
    code, text = error_of(ann.take()[0])
    assert code == 4301 and "Rate limit" in text
    assert ann.closed_with is None


# -- disconnects --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        (Disconnect.SHUTDOWN, 4200),
        (Disconnect.APP_GONE, 4001),
        (Disconnect.APP_DISABLED, 4003),
        (Disconnect.KEY_REVOKED, 4001),
        (Disconnect.PONG_TIMEOUT, 4201),
        (Disconnect.SLOW, 4100),
        (Disconnect.TERMINATED, 4009),
        (Disconnect.SIGNIN_TIMEOUT, 4009),
    ],
)
def test_disconnect_reasons_map_to_pusher_codes(
    harness: Harness, reason: Disconnect, code: int
) -> None:
    client = harness.session().open()
    client.subscribe("news")
    client.take()
    client.session.disconnect(reason)
    assert error_of(client.take()[0])[0] == code
    assert client.closed_with[0] == code
    assert harness.hub.channel(harness.app.id, "news") is None  # left on close


def test_a_disconnect_is_counted_once_by_its_first_reason(harness: Harness) -> None:
    client, closed_by_client = harness.session().open(), harness.session().open()
    closed_by_client.session.closed_by_peer()
    client.session.disconnect(Disconnect.SLOW)
    client.session.disconnect(Disconnect.SHUTDOWN)  # already closed: not counted again
    closed_by_client.session.disconnect(Disconnect.SHUTDOWN)
    metrics = harness.hub.metrics
    assert metrics.disconnects == {**dict.fromkeys(Disconnect, 0), Disconnect.SLOW: 1}
    assert metrics.connections_opened == {"pusher": 2}
    assert metrics.connections_closed == 2


def test_silent_connections_are_pinged_then_dropped(harness: Harness) -> None:
    client = harness.session().open()
    client.take()
    conn = harness.hub.connections[client.socket_id]
    # A clock reading on which `now - last_seen` rounds to just below both timeouts (as about
    # 1.5 % of real readings do), so the sweep is tested on the hard case every run.
    conn.last_seen = start = 1000.004
    assert (start + 120) - start < 120 and (start + 150) - start < 150
    harness.hub.sweep(start + 119)
    assert client.take() == []
    harness.hub.sweep(start + 120)
    assert client.take() == [{"event": "pusher:ping", "data": {}}]
    harness.hub.sweep(start + 149)
    assert client.closed_with is None
    harness.hub.sweep(start + 150)
    assert client.closed_with[0] == 4201


def test_an_answer_to_the_ping_keeps_the_connection(harness: Harness) -> None:
    client = harness.session().open()
    conn = harness.hub.connections[client.socket_id]
    harness.hub.sweep(conn.last_seen + 120)
    client.send("pusher:pong")
    harness.hub.sweep(conn.last_seen + 100)
    assert client.closed_with is None


# -- fuzzing: whatever a client sends, the session answers and never raises ---------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
event_names = st.sampled_from(
    [
        "pusher:subscribe",
        "pusher:unsubscribe",
        "pusher:ping",
        "pusher:pong",
        "pusher:signin",
        "client-x",
        "pusher:other",
        "whatever",
    ]
)
channels = st.sampled_from(
    ["news", "private-a", "presence-a", "private-encrypted-a", "#server-to-user-1", "", "bad name"]
) | st.text(max_size=30)
messages = st.fixed_dictionaries(
    {"event": event_names},
    optional={
        "channel": channels | json_values,
        "data": json_values
        | st.fixed_dictionaries(
            {"channel": channels},
            optional={
                "auth": st.text(max_size=80) | json_values,
                "channel_data": json_values | st.text(),
            },
        ),
    },
)

FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _feed(harness: Harness, texts: list[str]) -> None:
    client = harness.session().open()
    for text in texts:
        client.session.receive(text)  # must not raise
    for frame in client.frames:
        assert isinstance(frame.get("event"), str)


@FUZZ
@given(st.lists(st.text(max_size=200), max_size=5))
def test_arbitrary_text(harness: Harness, texts: list[str]) -> None:
    _feed(harness, texts)


@FUZZ
@given(st.lists(json_values, max_size=5))
def test_arbitrary_json(harness: Harness, values: list[Any]) -> None:
    _feed(harness, [json.dumps(v) for v in values])


@FUZZ
@given(st.lists(messages, max_size=8))
def test_arbitrary_events(harness: Harness, values: list[dict]) -> None:
    _feed(harness, [json.dumps(v) for v in values])


# -- user sign-in, #server-to-user- and #general -------------------------------------------------


def sign_in(client: Client, user: dict[str, Any]) -> list[dict[str, Any]]:
    """Sends pusher:signin signed by the SDK, as pusher-js does after its user auth call."""
    client.take()
    client.send("pusher:signin", client.harness.sdk.authenticate_user(client.socket_id, user))
    return client.take()


def test_signin_then_the_users_own_channel(harness: Harness) -> None:
    ann = harness.session().open()
    [success] = sign_in(ann, {"id": "u1", "user_info": {"name": "Ann"}})
    assert success["event"] == "pusher:signin_success"
    signed = harness.sdk.authenticate_user(
        ann.socket_id, {"id": "u1", "user_info": {"name": "Ann"}}
    )
    # data is a JSON string holding user_data exactly as signed (pusher-js parses it again).
    assert json.loads(success["data"]) == {"user_data": signed["user_data"]}
    assert ann.subscribe("#server-to-user-u1")["event"] == "pusher_internal:subscription_succeeded"
    assert refusal(ann.subscribe("#server-to-user-u2"))["type"] == "AuthError"


def test_a_users_channel_needs_a_signin(harness: Harness) -> None:
    eve = harness.session().open()
    assert refusal(eve.subscribe("#server-to-user-u1"))["status"] == 401


@pytest.mark.parametrize(
    "data",
    [
        {"auth": "wrong", "user_data": '{"id":"u1"}'},
        {"user_data": '{"id":"u1"}'},
        ["not", "an", "object"],
    ],
)
def test_a_bad_signin_closes_with_4009(harness: Harness, data: Any) -> None:
    eve = harness.session().open()
    eve.take()
    eve.send("pusher:signin", data)
    assert error_of(eve.take()[0])[0] == 4009
    assert eve.closed_with is not None and eve.closed_with[0] == 4009


def test_signed_user_data_without_a_string_id_closes_with_4009(harness: Harness) -> None:
    eve = harness.session().open()
    eve.take()
    user_data = json.dumps({"id": 42})  # pusher-js itself drops a numeric id
    pair = harness.app.keys[0]
    signed = f"{eve.socket_id}::user::{user_data}".encode()
    auth = f"{pair.key}:" + hmac.new(pair.secret.encode(), signed, hashlib.sha256).hexdigest()
    eve.send("pusher:signin", {"auth": auth, "user_data": user_data})
    assert error_of(eve.take()[0]) == (4009, "user_data.id must be a non-empty string")


def test_signing_in_as_someone_else_is_refused_without_closing(harness: Harness) -> None:
    ann = harness.session().open()
    sign_in(ann, {"id": "u1"})
    [frame] = sign_in(ann, {"id": "u2"})
    assert error_of(frame) == (4009, "Already signed in as another user")
    assert ann.closed_with is None
    assert ann.subscribe("#server-to-user-u1")["event"] == "pusher_internal:subscription_succeeded"


async def test_an_app_requiring_signin_closes_sockets_that_do_not(harness: Harness) -> None:
    await harness.set(user_authentication_required=True, user_authentication_timeout=30)
    late = harness.session().open()
    ann = harness.session().open()
    sign_in(ann, {"id": "u1"})
    harness.hub.sweep(time.monotonic() + 29)
    assert late.closed_with is None
    harness.hub.sweep(time.monotonic() + 31)
    assert late.closed_with == (4009, "not signed in in time")
    assert ann.closed_with is None


def test_broadcasts_reach_every_socket_without_a_channel(harness: Harness) -> None:
    ann, bob = harness.session().open(), harness.session().open()
    bob.send("pusher:unsubscribe", {"channel": "#general"})  # not a way out of broadcasts
    ann.take(), bob.take()
    harness.hub.publish(harness.app.id, Event("#general", "maintenance", '{"at":"22:00"}'))
    expected = {"event": "maintenance", "data": '{"at":"22:00"}'}
    assert ann.take() == [expected] and bob.take() == [expected]
    ann.send("client-x", {}, channel="#general")
    assert error_of(ann.take()[0])[0] == 4301
