"""Every client-visible error code, defined once.

Pusher close/error codes (4000-4399) decide what pusher-js does next: 4001-4099 and >= 4300
stop it for good, 4100-4199 reconnect after a backoff, 4200-4299 reconnect at once. HTTP API
errors carry a status and a JSON message. Call sites name these, never a bare number.
"""

from dataclasses import dataclass
from enum import IntEnum

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
