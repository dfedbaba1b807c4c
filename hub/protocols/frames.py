"""An outgoing message, shared by every connection it goes to.

Protocols produce the text once; the transport fills `wire` with the bytes of the whole
websocket frame the first time it sends it, so a fan-out to N subscribers frames it once.
"""


class Outgoing:
    __slots__ = ("text", "wire")

    def __init__(self, text: str) -> None:
        self.text = text
        self.wire: bytes | None = None
