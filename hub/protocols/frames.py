"""An outgoing message, shared by every connection it goes to, and the JSON encoding the
protocols write it with.

Protocols produce the text once; the transport fills `wire` with the bytes of the whole
websocket frame the first time it sends it, so a fan-out to N subscribers frames it once.
"""

import json
from typing import Any

import orjson

# json.dumps with any argument builds a new JSONEncoder per call: one, kept, is a third faster.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(value: Any) -> str:
    """Compact JSON, non-ASCII kept as is (the transport encodes the frame as UTF-8)."""
    return _ENCODER.encode(value)


def dumps_flat(value: dict[str, str | int]) -> str:
    """`dumps` of an object whose values are all str or int (not bool, not float), several
    times faster: for those orjson writes the stdlib's bytes exactly (the same escapes, non-ASCII
    as is). What orjson refuses (a lone surrogate, an int past 64 bits) goes to `dumps`."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return dumps(value)


class Outgoing:
    __slots__ = ("text", "wire")

    def __init__(self, text: str) -> None:
        self.text = text
        self.wire: bytes | None = None
