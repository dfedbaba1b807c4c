"""The admission step without sockets: its checks in their order (app, active, origin, quota,
token), what each endpoint's options leave out, the token's refusals, and the table of
refusals it answers from."""

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from itsdangerous import TimestampSigner

from hub.broker.local import LocalBroker
from hub.core.admission import admit, identify, origin_admitted, refuse_foreign_origin
from hub.core.apps import AppRegistry, LiveApp
from hub.core.hub import Hub
from hub.errors import HandshakeRefused, PusherCode, Refusal
from hub.protocols.session import CallbackLink
from hub.protocols.sse import SseSession
from hub.store import Store
from hub.tokens import mint

GOOD, EVIL = "https://good.example", "https://evil.example"


@dataclass
class World:
    store: Store
    hub: Hub
    live: LiveApp  # an active app that allows GOOD only

    def mint(self, user_id: str, **claims: Any) -> str:
        return mint(self.live.app.keys[0].secret, user_id, **claims)

    async def set(self, **settings: Any) -> None:
        app = self.live.app
        await self.store.update_app(app.id, settings=app.settings.updated(settings))
        await self.hub.apps.reload()
        live = self.hub.apps.cached(app.id)
        assert live is not None
        self.live = live

    def connect(self) -> None:
        """One more connection of the app, as an endpoint makes it once admitted."""
        stream = SseSession(self.hub, CallbackLink(lambda out: None, lambda code, reason: None))
        self.hub.connect(self.live.app, stream)

    def refusal(self, live: LiveApp | None, origin: str | None, token: str | None, **how: Any):
        with pytest.raises(HandshakeRefused) as refused:
            admit(self.hub, live, origin, token, **{"count_quota": True, **how})
        return refused.value.refusal


@pytest.fixture
def world(io_loop: Any) -> Iterator[World]:
    async def build() -> World:
        store = await Store.open(":memory:")
        app = await store.create_app("a", origins=(GOOD,))
        apps = AppRegistry(store, reload_interval=0)
        await apps.start()
        live = apps.cached(app.id)
        assert live is not None
        return World(store, Hub(apps, LocalBroker()), live)

    built = io_loop.run_sync(build)
    yield built
    io_loop.run_sync(built.store.close)


def disabled(live: LiveApp) -> LiveApp:
    return replace(live, app=replace(live.app, active=False))


async def test_the_checks_come_in_one_order(world: World) -> None:
    await world.set(max_connections=1, user_authentication_required=True)
    world.connect()
    live = world.live
    # Each line breaks every check after the one it is about: the first broken one answers.
    assert world.refusal(None, EVIL, "forged") is Refusal.UNKNOWN_KEY
    assert world.refusal(disabled(live), EVIL, "forged") is Refusal.APP_DISABLED
    assert world.refusal(live, EVIL, "forged") is Refusal.ORIGIN_NOT_ALLOWED
    assert world.refusal(live, GOOD, "forged") is Refusal.OVER_QUOTA
    assert world.refusal(live, GOOD, None, count_quota=False) is Refusal.TOKEN_REQUIRED
    assert world.refusal(live, None, "forged", count_quota=False) is Refusal.TOKEN_INVALID


async def test_what_is_admitted(world: World) -> None:
    live = world.live
    for origin in (GOOD, None):  # no Origin header: a server-side client
        anonymous = admit(world.hub, live, origin, None, count_quota=True)
        assert (anonymous.app, anonymous.token) == (live.app, None)
    token = world.mint("u1", channels=["private-*"])
    admitted = admit(world.hub, live, GOOD, token, count_quota=True)
    assert admitted.token is not None
    assert (admitted.token.user_id, admitted.token.channels) == ("u1", ("private-*",))


