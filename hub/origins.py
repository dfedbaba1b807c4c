"""Allowed-origin patterns for websocket handshakes: validated and compiled once per app.

A pattern is an exact origin (`https://app.example.com`, `http://localhost:3000`), or one with
wildcards: `*.` as the leftmost part of the host (`https://*.example.com`, any subdomain, not
the bare domain), `*` as the port (`http://localhost:*`), or `*` alone (any origin). `null`
matches the literal `null` origin that browsers send for file:// pages. Schemes are http and
https only: a browser page's origin has one of them (or is `null`). An empty list allows
every origin. A handshake with no Origin header (a server-side client) is always allowed.
"""

import re
from collections.abc import Iterable

_PATTERN = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*)://"
    r"(?P<host>(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])"
    r"(:(?P<port>\*|[0-9]{1,5}))?"
)


class OriginPatternError(ValueError):
    pass


def normalize_pattern(pattern: str) -> str:
    """The canonical form of a pattern, or OriginPatternError saying what is wrong with it."""
    text = pattern.strip().lower().rstrip("/")
    if text in ("*", "null"):
        return text
    match = _PATTERN.fullmatch(text)
    if not match:
        raise OriginPatternError(
            f"{pattern!r} is not an origin pattern: use scheme://host[:port], e.g."
            " https://app.example.com, https://*.example.com or http://localhost:*"
        )
    if match["scheme"] not in ("http", "https"):
        raise OriginPatternError(
            f"{pattern!r}: a browser origin is http:// or https:// (or null for file:// pages)"
        )
    port = match["port"]
    if port and port != "*" and not 0 < int(port) < 65536:
        raise OriginPatternError(f"{pattern!r}: port out of range")
    return text


def _to_regex(pattern: str) -> str:
    if pattern == "*":
        return r".*"
    match = _PATTERN.fullmatch(pattern)
    if match is None:  # "null"
        return re.escape(pattern)
    host = match["host"]
    host_re = (
        r"[a-z0-9-]+(\.[a-z0-9-]+)*\." + re.escape(host[2:])
        if host.startswith("*.")
        else re.escape(host)
    )
    port = match["port"]
    port_re = "" if port is None else r":[0-9]{1,5}" if port == "*" else ":" + port
    return re.escape(match["scheme"]) + "://" + host_re + port_re


class OriginPolicy:
    """The compiled allowed-origins list of one app."""

    __slots__ = ("_regex", "patterns")

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(normalize_pattern(p) for p in patterns)
        self._regex = (
            re.compile("|".join(f"(?:{_to_regex(p)})" for p in self.patterns))
            if self.patterns
            else None
        )

    @classmethod
    def refuse_all(cls) -> "OriginPolicy":
        """For an app whose stored patterns are invalid: every browser origin is refused."""
        policy = cls(())
        policy._regex = re.compile(r"(?!)")
        return policy

    @property
    def allows_any(self) -> bool:
        return self._regex is None or "*" in self.patterns

    def allows(self, origin: str | None) -> bool:
        if origin is None or self._regex is None:
            return True
        return self._regex.fullmatch(origin.strip().lower().rstrip("/")) is not None
