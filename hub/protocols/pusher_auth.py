"""Who a Pusher client says it is, checked: the signature a private or presence subscription
carries (and the presence member it names), a user channel's grant, and the signed user_data
of `pusher:signin`. The app's backend signs with the app secret (hub/auth/signatures.py); a
refusal is the SubscriptionError or PusherError the session answers with."""

import json
from typing import Any

from hub.auth import signatures
from hub.core.access import join_refusal
from hub.core.channels import Member
from hub.core.connection import Connection
from hub.errors import (
    PusherCode,
    PusherError,
    auth_failed,
    invalid_channel,
    limit_reached,
)
from hub.models import App, ChannelKind, channel_kind, channel_name_problem, utf8_size
from hub.protocols.frames import dumps


def authorize(app: App, conn: Connection, name: str, data: dict) -> Member | None:
    """Checks the name and the signature a channel kind needs, for `pusher:subscribe`'s
    `data`; the presence member it joins as (None for other kinds)."""
    problem = channel_name_problem(name, app.settings.max_channel_name_length)
    if problem:
        raise invalid_channel(problem)
    kind = channel_kind(name)
    if kind is ChannelKind.PUBLIC:
        return None
    if kind is ChannelKind.USER:
        refusal = join_refusal(conn, name)
        if refusal is not None:
            raise refusal
        return None
    channel_data = data.get("channel_data") if kind is ChannelKind.PRESENCE else None
    if kind is ChannelKind.PRESENCE and not isinstance(channel_data, str):
        raise auth_failed("presence channels need channel_data (a JSON string)")
    signed = signatures.channel_signed_text(conn.socket_id, name, channel_data)
    if not signatures.check_auth_string(app, data.get("auth"), signed):
        raise auth_failed("Invalid signature")
    if kind is not ChannelKind.PRESENCE:
        return None
    return presence_member(app, channel_data)


def presence_member(app: App, channel_data: str) -> Member:
    """The member a presence subscription's signed channel_data names."""
    try:
        parsed = json.loads(channel_data)
    except (ValueError, RecursionError):
        raise auth_failed("channel_data is not JSON") from None
    if not isinstance(parsed, dict):
        raise auth_failed("channel_data must be a JSON object")
    user_id = parsed.get("user_id")
    # PHP and Laravel often send a number; keep its string form.
    if isinstance(user_id, bool) or not isinstance(user_id, (str, int)) or user_id == "":
        raise auth_failed("channel_data.user_id must be a non-empty string or a number")
    info = parsed.get("user_info")
    if utf8_size(dumps(info)) > app.settings.max_presence_user_info_bytes:
        raise limit_reached(
            f"user_info larger than {app.settings.max_presence_user_info_bytes} bytes",
            PusherCode.USER_INFO_TOO_LARGE,
        )
    return Member(str(user_id), info)


def signed_user_data(app: App, socket_id: str, data: Any) -> str:
    """The user_data of `pusher:signin`'s `data`, which the app's backend signed as
    `{socket_id}::user::{user_data}`. A bad signature closes the socket with 4009, as Pusher
    does."""
    if not isinstance(data, dict):
        raise PusherError(PusherCode.UNAUTHORIZED, "pusher:signin needs auth and user_data")
    user_data = data.get("user_data")
    signed = isinstance(user_data, str) and signatures.check_auth_string(
        app, data.get("auth"), signatures.signin_signed_text(socket_id, user_data)
    )
    if not signed:
        raise PusherError(PusherCode.UNAUTHORIZED, "Invalid signin signature")
    assert isinstance(user_data, str)
    return user_data


def signed_in_user(user_data: str) -> tuple[str, Any]:
    """The id and user_info of signed user_data; pusher-js needs the id as a string."""
    try:
        parsed = json.loads(user_data)
    except (ValueError, RecursionError):
        parsed = None
    user_id = parsed.get("id") if isinstance(parsed, dict) else None
    if not isinstance(user_id, str) or not user_id:
        raise PusherError(PusherCode.UNAUTHORIZED, "user_data.id must be a non-empty string")
    return user_id, parsed.get("user_info")
