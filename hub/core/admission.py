"""The admission of a new connection, one step for every endpoint (Pusher, Phoenix, SSE): is
there such an app, is it active, does it allow the page's origin, has it room for one more
connection, and who is connecting (the socket token). A refusal is a `Refusal` of the table in
hub/errors.py, so the same cause gets the same answer whichever endpoint it reached.

The endpoints differ only in what they ask of it: Phoenix counts the quota before its upgrade
(SSE and Pusher count it when they connect); Phoenix and SSE identify a connection by its token,
while a Pusher socket connects anonymous and signs in later. Pusher also checks a foreign origin
on its own, before its upgrade and its other checks (`refuse_foreign_origin`).
"""

from dataclasses import dataclass

from hub.auth.tokens import SocketToken, TokenError, TokenExpired
from hub.core.apps import LiveApp
from hub.core.hub import Hub
from hub.errors import HandshakeRefused, Refusal
from hub.models import App


@dataclass(frozen=True, slots=True)
class Admitted:
    """What an admitted connection starts with: its app and its token's claims (None for an
    anonymous connection)."""

    app: App
    token: SocketToken | None


def admit(
    hub: Hub,
    live: LiveApp | None,
    origin: str | None,
    token: str | None,
    *,
    count_quota: bool,
    by_token: bool = True,
) -> Admitted:
    """Admits a connection to the app `live` (None: no app has the key it named) from a page of
    `origin` (None: no Origin header, a server-side client), presenting `token`, or raises
    HandshakeRefused. `count_quota`: refuse an app at its quota here, before connecting.
    `by_token`: the token is the connection's identity, required where the app requires users
    (`user_authentication_required`)."""
    if live is None:
        raise HandshakeRefused(Refusal.UNKNOWN_KEY)
    app = live.app
    if not app.active:
        raise HandshakeRefused(Refusal.APP_DISABLED)
    refuse_foreign_origin(live, origin)
    if count_quota and hub.at_quota(app):
        raise HandshakeRefused(Refusal.OVER_QUOTA)
    if not by_token:
        return Admitted(app, None)
    return Admitted(app, identify(hub, app, token))


def refuse_foreign_origin(live: LiveApp | None, origin: str | None) -> None:
    """HandshakeRefused when `origin` is not on the app's list. No Origin header (a server-side
    client) and no known app pass: the caller refuses unknown apps. Browsers do not apply the
    same-origin policy to websockets: the hub's own origin is checked like any."""
    if origin is not None and live is not None and not live.origins.allows(origin):
        raise HandshakeRefused(Refusal.ORIGIN_NOT_ALLOWED)


def origin_admitted(live: LiveApp | None, origin: str) -> bool:
    """Whether a page of `origin` may read the answers about this app (CORS): it passes the
    checks `admit` makes before the quota and the token, so it may read those refusals."""
    return live is not None and live.app.active and live.origins.allows(origin)


def identify(hub: Hub, app: App, token: str | None) -> SocketToken | None:
    """The claims of the token a connection presents (None: anonymous), or HandshakeRefused
    when the token is expired, invalid or revoked, or missing where the app requires users."""
    if not token:
        if app.settings.user_authentication_required:
            raise HandshakeRefused(Refusal.TOKEN_REQUIRED)
        return None
    try:
        return hub.check_token(app, token)
    except TokenExpired:
        raise HandshakeRefused(Refusal.TOKEN_EXPIRED) from None
    except TokenError as error:
        # The token error says what is wrong (revoked, which claim...): the client sees it.
        raise HandshakeRefused(Refusal.TOKEN_INVALID, str(error)) from None
