"""The Phoenix endpoint's sockets for the tests: its URL (vsn 2.0.0 with the app's key, a token
and any other parameter) and a real websocket opened on it."""

from conftest import WAIT
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from hub.pytest_plugin import RunningHub
from hub.server import HubServer


def socket_url(hub: RunningHub | HubServer, **params: str) -> str:
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return f"{hub.ws_url}/socket/websocket?{query}"


async def open_socket(
    url: str, origin: str | None = None, subprotocols: list[str] | None = None
) -> WebSocketClientConnection:
    headers = {"Origin": origin} if origin else {}
    request = HTTPRequest(url, headers=headers, connect_timeout=WAIT, request_timeout=WAIT)
    return await websocket_connect(request, subprotocols=subprotocols)


def v2(hub: RunningHub, token: str | None = None, **extra: str) -> str:
    params = {"vsn": "2.0.0", "key": hub.key, **extra}
    if token is not None:
        params["token"] = token
    return socket_url(hub, **params)
