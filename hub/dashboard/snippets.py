"""Connect snippets for an app's "connect" tab, filled with its id, key and the host the browser
reached the hub on. Server-side snippets read the secret from the environment: a secret is
shown only when its owner reveals it on the keys tab."""

from tornado.httputil import HTTPServerRequest

from hub.core.models import App


def snippets_for(app: App, request: HTTPServerRequest) -> list[tuple[str, str, str]]:
    """(id, title, code) of each snippet."""
    host, _, port_text = request.host.partition(":")
    tls = request.protocol == "https"
    port = int(port_text) if port_text else (443 if tls else 80)
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
