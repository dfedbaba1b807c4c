"""Socket tokens (hub/auth/tokens.py, re-exported by hub/tokens.py): minting, verifying,
refusals (bad signature, tampering, age, `exp`, malformed claims) and mint's own validation.

Time is moved by patching itsdangerous's `TimestampSigner.get_timestamp`, the one place where
itsdangerous reads the clock (`int(time.time())` in itsdangerous/timed.py), so nothing else in
the process sees a fake time.
"""

import base64
import hashlib
import hmac
import json
import re
import time
from typing import Any

import pytest
from itsdangerous import TimestampSigner

from hub import tokens
from hub.auth.tokens import (
    CLOCK_SKEW,
    MAX_PATTERNS,
    SALT,
    _serializer,
    claims,
    expires_at,
)
from hub.tokens import SocketToken, TokenError, TokenExpired, mint, verify

SECRET = "s3cret"
DAY = 86400


def signed_at(monkeypatch: pytest.MonkeyPatch, second: int) -> None:
    """From now on itsdangerous signs (and measures ages) as if it were `second`."""
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: second)


def flip(text: str, index: int) -> str:
    """`text` with the character at `index` replaced by another URL-safe base64 character."""
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


# -- the public import path ---------------------------------------------------------------------


def test_public_module_re_exports_the_implementation() -> None:
    from hub.auth import tokens as impl

    assert tokens.mint is impl.mint and tokens.verify is impl.verify
    assert tokens.SocketToken is impl.SocketToken
    assert issubclass(TokenExpired, TokenError) and issubclass(TokenError, ValueError)
    assert sorted(tokens.__all__) == [
        "SocketToken",
        "TokenError",
        "TokenExpired",
        "mint",
        "verify",
    ]
    assert SALT == "hub.socket-token"


# -- round trip ---------------------------------------------------------------------------------


def test_round_trip_carries_exactly_the_claims() -> None:
    before = int(time.time())
    token = mint(
        SECRET,
        "u-42",
        user_info={"name": "Ann", "tags": [1, 2]},
        channels=["private-room:*", "presence-lobby"],
        publish=("room:*",),
        session_id="s-81f",
        ttl=600,
    )
    claims_ = verify(token, [SECRET], DAY)
    after = int(time.time())
    assert isinstance(claims_, SocketToken)
    assert claims_.user_id == "u-42"
    assert claims_.user_info == {"name": "Ann", "tags": [1, 2]}
    assert claims_.channels == ("private-room:*", "presence-lobby")
    assert claims_.publish == ("room:*",)
    assert claims_.session_id == "s-81f"
    assert before <= claims_.issued_at <= after
    assert before + 600 <= claims_.expires_at <= after + 600


def test_minimal_token_has_empty_claims() -> None:
    claims_ = verify(mint(SECRET, "u1"), [SECRET], DAY)
    assert claims_ == SocketToken(
        user_id="u1",
        user_info=None,
        channels=(),
        publish=(),
        session_id=None,
        issued_at=claims_.issued_at,
        expires_at=None,
    )
    assert abs(claims_.issued_at - time.time()) <= 2


def test_int_user_id_becomes_a_string() -> None:
    claims_ = verify(mint(SECRET, 42), [SECRET], DAY)
    assert claims_.user_id == "42"
    assert claims(7) == {"user_id": "7"}


def test_only_given_claims_are_in_the_payload() -> None:
    assert claims("u", now=1000, ttl=5) == {"user_id": "u", "exp": 1005}
    assert claims("u", channels=[], publish=[], user_info=None) == {"user_id": "u"}
    assert claims("u", user_info={}, session_id="x") == {
        "user_id": "u",
        "user_info": {},
        "session_id": "x",
    }


@pytest.mark.parametrize("info", [0, "Ann", [1, 2], True])
def test_user_info_is_an_object(info: object) -> None:
    with pytest.raises(ValueError, match="user_info must be a JSON object"):
        claims("u", user_info=info)


def test_token_is_url_safe() -> None:
    token = mint(SECRET, "u:1", user_info={"bio": "ünïcode / + = ?&" * 5}, channels=["*"], ttl=10)
    assert re.fullmatch(r"[A-Za-z0-9_.\-]+", token), token


# -- refusals -----------------------------------------------------------------------------------


