"""terminate_connections crosses processes (tests/cluster.py: A and B on one file, C on its
own, one redis-server): a user signed in on all three, terminated through A's HTTP API with the
official SDK, loses every socket within 1 s, with 4009; another user's socket stays open."""

import asyncio
import time

from cluster import Cluster, sdk
from conftest import WsClient, in_thread
from hubprocess import HubProcess

# The bound for terminate_connections to close a user's sockets on every process.
TERMINATE_WITHIN = 1.0


async def signed_in(hub: HubProcess, user_id: str) -> WsClient:
    """A Pusher socket through `hub`, signed in as `user_id` (signed by the SDK, as an app's
    user auth endpoint does)."""
    client = await WsClient.open(f"{hub.ws_url}/app/{hub.key}?protocol=7&client=py&version=0")
    socket_id = await client.established()
    await client.send("pusher:signin", sdk(hub).authenticate_user(socket_id, {"id": user_id}))
    await client.expect("pusher:signin_success")
    return client


async def closed(sock: WsClient, timeout: float) -> int | None:
    """The close code once the server closed `sock`; None when it is still open after
    `timeout`."""
    try:
        return await sock.closed(timeout)
    except TimeoutError:
        return None


async def test_terminating_a_user_on_one_process_closes_their_sockets_on_all(tmp_path) -> None:
    async with Cluster(tmp_path) as hub:
        app = hub.app("a")  # the SDK's app ids are numbers: not the dev app
        a, b, c = (hub.node(name, db, app) for name, db in (("a", "a"), ("b", "a"), ("c", "c")))
        await hub.start(a, b, c)
        ann = [await signed_in(node, "u1") for node in (a, b, c)]
        bob = await signed_in(b, "u2")

        began = time.monotonic()
        await in_thread(sdk(a).terminate_user_connections, "u1")
        codes = await asyncio.gather(*(closed(sock, TERMINATE_WITHIN + 1.0) for sock in ann))
        took = time.monotonic() - began
        assert codes == [4009, 4009, 4009], "Ann's sockets on A, B and C"
        assert took < TERMINATE_WITHIN, f"closed {took:.2f} s after the call"

        await bob.send("pusher:ping")
        await bob.expect("pusher:pong")  # Bob's socket on B is still open
        bob.close()
        assert a.running() and b.running() and c.running()
