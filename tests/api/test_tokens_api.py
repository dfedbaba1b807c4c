"""POST /apps/{id}/tokens over a real hub: the token it mints verifies with the secret of the
key pair that asked, carries exactly the claims sent, and every bad body is a 400."""

import base64
import time

import pytest
from conftest import call

from hub.auth.tokens import TokenError, verify
from hub.pytest_plugin import RunningHub

DAY = 86400  # the default token_max_age


def basic(key: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


def tokens_path(hub: RunningHub) -> str:
    return f"/apps/{hub.app_id}/tokens"


async def test_a_token_with_every_claim(hub_server: RunningHub) -> None:
    body = {
        "user_id": "u1",
        "user_info": {"name": "Ann"},
        "channels": ["private-room:*", "presence-lobby"],
        "publish": ["room:*"],
        "session_id": "s-1",
        "ttl": 600,
    }
    before = int(time.time())
    status, reply = await call(hub_server, "POST", tokens_path(hub_server), body)
    assert status == 200 and set(reply) == {"token", "expires_at"}, reply
    claims = verify(reply["token"], [hub_server.secret], DAY)
    assert (claims.user_id, claims.user_info, claims.session_id) == ("u1", {"name": "Ann"}, "s-1")
    assert (claims.channels, claims.publish) == (("private-room:*", "presence-lobby"), ("room:*",))
    assert before <= claims.issued_at <= int(time.time())
    assert reply["expires_at"] == claims.issued_at + 600


async def test_without_a_ttl_the_app_max_age_is_the_expiry(hub_server: RunningHub) -> None:
    status, reply = await call(hub_server, "POST", tokens_path(hub_server), {"user_id": "u1"})
    assert status == 200
    claims = verify(reply["token"], [hub_server.secret], DAY)
    assert (claims.channels, claims.publish, claims.session_id) == ((), (), None)
    assert reply["expires_at"] == claims.issued_at + DAY


async def test_signed_with_the_secret_of_the_pair_that_asked(hub_server: RunningHub) -> None:
    pair = await hub_server.server.store.add_key_pair(hub_server.app_id)
    await hub_server.server.apps.reload()
    status, reply = await call(
        hub_server,
        "POST",
        tokens_path(hub_server),
        {"user_id": "u1"},
        query="",
        headers=basic(pair.key, pair.secret),
    )
    assert status == 200
    assert verify(reply["token"], [pair.secret], DAY).user_id == "u1"
    with pytest.raises(TokenError):
        verify(reply["token"], [hub_server.secret], DAY)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "user id must be a non-empty string"),
        ({"user_id": ""}, "user id must be a non-empty string"),
        ({"user_id": "a b"}, "user id may only contain"),
        ({"user_id": "u", "ttl": 0}, "ttl must be"),
        ({"user_id": "u", "ttl": "60"}, "ttl must be"),
        ({"user_id": "u", "channels": "private-*"}, "channels must be a list"),
        ({"user_id": "u", "publish": ["room lobby"]}, "publish: 'room lobby'"),
        ({"user_id": "u", "session_id": 7}, "session_id must be"),
        ({"user_id": "u", "user_info": "x" * 1100}, "user_info larger than 1024 bytes"),
        ({"user_id": "u", "channel": ["private-x"]}, "unknown field(s): channel"),
    ],
)
async def test_bad_bodies_are_400(hub_server: RunningHub, body: dict, message: str) -> None:
    status, reply = await call(hub_server, "POST", tokens_path(hub_server), body)
    assert status == 400 and message in reply["error"], reply


async def test_an_unsigned_request_is_401(hub_server: RunningHub) -> None:
    status, _ = await call(
        hub_server, "POST", tokens_path(hub_server), {"user_id": "u1"}, secret="wrong"
    )
    assert status == 401