async def test_the_quota_is_counted_only_where_the_endpoint_asks(world: World) -> None:
    await world.set(max_connections=1)
    assert admit(world.hub, world.live, None, None, count_quota=True).token is None
    world.connect()
    assert world.refusal(world.live, None, None) is Refusal.OVER_QUOTA
    # SSE and Pusher count it when they connect, after checks of their own.
    assert admit(world.hub, world.live, None, None, count_quota=False).app == world.live.app


async def test_a_connection_that_signs_in_later_needs_no_token(world: World) -> None:
    await world.set(user_authentication_required=True)
    assert world.refusal(world.live, None, None) is Refusal.TOKEN_REQUIRED
    # Pusher: anonymous at first, signed in by pusher:signin; a token is not even read.
    pusher = admit(world.hub, world.live, None, "forged", count_quota=False, by_token=False)
    assert pusher.token is None


def test_token_refusals_say_what_is_wrong(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    app = world.live.app
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 86401)
    old = world.mint("u1")
    monkeypatch.undo()
    cases = [
        (old, Refusal.TOKEN_EXPIRED, "token expired"),
        ("garbage", Refusal.TOKEN_INVALID, "invalid token"),
        (mint("another-apps-secret", "u1"), Refusal.TOKEN_INVALID, "invalid token"),
    ]
    for token, refusal, words in cases:
        with pytest.raises(HandshakeRefused) as refused:
            identify(world.hub, app, token)
        assert refused.value.refusal is refusal, token
        assert (refused.value.status, refused.value.message.startswith(words)) == (403, True)


async def test_a_revoked_token_is_refused_with_its_reason(world: World) -> None:
    token = world.mint("u1")
    assert identify(world.hub, world.live.app, token) is not None
    await world.hub.terminate_user(world.live.app, "u1")
    with pytest.raises(HandshakeRefused) as refused:
        identify(world.hub, world.live.app, token)
    assert refused.value.refusal is Refusal.TOKEN_INVALID
    assert "terminated" in refused.value.message


def test_origins(world: World) -> None:
    live = world.live
    refuse_foreign_origin(live, GOOD)
    refuse_foreign_origin(live, None)
    refuse_foreign_origin(None, EVIL)  # unknown apps are refused by the caller, as unknown
    with pytest.raises(HandshakeRefused) as refused:
        refuse_foreign_origin(live, EVIL)
    assert refused.value.refusal is Refusal.ORIGIN_NOT_ALLOWED
    # CORS: a page may read the answers about an app it may connect to, and no others.
    assert origin_admitted(live, GOOD)
    assert not origin_admitted(live, EVIL)
    assert not origin_admitted(disabled(live), GOOD)
    assert not origin_admitted(None, GOOD)


def test_the_table_of_refusals() -> None:
    # Every entry is its own answer: two equal entries would silently become one name.
    assert len(Refusal.__members__) == len(Refusal)
    assert len({refusal.message for refusal in Refusal}) == len(Refusal)
    for refusal in Refusal:
        assert 400 <= refusal.status < 600, refusal
        # Sent after an upgrade, a refusal stops pusher-js for good (4000-4099): a retry would
        # only meet it again.
        assert refusal.code is None or 4000 <= refusal.code < 4100, refusal
    same = {
        Refusal.UNKNOWN_KEY: (404, PusherCode.APP_KEY_UNKNOWN),
        Refusal.APP_DISABLED: (403, PusherCode.APP_DISABLED),
        Refusal.ORIGIN_NOT_ALLOWED: (403, None),
        Refusal.OVER_QUOTA: (503, PusherCode.OVER_QUOTA),
    }
    assert {refusal: (refusal.status, refusal.code) for refusal in same} == same


def test_a_detail_says_the_message_more_precisely() -> None:
    plain = HandshakeRefused(Refusal.TOKEN_INVALID)
    detailed = HandshakeRefused(Refusal.TOKEN_INVALID, "invalid token claims: channels")
    assert (plain.status, plain.code, plain.message) == (403, None, "invalid token")
    assert (detailed.status, detailed.message) == (403, "invalid token claims: channels")
