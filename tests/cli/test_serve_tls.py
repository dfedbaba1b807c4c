"""`hub serve --tls-cert --tls-key` as a real process, with certificates made in the test: https
and wss on one port (the trigger API through the official SDK, a websocket, the dashboard's
sign-in with Secure cookies), a certificate or key it cannot use ending the start with one line,
SIGHUP serving the files' new certificate to the next connection while an open websocket stays,
and plain HTTP beyond this machine refused unless a flag says it is meant."""

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import pytest
from conftest import WAIT, WsClient
from dashboard_client import DashboardClient
from test_commands import REPO, new_db, run, start_serving
from test_failures import fails
from test_users import read_until
from tlscerts import Pair, client_context, make_pair, sdk_over_https, served_fingerprint
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect
from waiting import eventually


async def open_wss(port: int, key: str, ca: Path) -> WsClient:
    url = f"wss://127.0.0.1:{port}/app/{key}?protocol=7&client=py&version=0"
    request = HTTPRequest(
        url, ssl_options=client_context(ca), connect_timeout=WAIT, request_timeout=WAIT
    )
    return WsClient(await asyncio.wait_for(websocket_connect(request), WAIT))


def serve(db: Path, pair: Pair, *more: str) -> tuple[str, ...]:
    tls = ("--tls-cert", str(pair.cert), "--tls-key", str(pair.key))
    return (sys.executable, "-m", "hub", "serve", "--port", "0", "--db", str(db), *tls, *more)


async def stop(process: asyncio.subprocess.Process) -> str:
    process.terminate()
    out, _ = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 0, out.decode()
    return out.decode()


async def test_sighup_serves_the_new_certificate_and_keeps_open_sockets(tmp_path: Path) -> None:
    db = new_db(tmp_path)
    app = json.loads(run(db, "apps", "create", "tls", "--json").stdout)
    first, second = make_pair(tmp_path, "first"), make_pair(tmp_path, "second")
    served = make_pair(tmp_path, "served")  # the files the hub reads: first's, then second's
    served.cert.write_bytes(first.cert.read_bytes())
    served.key.write_bytes(first.key.read_bytes())
    process, port, printed = await start_serving(*serve(db, served), cwd=tmp_path)
    try:
        assert f"listening on https://127.0.0.1:{port}" in printed, printed
        assert await asyncio.to_thread(served_fingerprint, port) == first.fingerprint
        ws = await open_wss(port, app["keys"][0]["key"], first.cert)
        await ws.expect("pusher:connection_established")
        await ws.subscribe("news")

        served.cert.write_bytes(second.cert.read_bytes())
        served.key.write_bytes(second.key.read_bytes())
        process.send_signal(1)  # SIGHUP
        await eventually(
            lambda: served_fingerprint(port) == second.fingerprint, what="the new certificate"
        )
        sdk = sdk_over_https(port, app, second.cert)
        await asyncio.to_thread(sdk.trigger, "news", "after-reload", {"n": 1})
        frame = await ws.expect("after-reload")
        assert json.loads(frame["data"]) == {"n": 1}, "the socket of before is still served"

        # A file that is no certificate: one error line, and the certificate served stays.
        served.cert.write_text("not a certificate\n")
        process.send_signal(1)
        printed = await read_until(process, printed, "holds no PEM certificate")
        await asyncio.sleep(0.2)  # what a reload would need to take effect
        assert await asyncio.to_thread(served_fingerprint, port) == second.fingerprint
        await asyncio.to_thread(sdk.trigger, "news", "after-bad-reload", {"n": 2})
        await ws.expect("after-bad-reload")
        ws.close()
    finally:
        printed += await stop(process)
    [error] = [line for line in printed.splitlines() if "holds no PEM certificate" in line]
    assert "ERROR" in error and "served so far stays" in error, error
    assert "Traceback" not in printed, printed


