"""The store's SQL for dashboard accounts: users, their sessions and admin API tokens, and the
hub-wide settings (a mixin of hub.store.Store, which holds the connection). Session ids and API
tokens are kept only as SHA-256 digests; passwords only as the argon2 hashes it is handed."""

import hashlib
import secrets
import sqlite3
import time
from dataclasses import dataclass

import aiosqlite

from hub.models import App

ROLES = ("admin", "developer")
# A dashboard session ends after this long without a request, and this long after sign-in.
SESSION_IDLE_SECONDS = 12 * 3600
SESSION_MAX_SECONDS = 14 * 86400


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    role: str
    active: bool
    created_at: int
    has_password: bool

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may_manage(self, app: App) -> bool:
        """Admins manage every app; a developer only their own."""
        return self.active and (self.is_admin or app.owner_id == self.id)


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: str
    user_id: str
    name: str
    created_at: int
    used_at: int | None


class AccountError(Exception):
    """A change the accounts cannot take (an email in use, the last admin...)."""


def digest(secret_value: str) -> str:
    return hashlib.sha256(secret_value.encode()).hexdigest()


_USER_COLUMNS = "id, email, role, active, created_at, password_hash IS NOT NULL"


def _user(row: tuple) -> User:
    return User(row[0], row[1], row[2], bool(row[3]), row[4], bool(row[5]))