def test_other_secret_is_an_invalid_token_not_an_expired_one() -> None:
    token = mint("another-secret", "u1")
    with pytest.raises(TokenError) as caught:
        verify(token, [SECRET], DAY)
    assert not isinstance(caught.value, TokenExpired)


def test_tampered_payload_is_refused() -> None:
    token = mint(SECRET, "u1", channels=["private-a"])
    payload, timestamp, signature = token.split(".")
    tampered = ".".join([flip(payload, 0), timestamp, signature])
    assert tampered != token
    with pytest.raises(TokenError) as caught:
        verify(tampered, [SECRET], DAY)
    assert not isinstance(caught.value, TokenExpired)


def test_tampered_signature_is_refused() -> None:
    token = mint(SECRET, "u1")
    payload, timestamp, signature = token.split(".")
    # The first character: the last one of a base64 HMAC also holds two padding bits.
    tampered = ".".join([payload, timestamp, flip(signature, 0)])
    with pytest.raises(TokenError) as caught:
        verify(tampered, [SECRET], DAY)
    assert not isinstance(caught.value, TokenExpired)


def test_tampered_timestamp_is_refused() -> None:
    token = mint(SECRET, "u1")
    payload, timestamp, signature = token.split(".")
    with pytest.raises(TokenError) as caught:
        verify(".".join([payload, flip(timestamp, 0), signature]), [SECRET], DAY)
    assert not isinstance(caught.value, TokenExpired)


def test_token_older_than_max_age_is_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    now = int(time.time())
    signed_at(monkeypatch, now - 101)
    token = mint(SECRET, "u1")
    signed_at(monkeypatch, now)
    assert verify(token, [SECRET], 101).issued_at == now - 101  # exactly max_age: still fine
    with pytest.raises(TokenExpired):
        verify(token, [SECRET], 100)


def test_a_backend_clock_a_little_ahead_is_tolerated(monkeypatch: pytest.MonkeyPatch) -> None:
    now = int(time.time())
    signed_at(monkeypatch, now + CLOCK_SKEW)
    ahead = mint(SECRET, "u1", channels=["private-*"])
    signed_at(monkeypatch, now + CLOCK_SKEW + 5)
    too_far = mint(SECRET, "u1")
    signed_at(monkeypatch, now)
    claims = verify(ahead, [SECRET], DAY, now=now)
    assert (claims.user_id, claims.channels, claims.issued_at) == ("u1", ("private-*",), now + 60)
    with pytest.raises(TokenExpired):
        verify(too_far, [SECRET], DAY, now=now)
    with pytest.raises(TokenError):  # skew never excuses a bad signature
        verify(ahead, ["another secret"], DAY, now=now)


def test_token_past_its_exp_is_expired() -> None:
    token = mint(SECRET, "u1", ttl=1)
    exp = verify(token, [SECRET], DAY).expires_at
    assert exp is not None
    assert verify(token, [SECRET], DAY, now=exp).expires_at == exp  # the last valid second
    with pytest.raises(TokenExpired):
        verify(token, [SECRET], DAY, now=exp + 1)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "a.b", "...", "é.x.y"])
def test_garbage_is_an_invalid_token(garbage: str) -> None:
    with pytest.raises(TokenError) as caught:
        verify(garbage, [SECRET], DAY)
    assert not isinstance(caught.value, TokenExpired)


def test_no_secret_refuses_every_token() -> None:
    with pytest.raises(TokenError):
        verify(mint(SECRET, "u1"), [], DAY)


def test_key_rotation_accepts_either_secret() -> None:
    old, new = mint("old", "u-old"), mint("new", "u-new")
    assert verify(old, ["old", "new"], DAY).user_id == "u-old"
    assert verify(new, ["old", "new"], DAY).user_id == "u-new"
    with pytest.raises(TokenError):
        verify(old, ["new"], DAY)


@pytest.mark.parametrize(
    "payload",
    [
        {"user_id": ""},
        {"user_id": 42},
        {"user_id": "has space"},
        {},
        [1, 2],
        "u1",
        None,
        {"user_id": "u", "exp": "soon"},
        {"user_id": "u", "exp": True},
        {"user_id": "u", "exp": 1.5e12},
        {"user_id": "u", "session_id": 5},
        {"user_id": "u", "channels": "private-a"},
        {"user_id": "u", "channels": ["bad name"]},
        {"user_id": "u", "channels": None},
        {"user_id": "u", "publish": [5]},
        {"user_id": "u", "publish": ["x"] * (MAX_PATTERNS + 1)},
    ],
)
def test_signed_payload_of_the_wrong_shape_is_refused(payload: Any) -> None:
    token = _serializer(SECRET).dumps(payload)
    with pytest.raises(TokenError) as caught:
        verify(token, [SECRET], DAY)
    assert not isinstance(caught.value, TokenExpired)


