"""Builds unmasked server-to-client websocket frames (RFC 6455), so that an event's frame is
made once and its bytes written unchanged to every subscriber's stream."""

import struct

_FIN_TEXT = 0x80 | 0x1


def text_frame(payload: bytes) -> bytes:
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", _FIN_TEXT, length)
    elif length <= 0xFFFF:
        header = struct.pack("!BBH", _FIN_TEXT, 126, length)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, length)
    return header + payload
