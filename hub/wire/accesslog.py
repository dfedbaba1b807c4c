"""The access log: a line per answered request, for Tornado's handlers and for the websocket
handshakes and publishing requests the front door answers itself, with the secrets of the query
string cut out.

By default only refusals (4xx, WARNING) and errors (5xx, ERROR) are written: a line per
successful publish or handshake cost about a fifth of the hub's CPU on a publish-heavy load.
`Settings.access_log` (HUB_ACCESS_LOG=1) writes every answer, successes at INFO. The choice is
made once per hub (`AccessLog`): a success then costs one comparison, before any formatting."""

import logging
from urllib.parse import unquote_plus

from tornado.log import access_log

# Query arguments that carry a secret: a socket token (Phoenix and SSE), the dashboard's setup
# token, and the Pusher API's signature, which anyone who reads it could replay with the same
# body within its time window.
SECRET_ARGUMENTS = frozenset({"token", "auth_signature"})
REDACTED = "[redacted]"


def redacted(uri: str) -> str:
    """`uri` with the values of secret arguments replaced. A name is compared as the hub reads
    it, percent-decoded (`%74oken` is `token`), and the rest is left as it came."""
    path, mark, query = uri.partition("?")
    if not mark:
        return uri
    parts = query.split("&")
    changed = False
    for index, part in enumerate(parts):
        name, equals, _ = part.partition("=")
        if equals and ("%" in name or "+" in name):
            name = unquote_plus(name, errors="replace")
        if equals and name in SECRET_ARGUMENTS:
            parts[index] = f"{part[: part.index('=') + 1]}{REDACTED}"
            changed = True
    return f"{path}?{'&'.join(parts)}" if changed else uri


class AccessLog:
    """One hub's access log: every answer when `everything`, else refusals and errors only.
    Callers ask `wants(status)` before they gather what a line needs (the peer, the time)."""

    __slots__ = ("everything",)

    def __init__(self, everything: bool) -> None:
        self.everything = everything

    def wants(self, status: int) -> bool:
        return status >= 400 or self.everything

    def write(
        self, status: int, method: str, uri: str, remote_ip: str | None, millis: float
    ) -> None:
        """The line of an answer `wants` took."""
        log_access(status, method, uri, remote_ip, millis)


def log_access(status: int, method: str, uri: str, remote_ip: str | None, millis: float) -> None:
    """Writes one line, whatever the status: a success at INFO, a refusal at WARNING, an error
    at ERROR, each when the logger takes that level."""
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    if not access_log.isEnabledFor(level):
        return
    access_log.log(level, "%d %s %s (%s) %.2fms", status, method, redacted(uri), remote_ip, millis)
