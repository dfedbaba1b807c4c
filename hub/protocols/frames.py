"""An outgoing message, shared by every connection it goes to, and the JSON encoding the
protocols write it with.

Protocols produce the text once; the transport fills `wire` with the bytes of the whole
websocket frame the first time it sends it, so a fan-out to N subscribers frames it once.
"""

import json
from typing import Any


def dumps(value: Any) -> str:
    """Compact JSON, non-ASCII kept as is (the transport encodes the frame as UTF-8)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Outgoing:
    __slots__ = ("text", "wire")

    def __init__(self, text: str) -> None:
        self.text = text
        self.wire: bytes | None = None
