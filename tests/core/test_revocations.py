"""Records of terminated users and sessions are forgotten once every token they refuse has
expired anyway, by the periodic prune as well as at the app's next revocation."""

from hub.core.revocations import SESSION, USER, Revocations
from hub.store import Store


async def test_prune_forgets_what_has_outlived_its_apps_token_age() -> None:
    store = await Store.open(":memory:")
    try:
        short, long, gone = [await store.create_app(name) for name in ("short", "long", "gone")]
        revocations = Revocations(store)
        for app in (short, long, gone):
            await revocations.revoke(app.id, USER, "u1", max_age=10_000, now=1000)
        await revocations.revoke(short.id, SESSION, "s1", max_age=10_000, now=1150)
        ages = {short.id: 100, long.id: 10_000}
        await revocations.prune(ages.get, now=1200)
        assert sorted(await store.list_revocations()) == sorted(
            [(short.id, SESSION, "s1", 1150), (long.id, USER, "u1", 1000)]
        )
        assert set(revocations._revoked_at) == {(short.id, SESSION, "s1"), (long.id, USER, "u1")}
    finally:
        await store.close()
