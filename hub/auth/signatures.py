"""Pusher HMAC-SHA256 signatures: channel subscriptions, user sign-in and HTTP API requests.

Every comparison is constant-time; secrets never leave this module in a message.
"""

import hashlib
import hmac
from collections.abc import Mapping

from hub.errors import ApiError, unauthorized
from hub.models import App

# How far an API request's auth_timestamp may be from now, in seconds (Pusher: 600).
REQUEST_WINDOW = 600


def sign(secret: str, text: str) -> str:
    # hmac.digest: the same MAC in one C call (OpenSSL), without an HMAC object per signature.
    return hmac.digest(secret.encode(), text.encode(), "sha256").hex()


def check_auth_string(app: App, auth: object, signed_text: str) -> bool:
    """True when `auth` is "{key}:{hex}" for one of the app's key pairs and the hex is the
    signature of `signed_text` with that pair's secret."""
    if not isinstance(auth, str) or ":" not in auth:
        return False
    key, _, signature = auth.partition(":")
    matched = False
    for secret in app.secrets_for(key):
        # Every candidate is compared, so timing does not tell which one matched.
        matched |= hmac.compare_digest(sign(secret, signed_text), signature)
    return matched


def channel_signed_text(socket_id: str, channel: str, channel_data: str | None = None) -> str:
    if channel_data is None:
        return f"{socket_id}:{channel}"
    return f"{socket_id}:{channel}:{channel_data}"


def signin_signed_text(socket_id: str, user_data: str) -> str:
    return f"{socket_id}::user::{user_data}"


def request_signed_text(method: str, path: str, query: Mapping[str, str]) -> str:
    """The string a Pusher SDK signs: METHOD, path and the sorted, unescaped query."""
    params = sorted((k.lower(), v) for k, v in query.items() if k != "auth_signature")
    return "\n".join([method.upper(), path, "&".join(f"{k}={v}" for k, v in params)])


def verify_request(
    app: App, method: str, path: str, query: Mapping[str, str], body: bytes, now: float
) -> None:
    """Checks a signed HTTP API request (auth_version 1.0); raises a 401 ApiError if bad."""
    key = query.get("auth_key")
    secrets = app.secrets_for(key) if key else ()
    if not secrets:
        raise unauthorized("auth_key is missing or not a key of this app")
    try:
        timestamp = int(query.get("auth_timestamp", ""))
    except ValueError:
        raise unauthorized("auth_timestamp must be Unix seconds") from None
    if abs(now - timestamp) > REQUEST_WINDOW:
        raise unauthorized(
            f"auth_timestamp expired: more than {REQUEST_WINDOW} s from the server's time"
        )
    if query.get("auth_version", "1.0") != "1.0":
        raise unauthorized("auth_version must be 1.0")
    if body and not hmac.compare_digest(query.get("body_md5", ""), hashlib.md5(body).hexdigest()):
        raise unauthorized("body_md5 is missing or does not match the body")
    signature = query.get("auth_signature", "")
    text = request_signed_text(method, path, query)
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(sign(secret, text), signature)
    if not matched:
        raise unauthorized("invalid signature")


def verify_basic(app: App, key: str, secret: str) -> None:
    """HTTP Basic `key:secret` for the API; raises a 401 ApiError if it is not a pair of the app."""
    matched = False
    for known in app.secrets_for(key):
        matched |= hmac.compare_digest(known.encode(), secret.encode())
    if not matched:
        raise ApiError(401, "invalid key or secret")
