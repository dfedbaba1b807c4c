"""Signed socket tokens: what an app's backend gives a browser so that the hub knows who is on a
socket and what it may join and publish.

A token is an itsdangerous URL-safe timed signature (HMAC-SHA256, salt `hub.socket-token`) of
a compact JSON object with the claims:

    {"user_id": "42", "user_info": {...}, "channels": ["private-room:*"],
     "publish": ["room:*"], "session_id": "s-81f", "exp": 1767225600}

Only `user_id` is always there; `exp` (Unix seconds) when the token was minted with a ttl. The
token's own timestamp is when it was minted: the hub refuses a token older than the app's
`token_max_age` or past its `exp`, signed with no secret of the app, or changed in any byte.
Patterns in `channels` and `publish` are channel names in which `*` stands for any characters.

`mint` is the whole minting side; `verify` is the hub's side. Neither touches the store.
"""

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from hub.models import channel_name_problem, user_id_problem

SALT = "hub.socket-token"
# Longest pattern, and most patterns per claim: a token travels in a URL.
MAX_PATTERN_LENGTH = 200
MAX_PATTERNS = 100
# Seconds a token may seem minted in the future: the backend's clock may run ahead of the hub's.
CLOCK_SKEW = 60


class TokenError(ValueError):
    """A token the hub refuses: bad signature, malformed, or expired (`TokenExpired`)."""


class TokenExpired(TokenError):
    pass


@dataclass(frozen=True, slots=True)
class SocketToken:
    """The verified claims of a token, with the second it was minted."""

    user_id: str
    user_info: Any
    channels: tuple[str, ...]
    publish: tuple[str, ...]
    session_id: str | None
    issued_at: int
    expires_at: int | None  # the `exp` claim; the app's max age applies as well


def _serializer(secrets: str | list[str]) -> URLSafeTimedSerializer:
    # With a list, itsdangerous signs with the last secret and accepts any of them: an app's
    # tokens stay valid through a key rotation until the old pair is revoked.
    return URLSafeTimedSerializer(
        secrets, salt=SALT, signer_kwargs={"digest_method": hashlib.sha256}
    )


def check_patterns(patterns: Any, claim: str) -> tuple[str, ...]:
    """The patterns of a `channels` or `publish` claim, each a channel name with `*`s."""
    if isinstance(patterns, str) or not isinstance(patterns, list | tuple):
        raise ValueError(f"{claim} must be a list of channel patterns")
    if len(patterns) > MAX_PATTERNS:
        raise ValueError(f"{claim}: at most {MAX_PATTERNS} patterns")
    for pattern in patterns:
        if pattern != "*":
            problem = channel_name_problem(
                pattern.replace("*", "x") if isinstance(pattern, str) else pattern,
                MAX_PATTERN_LENGTH,
            )
            if problem:
                raise ValueError(f"{claim}: {pattern!r}: {problem} (and * as a wildcard)")
    return tuple(patterns)


def claims(
    user_id: Any,
    *,
    user_info: Any = None,
    channels: Any = (),
    publish: Any = (),
    session_id: Any = None,
    ttl: Any = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The checked claims of a new token; ValueError says what is wrong."""
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        user_id = str(user_id)
    problem = user_id_problem(user_id)
    if problem:
        raise ValueError(problem)
    payload: dict[str, Any] = {"user_id": user_id}
    if user_info is not None:
        # What presence shows of a member: a JSON object, as Pusher's server libraries take it.
        if not isinstance(user_info, dict):
            raise ValueError('user_info must be a JSON object, e.g. {"name": "Ann"}')
        payload["user_info"] = user_info
    if channels:
        payload["channels"] = list(check_patterns(channels, "channels"))
    if publish:
        payload["publish"] = list(check_patterns(publish, "publish"))
    if session_id is not None:
        if not isinstance(session_id, str) or not 0 < len(session_id) <= 128:
            raise ValueError("session_id must be a string of 1 to 128 characters")
        payload["session_id"] = session_id
    if ttl is not None:
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
            raise ValueError("ttl must be a whole number of seconds > 0")
        payload["exp"] = int(time.time() if now is None else now) + ttl
    return payload


def mint(
    app_secret: str,
    user_id: str,
    *,
    user_info: Any = None,
    channels: Any = (),
    publish: Any = (),
    session_id: str | None = None,
    ttl: int | None = None,
) -> str:
    """A socket token for `user_id`, signed with the app's secret.

    `channels`: the private and presence channels the socket may join (public ones need no
    claim); `publish`: the channels it may push events to; both exact names or patterns with
    `*`. `session_id`: terminating that session closes the socket and refuses the token.
    `ttl`: seconds until it expires (the app's `token_max_age` applies as well).
    """
    payload = claims(
        user_id,
        user_info=user_info,
        channels=channels,
        publish=publish,
        session_id=session_id,
        ttl=ttl,
    )
    return _serializer(app_secret).dumps(payload)


def verify(token: str, secrets: list[str], max_age: int, now: float | None = None) -> SocketToken:
    """The claims of `token` if one of `secrets` signed it within `max_age` seconds and it has
    not passed its `exp`; TokenExpired or TokenError otherwise."""
    if not secrets:
        raise TokenError("the app has no secret")
    serializer = _serializer(secrets)
    current = time.time() if now is None else now
    try:
        payload, signed_at = serializer.loads(token, max_age=max_age, return_timestamp=True)
    except SignatureExpired as expired:
        # itsdangerous checks the signature first, so the token is genuine; it also calls a
        # token from the future expired. A backend whose clock runs a little ahead is fine.
        signed_at = expired.date_signed
        if signed_at is None or not 0 < signed_at.timestamp() - current <= CLOCK_SKEW:
            raise TokenExpired("token expired") from None
        payload = serializer.load_payload(expired.payload)
    except BadData:
        raise TokenError("invalid token") from None
    issued_at = int(signed_at.timestamp())
    parsed = _parse(payload)
    if parsed["expires_at"] is not None and current > parsed["expires_at"]:
        raise TokenExpired("token expired")
    return SocketToken(issued_at=issued_at, **parsed)


def _parse(payload: Any) -> dict[str, Any]:
    # Only a holder of the secret can have written this, but a future or buggy minter might
    # have written something else: check the shape rather than trust it.
    try:
        if not isinstance(payload, dict) or user_id_problem(payload.get("user_id")):
            raise ValueError("no valid user_id")
        exp = payload.get("exp")
        if exp is not None and (isinstance(exp, bool) or not isinstance(exp, int)):
            raise ValueError("exp is not a whole number")
        session_id = payload.get("session_id")
        if session_id is not None and not isinstance(session_id, str):
            raise ValueError("session_id is not a string")
        return {
            "user_id": payload["user_id"],
            "user_info": payload.get("user_info"),
            "channels": check_patterns(payload.get("channels", []), "channels"),
            "publish": check_patterns(payload.get("publish", []), "publish"),
            "session_id": session_id,
            "expires_at": exp,
        }
    except ValueError as error:
        raise TokenError(f"invalid token claims: {error}") from None


def expires_at(token: SocketToken, max_age: int) -> int:
    """The Unix second after which the hub refuses `token`: its `exp`, or the app's max age."""
    latest = token.issued_at + max_age
    return latest if token.expires_at is None else min(latest, token.expires_at)
