"""The websocket wire format (RFC 6455), with no I/O: the handshake's checks and answer, the
unmasked frames a server sends (an event's frame is built once and its bytes written unchanged
to every subscriber), and `FrameReader`, which turns a client's bytes into messages.

No permessage-deflate: a client that offers it gets an answer without it, as the RFC allows,
so every frame is sent as built.
"""

import hashlib
import re
import struct
from binascii import b2a_base64
from collections.abc import Mapping
from enum import IntEnum
from typing import NamedTuple

from hub.errors import CloseCode, Refusal, close_code_allowed

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# A Sec-WebSocket-Key that is 16 bytes in base64 (RFC 6455 4.1): what b64decode(key,
# validate=True) reads as 16 bytes, in one match (the bits past the 16th byte are not looked at).
_KEY = re.compile(r"[A-Za-z0-9+/]{22}==")


class Opcode(IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


# -- the handshake ---------------------------------------------------------------------------


def upgrade_problem(headers: Mapping[str, str]) -> Refusal | None:
    """Why the request is not a websocket upgrade this server speaks; None when it is."""
    if headers.get("Upgrade", "").lower() != "websocket":
        return Refusal.NOT_WEBSOCKET
    connection = headers.get("Connection", "").lower()
    if connection != "upgrade" and "upgrade" not in {
        token.strip() for token in connection.split(",")
    }:
        return Refusal.NO_CONNECTION_UPGRADE
    if headers.get("Sec-WebSocket-Version") != "13":
        return Refusal.WEBSOCKET_VERSION
    if _KEY.fullmatch(headers.get("Sec-WebSocket-Key", "")) is None:
        return Refusal.WEBSOCKET_KEY
    return None


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key."""
    return b2a_base64(hashlib.sha1(key.encode() + _GUID).digest(), newline=False).decode()


# -- server frames ---------------------------------------------------------------------------


def frame(opcode: int, payload: bytes) -> bytes:
    length = len(payload)
    first = 0x80 | opcode
    if length < 126:
        return bytes((first, length)) + payload
    if length <= 0xFFFF:
        header = struct.pack("!BBH", first, 126, length)
    else:
        header = struct.pack("!BBQ", first, 127, length)
    return header + payload


def text_frame(payload: bytes) -> bytes:
    return frame(Opcode.TEXT, payload)


def close_frame(code: int, reason: str = "") -> bytes:
    # A control frame's payload is at most 125 bytes: the code and up to 123 of reason, cut
    # between characters so that the reason stays UTF-8 (a client fails a close that is not).
    cut = reason.encode()[:123].decode("utf-8", "ignore").encode()
    return frame(Opcode.CLOSE, struct.pack("!H", code) + cut)


# -- client frames ---------------------------------------------------------------------------


# Opcode by value, for the reader: calling an enum class costs a microsecond a frame.
_OPCODES = {int(opcode): opcode for opcode in Opcode}


class Message(NamedTuple):
    opcode: Opcode  # TEXT (data is str), BINARY, CLOSE, PING or PONG (data is bytes)
    data: str | bytes


class ProtocolError(Exception):
    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def unmask(payload: bytes, mask: bytes) -> bytes:
    size = len(payload)
    if not size:
        return payload
    key = (mask * (size // 4 + 1))[:size]
    # One XOR of two big integers: C speed, not a Python loop per byte.
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")


class FrameReader:
    """Splits a client's bytes into messages: fragments joined, masks removed, text decoded.
    `feed` returns the complete messages so far and keeps any partial frame; it raises
    ProtocolError (the close code to answer with) on anything RFC 6455 forbids or a message
    over `max_bytes`."""

    __slots__ = ("_buffer", "_fragments", "_fragments_opcode", "_fragments_size", "max_bytes")

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._buffer = b""
        self._fragments: list[bytes] | None = None
        self._fragments_opcode = Opcode.TEXT
        self._fragments_size = 0

    def feed(self, data: bytes) -> list[Message]:
        buffer = self._buffer + data if self._buffer else data
        messages: list[Message] = []
        pos, size = 0, len(buffer)
        while size - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1]
            if first & 0x70:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "reserved bits set")
            if not second & 0x80:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "client frames must be masked")
            length = second & 0x7F
            start = pos + 2
            if length == 126:
                start += 2
                if size < start:
                    break
                length = int.from_bytes(buffer[pos + 2 : start], "big")
            elif length == 127:
                start += 8
                if size < start:
                    break
                length = int.from_bytes(buffer[pos + 2 : start], "big")
            if length > self.max_bytes:
                raise ProtocolError(CloseCode.TOO_BIG, "message too big")
            end = start + 4 + length
            if size < end:
                break
            payload = unmask(buffer[start + 4 : end], buffer[start : start + 4])
            pos = end
            message = self._message(first & 0x80 != 0, first & 0x0F, payload)
            if message is not None:
                messages.append(message)
        self._buffer = buffer[pos:]
        return messages

    def _message(self, final: bool, opcode: int, payload: bytes) -> Message | None:
        if opcode >= 0x8:
            if opcode not in (Opcode.CLOSE, Opcode.PING, Opcode.PONG):
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "unknown control opcode")
            if not final or len(payload) > 125:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "malformed control frame")
            return Message(_OPCODES[opcode], payload)
        if opcode == Opcode.CONTINUATION:
            if self._fragments is None:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "continuation of nothing")
        elif opcode in (Opcode.TEXT, Opcode.BINARY):
            if self._fragments is not None:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "new message inside a fragmented one")
            if final:
                return self._complete(_OPCODES[opcode], payload)
            self._fragments, self._fragments_opcode, self._fragments_size = [], _OPCODES[opcode], 0
        else:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "unknown data opcode")
        self._fragments_size += len(payload)
        if self._fragments_size > self.max_bytes:
            raise ProtocolError(CloseCode.TOO_BIG, "message too big")
        self._fragments.append(payload)
        if not final:
            return None
        whole = b"".join(self._fragments)
        self._fragments = None
        return self._complete(self._fragments_opcode, whole)

    @staticmethod
    def _complete(opcode: Opcode, payload: bytes) -> Message:
        if opcode == Opcode.BINARY:
            return Message(opcode, payload)
        try:
            return Message(opcode, payload.decode("utf-8"))
        except UnicodeDecodeError:
            raise ProtocolError(CloseCode.INVALID_DATA, "text is not UTF-8") from None


def close_answer(payload: bytes) -> int:
    """The code to answer a client's close frame with (RFC 6455 5.5.1, 7.4): its own code when
    it is one a peer may send, 1000 when it has none, 1002 for a 1-byte payload or a code not
    allowed on the wire, 1007 for a reason that is not UTF-8."""
    if not payload:
        return CloseCode.NORMAL
    if len(payload) == 1:
        return CloseCode.PROTOCOL_ERROR
    code = int.from_bytes(payload[:2], "big")
    if not close_code_allowed(code):
        return CloseCode.PROTOCOL_ERROR
    try:
        payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        return CloseCode.INVALID_DATA
    return code
