"""Interop over TLS: the real pusher-js 8 (Node) with `forceTLS: true` connects to `hub serve
--tls-cert --tls-key` over wss:// and receives an event the official Python SDK triggers over
https://, both trusting the test's own certificate authority (NODE_EXTRA_CA_CERTS; the SDK's
requests `verify`), not switching verification off. The hub runs as its own process on
asyncio's loop (tests/cli/test_serve_tls.py runs it on uvloop)."""

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import WAIT
from test_pusher_js import HERE, JsClient, require_pusher_js
from tlscerts import make_pair, sdk_over_https

REPO = HERE.parent.parent


async def test_pusher_js_over_wss_gets_an_event_triggered_over_https(tmp_path: Path) -> None:
    node = require_pusher_js()
    pair = make_pair(tmp_path, "hub")
    db = tmp_path / "hub.db"
    db.touch(mode=0o600)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    created = subprocess.run(
        [sys.executable, "-m", "hub", "--db", str(db), "apps", "create", "tls", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    app = json.loads(created.stdout)
    key = app["keys"][0]["key"]
    tls = ("--tls-cert", str(pair.cert), "--tls-key", str(pair.key))
    hub = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "hub", "--db", str(db), "serve", "--port", "0", *tls),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**env, "HUB_EVENT_LOOP": "asyncio"},
    )
    client: JsClient | None = None
    try:
        assert hub.stdout is not None
        line = await asyncio.wait_for(hub.stdout.readline(), 3 * WAIT)
        listening = re.search(r"listening on https://127\.0\.0\.1:(\d+)", line.decode())
        assert listening, line
        port = int(listening[1])
        trusting = {**os.environ, "NODE_EXTRA_CA_CERTS": str(pair.cert)}
        client = await JsClient.start(node, "ann", trusting)
        options = {
            "wsHost": "127.0.0.1",
            "wsPort": port,
            "wssPort": port,
            "forceTLS": True,
            "enabledTransports": ["ws", "wss"],
            "cluster": "mt1",
        }
        await client.connect(key, options)
        await client.subscribe("news")
        sdk = sdk_over_https(port, app, pair.cert, WAIT)
        await asyncio.to_thread(sdk.trigger, "news", "breaking", {"over": "https"})
        assert await client.event("news", "breaking") == {"over": "https"}
    finally:
        if client is not None:
            await client.close()
        if hub.returncode is None:
            hub.terminate()
        out, _ = await asyncio.wait_for(hub.communicate(), 15)
    assert hub.returncode == 0, out.decode()
