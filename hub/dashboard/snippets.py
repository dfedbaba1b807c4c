"""Connect snippets for an app's "connect" tab, filled with its id, key and the host the browser
reached the hub on. Server-side snippets read the secret from the environment: a secret is
shown only when its owner reveals it on the keys tab."""

from tornado.httputil import HTTPServerRequest, split_host_and_port

from hub.models import App


def reached_at(request: HTTPServerRequest) -> tuple[str, int, bool]:
    """(host, port, TLS) of the hub as this request reached it."""
    host, port = split_host_and_port(request.host)
    tls = request.protocol == "https"
    return host, port or (443 if tls else 80), tls


def snippets_for(app: App, host: str, port: int, tls: bool) -> list[tuple[str, str, str]]:
    """(id, title, code) of each snippet, for the hub at host:port."""
    scheme = "https" if tls else "http"
    key, app_id = app.keys[0].key, app.id
    force_tls = "true" if tls else "false"
    return [
        (
            "pusher-js",
            "pusher-js (browser)",
            f"""import Pusher from "pusher-js";

const pusher = new Pusher("{key}", {{
  wsHost: "{host}",
  wsPort: {port},
  wssPort: {port},
  forceTLS: {force_tls},
  enabledTransports: ["ws", "wss"],
  cluster: "mt1",
}});
pusher.subscribe("my-channel").bind("my-event", (data) => console.log(data));""",
        ),
        (
            "laravel-echo",
            "Laravel Echo",
            f"""import Echo from "laravel-echo";
import Pusher from "pusher-js";
window.Pusher = Pusher;

window.Echo = new Echo({{
  broadcaster: "pusher",
  key: "{key}",
  wsHost: "{host}",
  wsPort: {port},
  wssPort: {port},
  forceTLS: {force_tls},
  enabledTransports: ["ws", "wss"],
  cluster: "mt1",
}});""",
        ),
        (
            "python",
            "Python server SDK (pip install pusher)",
            f"""import os
import pusher

client = pusher.Pusher(
    app_id="{app_id}",
    key="{key}",
    secret=os.environ["PUSHER_APP_SECRET"],
    host="{host}",
    port={port},
    ssl={"True" if tls else "False"},
)
client.trigger("my-channel", "my-event", {{"message": "hello"}})""",
        ),
        (
            "node",
            "Node server SDK (npm install pusher)",
            f"""const Pusher = require("pusher");

const pusher = new Pusher({{
  appId: "{app_id}",
  key: "{key}",
  secret: process.env.PUSHER_APP_SECRET,
  host: "{host}",
  port: "{port}",
  useTLS: {force_tls},
}});
pusher.trigger("my-channel", "my-event", {{ message: "hello" }});""",
        ),
        (
            "curl",
            "curl (HTTP Basic with the key and secret)",
            f"""curl -u "{key}:$PUSHER_APP_SECRET" -H "Content-Type: application/json" \\
  -d '{{"name": "my-event", "channel": "my-channel", "data": "{{\\"message\\": \\"hello\\"}}"}}' \\
  {scheme}://{host}:{port}/apps/{app_id}/events""",
        ),
        (
            "phoenix",
            "phoenix.js (token from your backend: POST /apps/{id}/tokens)",
            f"""import {{ Socket }} from "phoenix";

const socket = new Socket("{"wss" if tls else "ws"}://{host}:{port}/socket", {{
  params: {{ key: "{key}", token: await fetchTokenFromYourBackend() }},
}});
socket.connect();
const channel = socket.channel("my-channel", {{}});
channel.on("my-event", (payload) => console.log(payload));
channel.join();""",
        ),
    ]
