"""Who a connection is, and ending a user's or a session's sockets: token checks, sign-in, and
terminations with the revocations that keep the tokens out (hub-wide when the hub spans
processes). The Hub inherits these."""

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hub.auth import tokens
from hub.core.apps import AppRegistry
from hub.core.connection import Connection
from hub.core.revocations import SESSION, USER, Revocations
from hub.models import App, Disconnect

if TYPE_CHECKING:
    from hub.core.wide import HubWide

log = logging.getLogger("hub.core")


class Identity:
    apps: AppRegistry
    revocations: Revocations
    wide: "HubWide | None"

    app_connections: Callable[[str], list[Connection]]  # hub/core/reads.py's

    def check_token(self, app: App, token: str) -> tokens.SocketToken:
        """The claims of a socket token presented to `app`; raises TokenError (expired,
        invalid, or revoked by terminating its user or session)."""
        secrets = [pair.secret for pair in app.keys]
        claims = tokens.verify(token, secrets, app.settings.token_max_age)
        self.revocations.check(app.id, claims)
        return claims

    def sign_in(self, conn: Connection, user_id: str, user_info: Any) -> None:
        """The connection is now this user's (Pusher `pusher:signin`)."""
        conn.user_id, conn.user_info = user_id, user_info
        conn.signin_deadline = None

    async def terminate_user(self, app: App, user_id: str) -> int:
        """Closes every socket of the user, on every protocol, and refuses the user's tokens
        minted until now. Returns how many sockets were closed."""
        closed = self._close_where(app.id, lambda conn: conn.user_id == user_id)
        if self.wide is not None:
            self.wide.terminate(app.id, USER, user_id)
        await self.revocations.revoke(app.id, USER, user_id, app.settings.token_max_age)
        return closed

    async def terminate_session(self, app: App, session_id: str) -> int:
        """Closes every socket whose token carries the session, and refuses its tokens."""
        closed = self._close_where(app.id, lambda conn: conn.session_id == session_id)
        if self.wide is not None:
            self.wide.terminate(app.id, SESSION, session_id)
        await self.revocations.revoke(app.id, SESSION, session_id, app.settings.token_max_age)
        return closed

    def _close_where(self, app_id: str, chosen: Callable[[Connection], bool]) -> int:
        doomed = [conn for conn in self.app_connections(app_id) if chosen(conn)]
        for conn in doomed:
            conn.peer.disconnect(Disconnect.TERMINATED)
        return len(doomed)

    def terminated_elsewhere(self, app_id: str, what: str, value: str) -> None:
        """Another process terminated a user or a session: its sockets here close, and this
        process refuses its tokens too."""
        key = "user_id" if what == USER else "session_id"
        self._close_where(app_id, lambda conn: getattr(conn, key) == value)
        live = self.apps.cached(app_id)
        if live is not None:
            max_age = live.app.settings.token_max_age
            task = self.revocations.revoke(app_id, what, value, max_age)
            asyncio.ensure_future(task).add_done_callback(_log_failure)


def _log_failure(done: asyncio.Future) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.error("recording a termination failed: %s", done.exception())