# -- mint's validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user_id", ["", "has space", "hash#tag", "a/b", "x" * 129, None, True, 1.5, ["u"]]
)
def test_mint_refuses_bad_user_ids(user_id: Any) -> None:
    with pytest.raises(ValueError):
        mint(SECRET, user_id)


def test_mint_accepts_a_user_id_of_128_characters() -> None:
    assert verify(mint(SECRET, "x" * 128), [SECRET], DAY).user_id == "x" * 128


@pytest.mark.parametrize("ttl", [0, -1, True, False, 1.5, "60"])
def test_mint_refuses_bad_ttls(ttl: Any) -> None:
    with pytest.raises(ValueError, match="ttl"):
        mint(SECRET, "u1", ttl=ttl)


@pytest.mark.parametrize("claim", ["channels", "publish"])
@pytest.mark.parametrize(
    "patterns",
    [
        "private-room",
        {"private-room": True},
        ["room lobby"],
        ["room/lobby"],
        [""],
        [5],
        ["x" * 201],
        ["p-*"] * (MAX_PATTERNS + 1),
    ],
)
def test_mint_refuses_bad_patterns(claim: str, patterns: Any) -> None:
    with pytest.raises(ValueError, match=claim):
        mint(SECRET, "u1", **{claim: patterns})


def test_mint_accepts_the_limits_of_patterns() -> None:
    patterns = [f"p{i}-*" for i in range(MAX_PATTERNS - 1)] + ["x" * 200]
    claims_ = verify(mint(SECRET, "u1", channels=patterns, publish=["*"]), [SECRET], DAY)
    assert claims_.channels == tuple(patterns)
    assert claims_.publish == ("*",)


@pytest.mark.parametrize("session_id", ["", "s" * 129, 5, ["s"]])
def test_mint_refuses_bad_session_ids(session_id: Any) -> None:
    with pytest.raises(ValueError, match="session_id"):
        mint(SECRET, "u1", session_id=session_id)


def test_mint_accepts_a_session_id_of_128_characters() -> None:
    assert verify(mint(SECRET, "u1", session_id="s" * 128), [SECRET], DAY).session_id == "s" * 128


# -- expires_at ---------------------------------------------------------------------------------


def _token(issued_at: int, exp: int | None) -> SocketToken:
    return SocketToken("u1", None, (), (), None, issued_at, exp)


def test_expires_at_is_the_earlier_of_exp_and_max_age() -> None:
    assert expires_at(_token(1000, None), 60) == 1060
    assert expires_at(_token(1000, 1030), 60) == 1030
    assert expires_at(_token(1000, 2000), 60) == 1060
    assert expires_at(_token(1000, 1060), 60) == 1060


def test_expires_at_of_a_verified_token() -> None:
    claims_ = verify(mint(SECRET, "u1", ttl=30), [SECRET], DAY)
    assert expires_at(claims_, DAY) == claims_.expires_at
    assert expires_at(claims_, 10) == claims_.issued_at + 10


def test_the_readme_recipe_mints_a_token_the_hub_accepts() -> None:
    """Built from the README's description alone, as a backend in another language would."""
    secret, second = "app-secret", int(time.time())

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    claims_json = json.dumps({"user_id": "42", "channels": ["private-room:*"], "exp": second + 60})
    payload = b64(claims_json.encode())
    timestamp = b64(second.to_bytes(4, "big"))
    key = hashlib.sha256(b"hub.socket-token" + b"signer" + secret.encode()).digest()
    signature = b64(hmac.new(key, f"{payload}.{timestamp}".encode(), hashlib.sha256).digest())
    token = verify(f"{payload}.{timestamp}.{signature}", [secret], DAY)
    assert (token.user_id, token.channels, token.issued_at) == ("42", ("private-room:*",), second)
    assert token.expires_at == second + 60
