"""Connect snippets for an app's "connect" tab, filled with its id, key and the host the browser
reached the hub on. Server-side snippets read the secret from the environment: a secret is
shown only when its owner reveals it on the keys tab.

Private and presence channels take three pieces, shown end to end: pusher-js asks the page's
own server (`channelAuthorization.endpoint`) to sign each subscription, and that endpoint signs
it with the official server SDK, in Python (Flask) or Node (Express)."""

from tornado.httputil import HTTPServerRequest, split_host_and_port

from hub.models import App


def reached_at(request: HTTPServerRequest) -> tuple[str, int, bool]:
    """(host, port, TLS) of the hub as this request reached it."""
    host, port = split_host_and_port(request.host)
    tls = request.protocol == "https"
    return host, port or (443 if tls else 80), tls


def _pusher_js(key: str, host: str, port: int, tls: bool, extra: str = "") -> str:
    """`new Pusher(...)` for the hub at host:port, with `extra` option lines at the end."""
    return f"""import Pusher from "pusher-js";

const pusher = new Pusher("{key}", {{
  wsHost: "{host}",
  wsPort: {port},
  wssPort: {port},
  forceTLS: {"true" if tls else "false"},
  enabledTransports: ["ws", "wss"],
  cluster: "mt1",{extra}
}});"""


def snippets_for(app: App, host: str, port: int, tls: bool) -> list[tuple[str, str, str]]:
    """(id, title, code) of each snippet, for the hub at host:port."""
    scheme = "https" if tls else "http"
    key, app_id = app.keys[0].key, app.id
    force_tls = "true" if tls else "false"
    python_client = f"""pusher_client = pusher.Pusher(
    app_id="{app_id}",
    key="{key}",
    secret=os.environ["PUSHER_APP_SECRET"],
    host="{host}",
    port={port},
    ssl={"True" if tls else "False"},
)"""
    node_client = f"""const pusher = new Pusher({{
  appId: "{app_id}",
  key: "{key}",
  secret: process.env.PUSHER_APP_SECRET,
  host: "{host}",
  port: "{port}",
  useTLS: {force_tls},
}});"""
    return [
        (
            "pusher-js",
            "pusher-js (browser)",
            _pusher_js(key, host, port, tls)
            + """
pusher.subscribe("my-channel").bind("my-event", (data) => console.log(data));""",
        ),
        (
            "pusher-js-private",
            "pusher-js: private and presence channels (signed by your auth endpoint below)",
            _pusher_js(
                key,
                host,
                port,
                tls,
                """
  // Your own server signs each private- and presence- subscription: POST /pusher/auth
  channelAuthorization: { endpoint: "/pusher/auth", transport: "ajax" },""",
            )
            + """
pusher.subscribe("private-my-channel").bind("my-event", (data) => console.log(data));
const room = pusher.subscribe("presence-my-room");
room.bind("pusher:subscription_succeeded", (members) => console.log(members.count, "here"));
room.bind("pusher:member_added", (member) => console.log(member.info.name, "joined"));""",
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

{python_client}
pusher_client.trigger("my-channel", "my-event", {{"message": "hello"}})""",
        ),
        (
            "python-auth",
            "Python auth endpoint for private and presence channels (pip install pusher flask)",
            f"""import os

import pusher
from flask import Flask, jsonify, request

app = Flask(__name__)
{python_client}


@app.post("/pusher/auth")
def pusher_auth():
    # Your own sign-in decides who this is and which channels they may join.
    user = {{"user_id": "42", "user_info": {{"name": "Ada"}}}}
    channel = request.form["channel_name"]
    return jsonify(
        pusher_client.authenticate(
            channel=channel,
            socket_id=request.form["socket_id"],
            custom_data=user if channel.startswith("presence-") else None,
        )
    )""",
        ),
        (
            "node",
            "Node server SDK (npm install pusher)",
            f"""const Pusher = require("pusher");

{node_client}
pusher.trigger("my-channel", "my-event", {{ message: "hello" }});""",
        ),
        (
            "node-auth",
            "Node auth endpoint for private and presence channels (npm install pusher express)",
            f"""const express = require("express");
const Pusher = require("pusher");

{node_client}
const app = express();
app.use(express.urlencoded({{ extended: false }}));

app.post("/pusher/auth", (req, res) => {{
  // Your own sign-in decides who this is and which channels they may join.
  const user = {{ user_id: "42", user_info: {{ name: "Ada" }} }};
  const {{ socket_id, channel_name }} = req.body;
  const presenceData = channel_name.startsWith("presence-") ? user : undefined;
  res.send(pusher.authorizeChannel(socket_id, channel_name, presenceData));
}});
app.listen(process.env.PORT || 3000);""",
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
