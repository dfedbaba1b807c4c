"""`hub trigger`: publish one event through a running hub's HTTP API, signed with the app's
newest key pair as any Pusher server library would sign it. A refusal is one line with the
status and the API's error; the signed URL is never printed."""

import argparse
import hashlib
import json
import sys
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
    base = _hub_url(args.url)
    try:
        json.loads(args.data)
    except ValueError:
        # As Pusher's libraries do: data is a string, JSON or not. Said, as a typo is likely.
        print("hub: note: DATA is not JSON; it is sent as a plain string", file=sys.stderr)
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
    url = base + path + "?" + urllib.parse.urlencode(query)
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    # No message below may quote `url`: it carries the key and the request's signature.
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            print(response.read().decode())
    except urllib.error.HTTPError as error:
        raise CliError(f"the hub refused the event: {error.code} {_api_error(error)}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise CliError(f"cannot reach the hub at {base}: {reason}", code=1) from None
    return 0


def _hub_url(text: str) -> str:
    """The running hub's base URL, checked before anything is signed for it."""
    parts = urllib.parse.urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise CliError(f"--url {text!r} is not a hub's address: use e.g. http://127.0.0.1:6001")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise CliError(f"--url {text!r}: the port is not a number from 1 to 65535") from None
    return urllib.parse.urlunsplit(parts._replace(fragment="")).rstrip("/")


def _api_error(error: urllib.error.HTTPError) -> str:
    """The API's `{"error": ...}`, or the reason phrase when the body is something else."""
    try:
        return str(json.loads(error.read().decode())["error"])
    except (ValueError, KeyError, TypeError, OSError):
        return str(error.reason)
