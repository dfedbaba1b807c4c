"""`hub trigger`: publish one event through a running hub's HTTP API, signed with the app's
newest key pair as any Pusher server library would sign it."""

import argparse
import hashlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from hub.auth.signatures import request_signed_text, sign
from hub.cli.common import DB_OPTION, CliError, with_store
from hub.services.apps import AppService


def add_trigger(commands: Any) -> None:
    trigger = commands.add_parser(
        "trigger", parents=[DB_OPTION], help="publish an event through a running hub"
    )
    trigger.add_argument("app_id")
    trigger.add_argument("channel")
    trigger.add_argument("event")
    trigger.add_argument("data", help="the event data (a string; JSON is passed as is)")
    trigger.add_argument("--url", default="http://127.0.0.1:6001", help="the running hub's URL")
    trigger.set_defaults(run=_trigger)


def _trigger(args: argparse.Namespace) -> int:
    app = with_store(args, lambda store: AppService(store).app(args.app_id))
    pair = app.keys[-1]
    body = json.dumps({"name": args.event, "channels": [args.channel], "data": args.data}).encode()
    path = f"/apps/{app.id}/events"
    query = {
        "auth_key": pair.key,
        "auth_timestamp": str(int(time.time())),
        "auth_version": "1.0",
        "body_md5": hashlib.md5(body).hexdigest(),
    }
    query["auth_signature"] = sign(pair.secret, request_signed_text("POST", path, query))
    url = args.url.rstrip("/") + path + "?" + urllib.parse.urlencode(query)
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            print(response.read().decode())
    except urllib.error.HTTPError as error:
        raise CliError(f"{error.code}: {error.read().decode()}") from None
    except urllib.error.URLError as error:
        raise CliError(f"cannot reach the hub at {args.url}: {error.reason}") from None
    return 0
