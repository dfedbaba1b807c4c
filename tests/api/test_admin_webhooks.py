"""The admin API's webhook routes (hub/api/admin_webhooks.py) over a real hub: list, add,
remove; the service's refusals as 400 and 404; metadata addresses for admins only; another
developer's app a 404."""

from admin_world import World, api


async def test_add_list_and_remove_a_webhook(world: World) -> None:
    path = f"/api/admin/apps/{world.alice_app.id}/webhooks"
    body = {"url": "https://alice.example/hook", "events": ["member_added", "channel_occupied"]}
    added = await api(world.hub, "POST", path, world.alice.token, body)
    assert added.status == 201
    shown = added.json
    assert shown["url"] == "https://alice.example/hook"
    assert shown["events"] == ["channel_occupied", "member_added"]  # Pusher's order
    assert shown["channel_prefix"] == ""
    assert world.hub.server.apps.webhooks(world.alice_app.id)[0].id == shown["id"]  # live
    listed = await api(world.hub, "GET", path, world.alice.token)
    assert (listed.status, listed.json) == (200, {"webhooks": [shown]})
    gone = await api(world.hub, "DELETE", f"{path}/{shown['id']}", world.alice.token)
    assert (gone.status, gone.raw) == (204, b"")
    again = await api(world.hub, "DELETE", f"{path}/{shown['id']}", world.alice.token)
    assert again.status == 404
    assert (await api(world.hub, "DELETE", f"{path}/x", world.alice.token)).status == 404
    assert (await api(world.hub, "GET", path, world.alice.token)).json == {"webhooks": []}


async def test_refusals(world: World) -> None:
    path = f"/api/admin/apps/{world.alice_app.id}/webhooks"
    for body, words in (
        ({"url": "ftp://x/"}, "must start with http:// or https://"),
        ({"url": 5}, "url must be a string"),
        ({"url": "http://x/", "events": ["nope"]}, "unknown webhook event kind"),
        ({"url": "http://x/", "events": "all"}, "events must be a list of strings"),
        ({"url": "http://169.254.169.254/"}, "link-local or metadata"),
        ({}, "missing field(s): url"),
    ):
        reply = await api(world.hub, "POST", path, world.alice.token, body)
        assert reply.status == 400, body
        assert words in reply.json["error"], reply.json
    # Bob's app is not Alice's to see.
    other = f"/api/admin/apps/{world.bob_app.id}/webhooks"
    assert (await api(world.hub, "GET", other, world.alice.token)).status == 404
    # An admin may aim at a metadata address (an internal receiver the admin vouches for).
    reply = await api(world.hub, "POST", path, world.admin.token, {"url": "http://169.254.10.1/"})
    assert reply.status == 201
