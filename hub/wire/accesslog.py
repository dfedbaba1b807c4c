"""The access log: one line per answered request, for Tornado's handlers and for the websocket
handshakes the front door answers itself, with socket tokens cut out of the URI."""

import logging
import re

from tornado.log import access_log

# Socket tokens travel in the query string (Phoenix `params`); they are credentials.
_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&]*")


def log_access(status: int, method: str, uri: str, remote_ip: str | None, millis: float) -> None:
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    if not access_log.isEnabledFor(level):
        return
    uri = _TOKEN_IN_QUERY.sub(r"\1[redacted]", uri)
    access_log.log(level, "%d %s %s (%s) %.2fms", status, method, uri, remote_ip, millis)
