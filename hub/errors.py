"""Every client-visible error code, defined once.

Pusher close/error codes (4000-4399) decide what pusher-js does next: 4001-4099 and >= 4300
stop it for good, 4100-4199 reconnect after a backoff, 4200-4299 reconnect at once. HTTP API
errors carry a status and a JSON message. Call sites name these, never a bare number.
"""

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from hub.models import Disconnect

# The exceptions below are plain (not frozen) dataclasses: contextlib assigns __traceback__.


class PusherCode(IntEnum):
    """Pusher protocol error codes, sent in `pusher:error` and as websocket close codes."""

    APP_KEY_UNKNOWN = 4001  # no app has this key: never reconnect
    APP_DISABLED = 4003  # the app exists but is switched off
    OVER_QUOTA = 4004  # the app's connection quota is used up
    PATH_NOT_FOUND = 4005  # not /app/{key}
    PROTOCOL_UNSUPPORTED = 4007  # protocol is not an integer in the accepted range
    PROTOCOL_MISSING = 4008  # no protocol query parameter
    UNAUTHORIZED = 4009  # connection-level authorization failed
    OVER_CAPACITY = 4100  # try again after a backoff (slow consumer, server full)
    RECONNECT = 4200  # reconnect now: server shutting down or restarting
    PONG_TIMEOUT = 4201  # no answer to the server's ping
    CLIENT_EVENT_REJECTED = 4301  # client event refused; the connection stays open


# Why the core ended a connection, as a close code. Phoenix sockets close with the same codes
# (phoenix.js ignores them and reconnects; a refused reconnect fails at the upgrade), so logs
# and packet captures read one table whatever the protocol.
CLOSE_CODES = {
    Disconnect.SHUTDOWN: PusherCode.RECONNECT,
    Disconnect.APP_GONE: PusherCode.APP_KEY_UNKNOWN,
    Disconnect.APP_DISABLED: PusherCode.APP_DISABLED,
    Disconnect.KEY_REVOKED: PusherCode.APP_KEY_UNKNOWN,
    Disconnect.PONG_TIMEOUT: PusherCode.PONG_TIMEOUT,
    Disconnect.SLOW: PusherCode.OVER_CAPACITY,
    # 4009: pusher-js must not reconnect by itself with the same credentials.
    Disconnect.TERMINATED: PusherCode.UNAUTHORIZED,
    Disconnect.SIGNIN_TIMEOUT: PusherCode.UNAUTHORIZED,
}


class PhoenixReason(StrEnum):
    """`reason` of a Phoenix error reply (`{"status": "error", "response": {"reason": ...}}`)."""

    UNAUTHORIZED = "unauthorized"  # the socket's identity does not allow the join or push
    UNMATCHED_TOPIC = "unmatched topic"  # a push or leave on a topic the socket has not joined
    INVALID_TOPIC = "invalid topic"  # not a valid channel name
    PRESENCE_FULL = "presence full"  # the presence channel has its maximum of members
    RESERVED_EVENT = "reserved event"  # phx_*, presence_*, pusher:*, hub:* are the server's
    TOO_LARGE = "too large"  # payload, event name or user_info over the app's limit
    RATE_LIMITED = "rate limited"  # over the app's client_events_per_second
    INVALID_HISTORY = "invalid history"  # a malformed `history` or `since` in the join payload
    UNAVAILABLE = "unavailable"  # the push could not be stored (full disk...) or the hub stops


class PhoenixClose(IntEnum):
    """Close codes of the Phoenix endpoint for frames it cannot take (RFC 6455 codes)."""

    UNSUPPORTED_DATA = 1003  # a binary frame: hub speaks the JSON serializer only
    BAD_FRAME = 1007  # not a JSON [join_ref, ref, topic, event, payload] array


@dataclass
class HandshakeRefused(Exception):
    """A websocket upgrade refused with an HTTP status and a JSON message (Phoenix endpoint:
    phoenix.js retries refused upgrades with its reconnect backoff)."""

    status: int
    message: str


@dataclass
class PusherError(Exception):
    """A refusal of the Pusher protocol; `close` says whether the socket is closed after it."""

    code: PusherCode | None
    message: str
    close: bool = True


@dataclass
class SubscriptionError(Exception):
    """A refused subscription: the socket stays open, the channel gets
    `pusher:subscription_error` with this type and status (the shape pusher-js itself uses
    when an auth endpoint fails, so Echo's `.error()` sees one shape)."""

    type: str
    message: str
    status: int


def auth_failed(message: str) -> SubscriptionError:
    return SubscriptionError("AuthError", message, 401)


def invalid_channel(message: str) -> SubscriptionError:
    return SubscriptionError("InvalidChannel", message, 4009)


def invalid_history(message: str) -> SubscriptionError:
    return SubscriptionError("InvalidHistory", message, 400)


def limit_reached(message: str, status: int) -> SubscriptionError:
    return SubscriptionError("LimitReached", message, status)


PRESENCE_FULL_STATUS = 4100
USER_INFO_TOO_LARGE_STATUS = 4301


class ApiError(Exception):
    """An HTTP API refusal: answered as `{"error": message}` with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def too_large(message: str) -> ApiError:
    return ApiError(413, message)


def unavailable(message: str) -> ApiError:
    """The hub cannot take this now (its store cannot write, or it is stopping): try again."""
    return ApiError(503, message)
