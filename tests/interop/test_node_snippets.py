"""Interop: the dashboard's Connect tab snippets for Node run as written, under Node, with the
real `pusher` server SDK and Express from npm (tests/interop/package.json), against a real hub:
the SDK snippet's trigger reaches a subscriber, and the auth endpoint snippet, served on a port
of its own, signs private and presence subscriptions the hub accepts (the form pusher-js posts
to channelAuthorization.endpoint). The secret comes from PUSHER_APP_SECRET, as the snippets say.
Without `npm ci --prefix tests/interop` these tests fail; they never skip."""

import asyncio
import json
import os
import subprocess
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from conftest import WAIT, WsClient, in_thread
from hubprocess import free_port
from waiting import eventually

from hub.dashboard.snippets import snippets_for
from hub.pytest_plugin import RunningHub

NODE_MODULES = Path(__file__).resolve().parent / "node_modules"


def snippet(hub: RunningHub, name: str) -> str:
    app = hub.server.apps.cached(hub.app_id).app
    return {key: code for key, _, code in snippets_for(app, "127.0.0.1", hub.port, False)}[name]


def node_env(hub: RunningHub, **extra: str) -> dict[str, str]:
    # NODE_PATH: the snippet runs from `node -e`, which resolves packages from there.
    return {**os.environ, "PUSHER_APP_SECRET": hub.secret, "NODE_PATH": str(NODE_MODULES), **extra}


@asynccontextmanager
async def node(code: str, env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec(
        "node", "-e", code, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_the_node_sdk_snippet_triggers(hub_server: RunningHub) -> None:
    client = await WsClient.open(hub_server.pusher_url())
    await client.established()
    await client.subscribe("my-channel")
    async with node(snippet(hub_server, "node"), node_env(hub_server)) as process:
        out, err = await asyncio.wait_for(process.communicate(), WAIT * 4)
        assert process.returncode == 0, (out, err)
    frame = await client.expect("my-event")
    assert json.loads(frame["data"]) == {"message": "hello"}
    client.close()


def post_form(url: str, form: dict[str, str]) -> dict:
    body = urllib.parse.urlencode(form).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=WAIT) as answer:
        return json.loads(answer.read())


async def test_the_node_auth_endpoint_snippet_signs_private_and_presence(
    hub_server: RunningHub,
) -> None:
    port = free_port()
    env = node_env(hub_server, PORT=str(port))
    async with node(snippet(hub_server, "node-auth"), env) as process:
        url = f"http://127.0.0.1:{port}/pusher/auth"

        async def listening() -> bool:
            assert process.returncode is None, await process.stderr.read()
            try:
                await in_thread(post_form, url, {"socket_id": "1.1", "channel_name": "private-a"})
            except OSError:
                return False
            return True

        await eventually(listening, timeout=WAIT * 2)
        client = await WsClient.open(hub_server.pusher_url())
        socket_id = await client.established()
        for channel in ("private-my-channel", "presence-my-room"):
            form = {"socket_id": socket_id, "channel_name": channel}
            signed = await in_thread(post_form, url, form)
            answer = await client.subscribe(channel, **signed)
            assert answer["event"] == "pusher_internal:subscription_succeeded", answer
        presence = json.loads(answer["data"])["presence"]
        assert presence["hash"] == {"42": {"name": "Ada"}}
        # Signed for another socket id: the hub refuses it.
        forged = await in_thread(post_form, url, {"socket_id": "1.2", "channel_name": "private-b"})
        answer = await client.subscribe("private-b", **forged)
        assert answer["event"] == "pusher:subscription_error", answer
        client.close()
