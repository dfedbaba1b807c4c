"""Every client-visible error code, defined once.

Pusher close/error codes (4000-4399) decide what pusher-js does next: 4001-4099 and >= 4300
stop it for good, 4100-4199 reconnect after a backoff, 4200-4299 reconnect at once. RFC 6455
close codes (1000-1011) are the websocket's own. A handshake refusal is one entry of `Refusal`,
the same answer on every endpoint. HTTP API errors carry a status and a JSON message. Call
sites name these, never a bare number.
"""

from dataclasses import dataclass
from enum import Enum, IntEnum, StrEnum

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
    # The same numbers as `status` of a `pusher:subscription_error` (soketi's), where they mean
    # something else; aliases, so each use reads what it means.
    INVALID_CHANNEL = 4009  # the channel name is not valid
    PRESENCE_FULL = 4100  # the presence channel has its maximum of members
    USER_INFO_TOO_LARGE = 4301  # channel_data's user_info is over the app's limit
    TOO_MANY_CHANNELS = 4004  # the socket has its quota of channels (max_channels_per_connection)


class CloseCode(IntEnum):
    """RFC 6455 close codes: the websocket's own, and the Phoenix endpoint's for frames it
    cannot take."""

    NORMAL = 1000
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003  # a binary frame where only text is spoken (Phoenix's JSON)
    # A message its type does not allow: text that is not UTF-8, or a Phoenix frame that is
    # not a JSON [join_ref, ref, topic, event, payload] array.
    INVALID_DATA = 1007
    TOO_BIG = 1009


def close_code_allowed(code: int) -> bool:
    """Whether a peer may send `code` in a close frame (RFC 6455 7.4 and IANA's registry):
    1000-1003 and 1007-1014 are assigned, 3000-4999 are for libraries and applications. 1004 is
    reserved, 1005, 1006 and 1015 must never be on the wire, 1016-2999 are unassigned."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


# Why the core ended a connection, as a close code. Phoenix sockets close with the same codes
# (phoenix.js ignores them and reconnects; a refused reconnect fails at the upgrade), so logs
# and packet captures read one table whatever the protocol.
CLOSE_CODES = {
    Disconnect.SHUTDOWN: PusherCode.RECONNECT,
    Disconnect.STALLED: PusherCode.RECONNECT,
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
    TOO_MANY_CHANNELS = "too many channels"  # the socket has its app's cap of joined topics
    RESERVED_EVENT = "reserved event"  # phx_*, presence_*, pusher:*, hub:* are the server's
    TOO_LARGE = "too large"  # payload, event name or user_info over the app's limit
    RATE_LIMITED = "rate limited"  # over the app's client_events_per_second
    INVALID_HISTORY = "invalid history"  # a malformed `history` or `since` in the join payload
    UNAVAILABLE = "unavailable"  # the push could not be stored (full disk...) or the hub stops


class Refusal(Enum):
    """Why a new connection (websocket or event stream) is refused, with its one answer: the
    HTTP status of a refusal before the upgrade (Phoenix, SSE, and Pusher's foreign origin),
    the close code sent with `pusher:error` after it (Pusher; None: never refused there), and
    the message, which every endpoint sends as it is."""

    def __init__(self, status: int, code: PusherCode | None, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message

    # Every endpoint: the admission step (hub/core/admission.py), in its order.
    UNKNOWN_KEY = 404, PusherCode.APP_KEY_UNKNOWN, "unknown app key"
    APP_DISABLED = 403, PusherCode.APP_DISABLED, "app is disabled"
    ORIGIN_NOT_ALLOWED = 403, None, "origin not allowed for this app"
    OVER_QUOTA = 503, PusherCode.OVER_QUOTA, "app is over its connection quota"
    TOKEN_REQUIRED = 403, None, "this app requires a token"
    TOKEN_EXPIRED = 403, None, "token expired"
    TOKEN_INVALID = 403, None, "invalid token"  # the token error's text, when it has one
    # Any connection, on arrival: a connection limit (hub/wire/limits.py).
    TOO_MANY_CONNECTIONS = 503, None, "too many connections; try again later"
    TOO_MANY_FROM_ADDRESS = 503, None, "too many connections from this address"
    # Websocket handshakes: the request itself (the front door's), then the upgrade headers.
    HEAD_TIMEOUT = 408, None, "request head not received in time"
    HEAD_TOO_LARGE = 431, None, "request head too large"
    TOO_MANY_HEADERS = 431, None, "too many header lines"
    BODY_TIMEOUT = 408, None, "request body not received in time"
    LOOKUP_FAILED = 503, None, "app lookup failed; try again"  # the store did not answer
    INTERNAL = 500, None, "internal error"  # a bug: logged with its traceback
    NOT_GET = 405, None, "websocket handshakes are GET requests"
    NOT_WEBSOCKET = 400, None, 'Can "Upgrade" only to "websocket"'
    NO_CONNECTION_UPGRADE = 400, None, '"Connection" must include "Upgrade"'
    WEBSOCKET_VERSION = 426, None, "websocket version 13 required"
    WEBSOCKET_KEY = 400, None, "missing or malformed Sec-WebSocket-Key"
    # Pusher's own, in its order after the upgrade: path, admission, protocol.
    PATH_NOT_FOUND = 404, PusherCode.PATH_NOT_FOUND, "Path not found: use /app/{key}"
    PROTOCOL_MISSING = 400, PusherCode.PROTOCOL_MISSING, "No protocol version supplied"
    PROTOCOL_UNSUPPORTED = 400, PusherCode.PROTOCOL_UNSUPPORTED, "Unsupported protocol version"
    # Phoenix's own, before admission.
    VSN_UNSUPPORTED = 400, None, "vsn must be 2.x: hub speaks the V2 JSON serializer"
    AUTH_TOKEN_NOT_BASE64 = 403, None, "authToken is not base64"
    # The event stream's own, after admission.
    CHANNEL_MISSING = 400, None, "name at least one channel: ?channel=NAME"
    CHANNEL_INVALID = 400, None, "invalid channel name"  # with the name and what is wrong
    CHANNEL_REFUSED = 403, None, "channel refused"  # with the core's reason
    TOO_MANY_CHANNELS = 400, None, "too many channels"  # over max_channels_per_connection


@dataclass
class HandshakeRefused(Exception):
    """A new connection refused: answered with the refusal's status and `{"error": message}`
    before an upgrade (phoenix.js retries those with its reconnect backoff), or with
    `pusher:error` and its close code after one. `detail` says the table's message more
    precisely where the cause has words of its own (the token error, the bad channel name)."""

    refusal: Refusal
    detail: str = ""

    @property
    def status(self) -> int:
        return self.refusal.status

    @property
    def code(self) -> PusherCode | None:
        return self.refusal.code

    @property
    def message(self) -> str:
        return self.detail or self.refusal.message


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
    return SubscriptionError("InvalidChannel", message, PusherCode.INVALID_CHANNEL)


def invalid_history(message: str) -> SubscriptionError:
    return SubscriptionError("InvalidHistory", message, 400)


def limit_reached(message: str, status: int) -> SubscriptionError:
    return SubscriptionError("LimitReached", message, status)


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


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def too_large(message: str) -> ApiError:
    return ApiError(413, message)


def app_disabled() -> ApiError:
    """The HTTP API's answer for an app switched off: the handshakes' own refusal."""
    return ApiError(Refusal.APP_DISABLED.status, Refusal.APP_DISABLED.message)


def unavailable(message: str) -> ApiError:
    """The hub cannot take this now (its store cannot write, or it is stopping): try again."""
    return ApiError(503, message)