class AccountsStore:
    _db: aiosqlite.Connection

    # -- users ------------------------------------------------------------------------------

    async def create_user(self, email: str, role: str, password_hash: str | None) -> User:
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        user_id = secrets.token_hex(8)
        try:
            await self._db.execute(
                "INSERT INTO users (id, email, password_hash, role, active, created_at)"
                " VALUES (?,?,?,?,1,?)",
                (user_id, email.strip(), password_hash, role, int(time.time())),
            )
        except sqlite3.IntegrityError:
            await self._db.rollback()
            raise AccountError(f"{email} has an account already") from None
        await self._db.commit()
        user = await self.get_user(user_id)
        assert user is not None
        return user

    async def create_first_admin(self, email: str, password_hash: str) -> User:
        """The hub's first account, an admin; refused (AccountError) once any account exists,
        in the same statement, so two setup requests at once cannot both succeed."""
        user_id = secrets.token_hex(8)
        cursor = await self._db.execute(
            "INSERT INTO users (id, email, password_hash, role, active, created_at)"
            " SELECT ?, ?, ?, 'admin', 1, ? WHERE NOT EXISTS (SELECT 1 FROM users)",
            (user_id, email.strip(), password_hash, int(time.time())),
        )
        await self._db.commit()
        if cursor.rowcount != 1:
            raise AccountError("the hub is set up already: sign in")
        user = await self.get_user(user_id)
        assert user is not None
        return user

    async def get_user(self, user_id: str) -> User | None:
        return await self._one_user("WHERE id = ?", (user_id,))

    async def user_by_email(self, email: str) -> User | None:
        return await self._one_user("WHERE email = ?", (email.strip(),))

    async def _one_user(self, where: str, args: tuple) -> User | None:
        async with self._db.execute(f"SELECT {_USER_COLUMNS} FROM users {where}", args) as cursor:
            row = await cursor.fetchone()
        return _user(tuple(row)) if row else None

    async def list_users(self) -> list[User]:
        async with self._db.execute(
            f"SELECT {_USER_COLUMNS} FROM users ORDER BY created_at, email"
        ) as cursor:
            return [_user(tuple(row)) for row in await cursor.fetchall()]

    async def count_users(self) -> int:
        async with self._db.execute("SELECT COUNT(*) FROM users") as cursor:
            row = await cursor.fetchone()
        return row[0]

    async def password_hash(self, user_id: str) -> str | None:
        async with self._db.execute(
            "SELECT password_hash FROM users WHERE id = ?", (user_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return row[0] if row else None

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self._db.execute(
            "UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id)
        )
        await self._db.commit()

    async def end_sessions(self, user_id: str) -> int:
        """Signs the user out of every dashboard session; how many there were."""
        cursor = await self._db.execute(
            "DELETE FROM dashboard_sessions WHERE user_id = ?", (user_id,)
        )
        await self._db.commit()
        return cursor.rowcount

    async def update_user(
        self, user_id: str, *, role: str | None = None, active: bool | None = None
    ) -> None:
        """Changes a role or the active flag. Refuses to leave the hub without an active admin;
        disabling a user ends their sessions and API tokens' use at once."""
        if role is not None and role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        user = await self.get_user(user_id)
        if user is None:
            raise AccountError("no such user")
        demoted = user.is_admin and user.active and (role == "developer" or active is False)
        if demoted and await self._active_admins() <= 1:
            raise AccountError("the hub keeps at least one active admin")
        await self._db.execute(
            "UPDATE users SET role = coalesce(?, role), active = coalesce(?, active) WHERE id = ?",
            (role, None if active is None else int(active), user_id),
        )
        if active is False:
            await self._db.execute("DELETE FROM dashboard_sessions WHERE user_id = ?", (user_id,))
        await self._db.commit()

    async def _active_admins(self) -> int:
        async with self._db.execute(
            "SELECT COUNT(*) FROM users WHERE role = 'admin' AND active = 1"
        ) as cursor:
            row = await cursor.fetchone()
        return row[0]

    # -- dashboard sessions -----------------------------------------------------------------

    async def create_session(self, user_id: str) -> str:
        """A new session id (to sign into the cookie); only its digest is stored."""
        session_id = secrets.token_urlsafe(32)
        now = int(time.time())
        # Sessions nobody presents again would stay forever: each sign-in clears the dead ones.
        await self._db.execute(
            "DELETE FROM dashboard_sessions WHERE seen_at < ? OR created_at < ?",
            (now - SESSION_IDLE_SECONDS, now - SESSION_MAX_SECONDS),
        )
        await self._db.execute(
            "INSERT INTO dashboard_sessions (id_hash, user_id, created_at, seen_at)"
            " VALUES (?,?,?,?)",
            (digest(session_id), user_id, now, now),
        )
        await self._db.commit()
        return session_id

    async def session_user(
        self, session_id: str, idle_seconds: int, max_seconds: int
    ) -> User | None:
        """The active user of a live session, noting that it was seen; None (and the session
        gone) past its idle or absolute expiry."""
        now = int(time.time())
        key = digest(session_id)
        async with self._db.execute(
            "SELECT user_id, created_at, seen_at FROM dashboard_sessions WHERE id_hash = ?",
            (key,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        user_id, created_at, seen_at = row
        if now - seen_at > idle_seconds or now - created_at > max_seconds:
            await self.end_session(session_id)
            return None
        if now - seen_at >= 60:  # a write a minute at most, not one per request
            await self._db.execute(
                "UPDATE dashboard_sessions SET seen_at = ? WHERE id_hash = ?", (now, key)
            )
            await self._db.commit()
        user = await self.get_user(user_id)
        return user if user is not None and user.active else None

    async def end_session(self, session_id: str) -> None:
        await self._db.execute(
            "DELETE FROM dashboard_sessions WHERE id_hash = ?", (digest(session_id),)
        )
        await self._db.commit()

    # -- admin API tokens -------------------------------------------------------------------

    async def create_api_token(self, user_id: str, name: str) -> tuple[ApiToken, str]:
        """A new token for the user: its record and the token itself, shown once."""
        token = "hub_" + secrets.token_urlsafe(32)
        token_id = secrets.token_hex(6)
        now = int(time.time())
        await self._db.execute(
            "INSERT INTO api_tokens (id, user_id, token_hash, name, created_at) VALUES (?,?,?,?,?)",
            (token_id, user_id, digest(token), name, now),
        )
        await self._db.commit()
        return ApiToken(token_id, user_id, name, now, None), token

    async def api_token_user(self, token: str) -> User | None:
        """The active user a presented token acts for, or None. The lookup is by digest, so
        no stored value is compared with the token itself."""
        async with self._db.execute(
            "SELECT id, user_id FROM api_tokens WHERE token_hash = ?", (digest(token),)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        await self._db.execute(
            "UPDATE api_tokens SET used_at = ? WHERE id = ?", (int(time.time()), row[0])
        )
        await self._db.commit()
        user = await self.get_user(row[1])
        return user if user is not None and user.active else None

    async def list_api_tokens(self, user_id: str) -> list[ApiToken]:
        async with self._db.execute(
            "SELECT id, user_id, name, created_at, used_at FROM api_tokens WHERE user_id = ?"
            " ORDER BY created_at",
            (user_id,),
        ) as cursor:
            return [ApiToken(*row) for row in await cursor.fetchall()]

    async def revoke_api_token(self, user_id: str, token_id: str) -> bool:
        cursor = await self._db.execute(
            "DELETE FROM api_tokens WHERE id = ? AND user_id = ?", (token_id, user_id)
        )
        await self._db.commit()
        return cursor.rowcount > 0

    # -- hub-wide settings ------------------------------------------------------------------

    async def hub_setting(self, name: str) -> str | None:
        async with self._db.execute(
            "SELECT value FROM hub_settings WHERE name = ?", (name,)
        ) as cursor:
            row = await cursor.fetchone()
        return row[0] if row else None

    async def set_hub_setting(self, name: str, value: str) -> None:
        await self._db.execute(
            "INSERT INTO hub_settings (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )
        await self._db.commit()

    async def generated_secret(self, name: str) -> str:
        """A random secret kept under `name`, made on first use (the cookie signing key)."""
        value = await self.hub_setting(name)
        if value is None:
            await self._db.execute(
                "INSERT OR IGNORE INTO hub_settings (name, value) VALUES (?, ?)",
                (name, secrets.token_urlsafe(48)),
            )
            await self._db.commit()
            value = await self.hub_setting(name)
        assert value is not None
        return value
