"""An outgoing message, shared by every connection it goes to, and the JSON encoding the
protocols write it with.

Protocols produce the text once; the transport fills `wire` with the bytes of the whole
websocket frame the first time it sends it, so a fan-out to N subscribers frames it once.
"""

import json
import re
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


# What orjson reads otherwise than json.loads (see `loads`).
_LONG_NUMBER = re.compile(r"[0-9]{19}")
_LONG_NUMBER_BYTES = re.compile(rb"[0-9]{19}")
_MANY_BRACKETS = 200


def loads(text: str | bytes) -> Any:
    """`json.loads(text)`, by orjson where it reads the text the same (several times faster).
    Texts where the two differ go to json.loads: 19 digits in a row (orjson reads an integer
    past 64 bits as a float) and many brackets (json.loads refuses nesting past the recursion
    limit, orjson does not; 200 is well below it); so does whatever orjson refuses (NaN, a lone
    surrogate, bytes not UTF-8, a BOM), for json.loads to read or raise ValueError as ever."""
    if len(text) >= 19:
        if isinstance(text, str):
            long_number = _LONG_NUMBER.search(text)
            brackets = text.count("[") + text.count("{")
        else:
            long_number = _LONG_NUMBER_BYTES.search(text)
            brackets = text.count(b"[") + text.count(b"{")
        if long_number is not None or brackets > _MANY_BRACKETS:
            return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


class Outgoing:
    __slots__ = ("text", "wire")

    def __init__(self, text: str) -> None:
        self.text = text
        self.wire: bytes | None = None
