"""Terminated users and sessions, whose existing socket tokens the hub refuses.

Terminating a user or a session records the second it happened; from then on a token of that
user or session minted at or before that second is refused at connect, until the app's
`token_max_age` has passed and every such token has expired anyway. The records are kept in
memory for the handshake and in the store so that they survive a restart.
"""

import time
from collections.abc import Callable

from hub.auth.tokens import SocketToken, TokenError
from hub.store import Store

USER = "user"
SESSION = "session"


class TokenRevoked(TokenError):
    """The token's user or session was terminated after it was minted."""


class Revocations:
    def __init__(self, store: Store) -> None:
        self._store = store
        # (app_id, kind, subject) -> the last second tokens were revoked
        self._revoked_at: dict[tuple[str, str, str], int] = {}

    async def load(self) -> None:
        for app_id, kind, subject, revoked_at in await self._store.list_revocations():
            self._revoked_at[(app_id, kind, subject)] = revoked_at

    async def revoke(
        self, app_id: str, kind: str, subject: str, max_age: int, now: float | None = None
    ) -> None:
        """Refuses the tokens of this user or session minted up to now; forgets the app's
        records that have outlived `max_age` (the app's token_max_age)."""
        second = int(time.time() if now is None else now)
        entry = (app_id, kind, subject)
        self._revoked_at[entry] = max(second, self._revoked_at.get(entry, second))
        stale = second - max_age
        for old in [e for e, at in self._revoked_at.items() if e[0] == app_id and at < stale]:
            del self._revoked_at[old]
        await self._store.add_revocation(app_id, kind, subject, second)
        await self._store.prune_revocations(app_id, stale)

    async def prune(
        self, max_age_of: Callable[[str], int | None], now: float | None = None
    ) -> None:
        """Forgets every record that has outlived its app's token max age (`max_age_of` gives
        it; None for an app that is gone), so quiet apps do not keep them forever."""
        second = int(time.time() if now is None else now)
        stale_before: dict[str, int] = {}
        for entry, at in list(self._revoked_at.items()):
            app_id = entry[0]
            if app_id not in stale_before:
                max_age = max_age_of(app_id)
                stale_before[app_id] = second + 1 if max_age is None else second - max_age
            if at < stale_before[app_id]:
                del self._revoked_at[entry]
        for app_id, stale in stale_before.items():
            await self._store.prune_revocations(app_id, stale)

    def check(self, app_id: str, token: SocketToken) -> None:
        """Raises TokenRevoked if the token's user or session was terminated after it was
        minted (in the same second counts: token times are whole seconds)."""
        user_cut = self._revoked_at.get((app_id, USER, token.user_id))
        if user_cut is not None and token.issued_at <= user_cut:
            raise TokenRevoked("the token's user was terminated after it was minted")
        if token.session_id is not None:
            session_cut = self._revoked_at.get((app_id, SESSION, token.session_id))
            if session_cut is not None and token.issued_at <= session_cut:
                raise TokenRevoked("the token's session was terminated")
