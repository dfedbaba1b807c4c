"""The store's accounts (hub/store/accounts.py): users and the rule that keeps an active admin,
dashboard sessions with their idle and absolute expiry, admin API tokens kept only as digests,
and the hub-wide settings and generated secrets."""

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest

import hub.store.accounts
from hub.store import Store
from hub.store.accounts import (
    SESSION_IDLE_SECONDS,
    SESSION_MAX_SECONDS,
    AccountError,
    digest,
)

IDLE, MAX = 600, 3600  # session expiry used by these tests (seconds)


@contextlib.asynccontextmanager
async def opened(path: Path) -> AsyncIterator[Store]:
    store = await Store.open(str(path))
    try:
        yield store
    finally:
        await store.close()


class Clock:
    """Stands in for the time module inside hub.store.accounts: `now` is what time() says."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    # Only the accounts module's clock: the event loop and aiosqlite keep the real one.
    monkeypatch.setattr(hub.store.accounts, "time", SimpleNamespace(time=clock.time))
    return clock


# -- users ------------------------------------------------------------------------------------


async def test_an_email_has_one_account_whatever_its_case(tmp_path: Path) -> None:
    async with opened(tmp_path / "hub.db") as store:
        ada = await store.create_user(" Ada@Example.com ", "admin", None)
        assert (ada.email, ada.role, ada.active, ada.has_password) == (
            "Ada@Example.com",
            "admin",
            True,
            False,
        )
        for again in ("ada@example.com", "ADA@EXAMPLE.COM", "  ada@Example.com"):
            with pytest.raises(AccountError, match="has an account already"):
                await store.create_user(again, "developer", "hash")
        assert await store.user_by_email("ADA@example.COM") == ada
        assert await store.count_users() == 1
        # The store still takes writes after the refused insert.
        bob = await store.create_user("bob@example.com", "developer", "hash")
        assert bob.has_password and await store.password_hash(bob.id) == "hash"


async def test_unknown_roles_are_refused(tmp_path: Path) -> None:
    async with opened(tmp_path / "hub.db") as store:
        with pytest.raises(AccountError, match="role must be one of"):
            await store.create_user("a@example.com", "root", None)
        user = await store.create_user("a@example.com", "developer", None)
        with pytest.raises(AccountError, match="role must be one of"):
            await store.update_user(user.id, role="owner")


async def test_the_last_active_admin_stays(tmp_path: Path) -> None:
    async with opened(tmp_path / "hub.db") as store:
        ada = await store.create_user("ada@example.com", "admin", None)
        for change in ({"role": "developer"}, {"active": False}):
            with pytest.raises(AccountError, match="at least one active admin"):
                await store.update_user(ada.id, **change)
        assert await store.get_user(ada.id) == ada

        # A disabled admin is no second admin.
        bea = await store.create_user("bea@example.com", "admin", None)
        await store.update_user(bea.id, active=False)
        with pytest.raises(AccountError, match="at least one active admin"):
            await store.update_user(ada.id, role="developer")

        # With a second active admin, either change is allowed, and then the other is last.
        await store.update_user(bea.id, active=True)
        await store.update_user(ada.id, role="developer")
        assert (await store.get_user(ada.id)).role == "developer"
        with pytest.raises(AccountError, match="at least one active admin"):
            await store.update_user(bea.id, active=False)
        # Changes that leave the admin an active admin are fine.
        await store.update_user(bea.id, role="admin", active=True)


async def test_disabling_a_user_ends_their_sessions(tmp_path: Path) -> None:
    async with opened(tmp_path / "hub.db") as store:
        await store.create_user("root@example.com", "admin", None)
        ann = await store.create_user("ann@example.com", "developer", None)
        sessions = [await store.create_session(ann.id) for _ in range(2)]
        assert await store.session_user(sessions[0], IDLE, MAX) == ann
        await store.update_user(ann.id, active=False)
        await store.update_user(ann.id, active=True)
        # Enabled again, the account does not get its old sessions back: they were deleted.
        for session_id in sessions:
            assert await store.session_user(session_id, IDLE, MAX) is None
        fresh = await store.create_session(ann.id)
        assert (await store.session_user(fresh, IDLE, MAX)).email == "ann@example.com"


# -- sessions ---------------------------------------------------------------------------------


async def test_a_session_expires_when_idle(tmp_path: Path, clock: Clock) -> None:
    async with opened(tmp_path / "hub.db") as store:
        ann = await store.create_user("ann@example.com", "developer", None)
        session_id = await store.create_session(ann.id)
        start = clock.now
        clock.now = start + IDLE - 10
        assert await store.session_user(session_id, IDLE, MAX) == ann  # and seen now
        clock.now = start + 2 * IDLE - 20
        assert await store.session_user(session_id, IDLE, MAX) == ann
        clock.now += IDLE + 1
        assert await store.session_user(session_id, IDLE, MAX) is None
        # Gone, not merely refused: back within the idle window, it is still unknown.
        clock.now -= 2
        assert await store.session_user(session_id, IDLE, MAX) is None


async def test_a_session_expires_after_its_absolute_lifetime(tmp_path: Path, clock: Clock) -> None:
    async with opened(tmp_path / "hub.db") as store:
        ann = await store.create_user("ann@example.com", "developer", None)
        session_id = await store.create_session(ann.id)
        start = clock.now
        while clock.now + IDLE // 2 <= start + MAX:  # used often enough never to go idle
            clock.now += IDLE // 2
            assert await store.session_user(session_id, IDLE, MAX) == ann
        clock.now = start + MAX + 1
        assert await store.session_user(session_id, IDLE, MAX) is None


async def test_logout_ends_one_session(tmp_path: Path) -> None:
    async with opened(tmp_path / "hub.db") as store:
        ann = await store.create_user("ann@example.com", "developer", None)
        kept, ended = await store.create_session(ann.id), await store.create_session(ann.id)
        await store.end_session(ended)
        assert await store.session_user(ended, IDLE, MAX) is None
        assert await store.session_user(kept, IDLE, MAX) == ann
        assert await store.session_user("made-up", IDLE, MAX) is None


# -- admin API tokens -------------------------------------------------------------------------


async def test_tokens_and_session_ids_are_stored_only_as_digests(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    async with opened(path) as store:
        ann = await store.create_user("ann@example.com", "developer", "argon-hash")
        record, token = await store.create_api_token(ann.id, "deploy")
        session_id = await store.create_session(ann.id)
        assert token.startswith("hub_") and len(token) > 40
        assert await store.api_token_user(token) == ann
    raw_values = (token, session_id)
    with sqlite3.connect(path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert {"api_tokens", "dashboard_sessions"} <= set(tables)
        cells = [
            str(value)
            for table in tables
            for row in db.execute(f'SELECT * FROM "{table}"')  # table names from sqlite_master
            for value in row
        ]
        stored = dict(db.execute("SELECT id, token_hash FROM api_tokens").fetchall())
    for raw in raw_values:
        assert not any(raw in cell for cell in cells)
    assert stored == {record.id: digest(token)}
    assert digest(session_id) in cells
    # Nor anywhere in the files themselves (free pages, the write-ahead log).
    for file in tmp_path.iterdir():
        content = file.read_bytes()
        for raw in raw_values:
            assert raw.encode() not in content, file.name


async def test_revoking_a_token(tmp_path: Path) -> None:
    async with opened(tmp_path / "hub.db") as store:
        ann = await store.create_user("ann@example.com", "developer", None)
        bob = await store.create_user("bob@example.com", "developer", None)
        first, first_token = await store.create_api_token(ann.id, "first")
        second, second_token = await store.create_api_token(ann.id, "second")
        assert [t.name for t in await store.list_api_tokens(ann.id)] == ["first", "second"]

        # Only the token's own user revokes it.
        assert not await store.revoke_api_token(bob.id, first.id)
        assert await store.api_token_user(first_token) == ann

        assert await store.revoke_api_token(ann.id, first.id)
        assert await store.api_token_user(first_token) is None
        assert not await store.revoke_api_token(ann.id, first.id), "already gone"
        assert await store.api_token_user(second_token) == ann
        [left] = await store.list_api_tokens(ann.id)
        assert left.id == second.id and left.used_at is not None  # noted when it was used
        assert await store.api_token_user("hub_not-a-token") is None


async def test_a_disabled_users_tokens_are_refused_until_enabled(tmp_path: Path) -> None:
    async with opened(tmp_path / "hub.db") as store:
        await store.create_user("root@example.com", "admin", None)
        ann = await store.create_user("ann@example.com", "developer", None)
        _, token = await store.create_api_token(ann.id, "ci")
        await store.update_user(ann.id, active=False)
        assert await store.api_token_user(token) is None
        await store.update_user(ann.id, active=True)
        assert (await store.api_token_user(token)).id == ann.id


# -- hub-wide settings ------------------------------------------------------------------------


async def test_hub_settings_and_generated_secrets_are_stable(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    async with opened(path) as store:
        assert await store.hub_setting("signup") is None
        await store.set_hub_setting("signup", "open")
        await store.set_hub_setting("signup", "closed")
        assert await store.hub_setting("signup") == "closed"

        cookie_key = await store.generated_secret("cookie_key")
        assert len(cookie_key) >= 64
        assert await store.generated_secret("cookie_key") == cookie_key
        assert await store.generated_secret("other_key") != cookie_key
        # A value set by hand is what generated_secret hands out, not a new one.
        await store.set_hub_setting("given", "chosen")
        assert await store.generated_secret("given") == "chosen"
    async with opened(path) as store:
        assert await store.generated_secret("cookie_key") == cookie_key
        assert await store.hub_setting("signup") == "closed"


async def test_a_sign_in_clears_the_sessions_nobody_came_back_for(
    tmp_path: Path, clock: Clock
) -> None:
    async with opened(tmp_path / "hub.db") as store:
        ann = await store.create_user("ann@example.com", "developer", None)
        await store.create_session(ann.id)
        clock.now += SESSION_IDLE_SECONDS + 1
        fresh = await store.create_session(ann.id)
        async with store._db.execute("SELECT COUNT(*) FROM dashboard_sessions") as cursor:
            assert (await cursor.fetchone())[0] == 1, "the abandoned one is gone"
        assert await store.session_user(fresh, SESSION_IDLE_SECONDS, SESSION_MAX_SECONDS) == ann


async def test_only_one_first_admin_even_at_once(tmp_path: Path) -> None:
    async with opened(tmp_path / "hub.db") as store:
        results = await asyncio.gather(
            *(store.create_first_admin(f"a{n}@example.com", "h") for n in range(5)),
            return_exceptions=True,
        )
        made = [r for r in results if not isinstance(r, Exception)]
        assert len(made) == 1 and made[0].is_admin
        assert all(isinstance(r, AccountError) for r in results if r not in made)
        assert len(await store.list_users()) == 1
