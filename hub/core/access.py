"""Who may join and publish on which channel, whatever the wire protocol.

A connection's rights come from its identity: a signed-in user (Pusher sign-in, or the user of a
socket token) and, for token sockets, the channel patterns the token grants. Pusher's per-channel
signatures are checked by its protocol session; everything else is decided here, once.
"""

from hub.core.connection import Connection
from hub.errors import SubscriptionError, auth_failed
from hub.models import SERVER_TO_USER_PREFIX, ChannelKind, channel_kind


def join_refusal(conn: Connection, name: str) -> SubscriptionError | None:
    """Why `conn` may not join `name` on the strength of its identity, or None.

    Public channels and `#general` are open to every socket of the app; `#server-to-user-{id}`
    to sockets signed in as that user; private, encrypted and presence channels to sockets
    whose token grants them.
    """
    kind = channel_kind(name)
    if kind in (ChannelKind.PUBLIC, ChannelKind.GENERAL):
        return None
    if kind is ChannelKind.USER:
        if conn.user_id is not None and name == SERVER_TO_USER_PREFIX + conn.user_id:
            return None
        return auth_failed(f"{name} is only for a socket signed in as that user")
    if conn.grants is None:
        return auth_failed(f"{name} needs a token that grants it")
    if not conn.grants.may_join(name):
        return auth_failed(f"the token does not grant {name}")
    return None


def publish_refusal(conn: Connection, name: str) -> str | None:
    """Why `conn` may not publish to `name` by a client push, or None. `#` channels (a user's,
    `#general`) and encrypted channels take events from the HTTP API only."""
    if name not in conn.channels:
        return f"not joined to {name}"
    kind = channel_kind(name)
    if kind in (ChannelKind.USER, ChannelKind.GENERAL):
        return f"{name} takes events from the server only"
    if kind is ChannelKind.ENCRYPTED:
        # As Pusher refuses client events there: subscribers expect ciphertext made with the
        # app's master key, which no client holds.
        return f"{name} is end-to-end encrypted: publish through the HTTP API"
    if conn.grants is None or not conn.grants.may_publish(name):
        return f"the token does not grant publishing to {name}"
    return None
