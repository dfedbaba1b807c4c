"""The connect tab's snippets work as written: the Python SDK and curl ones, filled in for the
test hub's app and run as they are (the secret from PUSHER_APP_SECRET, as they say), deliver
their event to a subscriber; the Python auth endpoint's signatures open private and presence
channels on the hub (tests/dashboard/test_browser.py runs it behind pusher-js in Chromium).
The others are checked for the app's values."""

import asyncio
import json
import os
import subprocess
import sys

from auth_endpoint import AuthEndpoint
from conftest import WAIT, WsClient

from hub.dashboard.snippets import snippets_for
from hub.pytest_plugin import RunningHub


def snippets(hub: RunningHub) -> dict[str, str]:
    app = hub.server.apps.cached(hub.app_id).app
    return {name: code for name, _, code in snippets_for(app, "127.0.0.1", hub.port, False)}


async def run_and_receive(hub: RunningHub, command: list[str]) -> dict:
    client = await WsClient.open(hub.pusher_url())
    await client.established()
    await client.subscribe("my-channel")
    env = {**os.environ, "PUSHER_APP_SECRET": hub.secret}
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), WAIT * 4)
    assert process.returncode == 0, (out, err)
    frame = await client.expect("my-event")
    client.close()
    return frame


async def test_the_python_sdk_snippet_triggers(hub_server: RunningHub) -> None:
    code = snippets(hub_server)["python"]
    frame = await run_and_receive(hub_server, [sys.executable, "-c", code])
    assert frame["data"] == '{"message": "hello"}' or frame["data"] == '{"message":"hello"}'


async def test_the_curl_snippet_triggers(hub_server: RunningHub) -> None:
    code = snippets(hub_server)["curl"]
    frame = await run_and_receive(hub_server, ["bash", "-c", code.replace("curl ", "curl -sf ", 1)])
    assert frame["data"] == '{"message": "hello"}'


def test_the_client_snippets_carry_the_apps_values(hub_server: RunningHub) -> None:
    found = snippets(hub_server)
    for name in ("pusher-js", "laravel-echo", "node", "phoenix"):
        assert hub_server.key in found[name] and str(hub_server.port) in found[name], name
        assert hub_server.secret not in found[name], name


async def test_the_python_auth_endpoint_snippet_signs_private_and_presence(
    hub_server: RunningHub,
) -> None:
    endpoint = AuthEndpoint(snippets(hub_server)["python-auth"], hub_server.secret)
    assert f'endpoint: "{endpoint.path}"' in snippets(hub_server)["pusher-js-private"]
    client = await WsClient.open(hub_server.pusher_url())
    socket_id = await client.established()
    for channel in ("private-my-channel", "presence-my-room"):
        # What pusher-js posts to channelAuthorization.endpoint, and what it sends on.
        signed = endpoint.answer({"socket_id": socket_id, "channel_name": channel})
        answer = await client.subscribe(channel, **signed)
        assert answer["event"] == "pusher_internal:subscription_succeeded", answer
    presence = json.loads(answer["data"])["presence"]
    assert presence["hash"] == {"42": {"name": "Ada"}}
    # A signature for another socket is refused: the endpoint signs this socket only.
    forged = endpoint.answer({"socket_id": "1.2", "channel_name": "private-other"})
    answer = await client.subscribe("private-other", **forged)
    assert answer["event"] == "pusher:subscription_error", answer
    client.close()


def test_the_auth_endpoint_snippets_carry_the_apps_values(hub_server: RunningHub) -> None:
    found = snippets(hub_server)
    for name in ("python-auth", "node-auth"):
        assert hub_server.key in found[name] and str(hub_server.port) in found[name], name
        assert hub_server.secret not in found[name], name
    assert "pusher.authorizeChannel(socket_id, channel_name, presenceData)" in found["node-auth"]
    assert 'app.post("/pusher/auth"' in found["node-auth"]