async def test_the_dashboard_signs_in_over_https_with_secure_cookies(tmp_path: Path) -> None:
    pair = make_pair(tmp_path, "hub")
    process, port, printed = await start_serving(
        *serve(tmp_path / "d.db", pair, "--dev"), cwd=tmp_path
    )
    try:
        printed = await read_until(process, printed, "Dashboard:")
        printed = await read_until(process, printed, "\n")
        password = re.search(r"admin@localhost / (\S+)", printed)
        assert password, printed
        assert "PUSHER_SCHEME=https" in printed and "forceTLS: true" in printed, printed
        assert f"wssPort: {port}" in printed, printed
        browser = DashboardClient(f"https://127.0.0.1:{port}", ca_certs=str(pair.cert))
        page = await browser.get("/dashboard/login")
        assert page.code == 200
        [csrf] = page.headers.get_list("Set-Cookie")
        assert "; Secure" in csrf, csrf
        signed_in = await browser.sign_in("admin@localhost", password[1])
        [session] = signed_in.headers.get_list("Set-Cookie")
        assert session.startswith("hub_session=") and "; Secure" in session, session
        assert (await browser.get("/dashboard/")).code == 200
        connect = await browser.get("/dashboard/apps/app-id/connect")
        assert "forceTLS: true" in connect.body.decode(), "the snippets say TLS"
    finally:
        await stop(process)


@pytest.mark.parametrize(
    ("cert", "key", "says"),
    [
        ("hub.crt", "other.key", "is not the key of the certificate"),
        ("hub.crt", "missing.key", "cannot read the TLS key"),
        ("hub.key", "hub.key", "holds no PEM certificate"),
        ("hub.crt", "hub.crt", "holds no PEM private key"),
    ],
)
def test_a_certificate_or_key_it_cannot_use_is_one_line(
    tmp_path: Path, cert: str, key: str, says: str
) -> None:
    make_pair(tmp_path, "hub"), make_pair(tmp_path, "other")
    db = tmp_path / "h.db"
    tls = ("--tls-cert", str(tmp_path / cert), "--tls-key", str(tmp_path / key))
    fails("serve", "--port", "0", "--db", str(db), *tls, code=2, says=says)
    assert not db.exists(), "the files are read before the database is made"


def test_half_a_pair_is_refused(tmp_path: Path) -> None:
    pair = make_pair(tmp_path, "hub")
    args = ("serve", "--port", "0", "--db", str(tmp_path / "h.db"))
    fails(*args, "--tls-cert", str(pair.cert), code=2, says="without a TLS key")
    fails(*args, code=2, says="without a TLS cert", HUB_TLS_KEY=str(pair.key))


@pytest.mark.parametrize("dev", [(), ("--dev",)])
def test_plain_http_beyond_this_machine_is_refused(tmp_path: Path, dev: tuple[str, ...]) -> None:
    db = tmp_path / "h.db"
    args = ("serve", "--host", "0.0.0.0", "--port", "0", "--db", str(db), *dev)
    refused = fails(*args, code=2, says="refusing plain HTTP on 0.0.0.0")
    for way_out in ("--tls-cert", "--insecure-http", "HUB_TRUST_PROXY=1"):
        assert way_out in refused.stderr, refused.stderr
    assert not db.exists()


async def test_plain_http_beyond_this_machine_when_a_proxy_says_so(tmp_path: Path) -> None:
    for way_out, env in ((("--insecure-http",), {}), ((), {"HUB_TRUST_PROXY": "1"})):
        command = (sys.executable, "-m", "hub", "serve", "--host", "0.0.0.0", "--port", "0")
        process = await asyncio.create_subprocess_exec(
            *command,
            *way_out,
            "--db",
            str(tmp_path / "h.db"),
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO), **env},
        )
        try:
            printed = await asyncio.wait_for(read_until(process, "", "listening on"), 3 * WAIT)
        finally:
            printed += await stop(process)
        assert "listening on http://0.0.0.0:" in printed, printed
