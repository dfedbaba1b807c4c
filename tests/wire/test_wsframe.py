"""The websocket wire format without sockets: handshake checks, server frames and the client
frame reader (masks, lengths, fragments, control frames, limits)."""

import os
import struct
from base64 import b64decode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import CloseCode, Refusal
from hub.wire.wsframe import (
    FrameReader,
    Message,
    Opcode,
    ProtocolError,
    accept_key,
    close_answer,
    close_frame,
    text_frame,
    upgrade_problem,
)

GOOD = {
    "Upgrade": "websocket",
    "Connection": "keep-alive, Upgrade",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


def client(opcode: int, payload: bytes, final: bool = True, mask: bytes | None = None) -> bytes:
    """A frame as a client sends it: masked."""
    mask = os.urandom(4) if mask is None else mask
    first = (0x80 if final else 0) | opcode
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", first, 0x80 | size)
    elif size <= 0xFFFF:
        head = struct.pack("!BBH", first, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, size)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_the_rfc_example_accept_key() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({}, None),
        ({"Upgrade": "h2c"}, 400),
        ({"Connection": "keep-alive"}, 400),
        ({"Sec-WebSocket-Version": "8"}, 426),
        ({"Sec-WebSocket-Key": "not base64!"}, 400),
        ({"Sec-WebSocket-Key": "c2hvcnQ="}, 400),  # 5 bytes, not 16
    ],
)
def test_upgrade_problems(change: dict, status: int | None) -> None:
    problem = upgrade_problem({**GOOD, **change})
    assert (problem.status if problem else None) == status


@pytest.mark.parametrize(("size", "header"), [(125, 2), (126, 4), (65535, 4), (65536, 10)])
def test_server_frames_pick_the_length_form(size: int, header: int) -> None:
    built = text_frame(b"x" * size)
    assert built[0] == 0x81 and len(built) == header + size
    assert not built[1] & 0x80  # servers never mask
    reader_view = client(Opcode.TEXT, b"x" * size)
    assert FrameReader(1 << 20).feed(reader_view) == [Message(Opcode.TEXT, "x" * size)]


def test_close_frames_carry_the_code_and_a_short_reason() -> None:
    built = close_frame(4100, "é" * 100)
    assert built[0] == 0x88 and built[1] <= 125
    # Cut between characters: the reason stays UTF-8, so the frame is a valid close.
    assert close_answer(built[2:]) == 4100
    assert built[4:].decode() == "é" * 61


@pytest.mark.parametrize(
    ("payload", "answer"),
    [
        (b"", 1000),  # no code: a normal close
        (b"\x03", 1002),  # 1 byte: half a code
        *[(code.to_bytes(2, "big"), code) for code in (1000, 1001, 1003, 1007, 1011, 1014)],
        *[(code.to_bytes(2, "big"), code) for code in (3000, 4000, 4100, 4999)],
        # Not on the wire: reserved, "no code", "abnormal", TLS, unassigned, out of range.
        *[(code.to_bytes(2, "big"), 1002) for code in (0, 999, 1004, 1005, 1006, 1015)],
        *[(code.to_bytes(2, "big"), 1002) for code in (1016, 2000, 2999, 5000, 65535)],
        ((1000).to_bytes(2, "big") + "bye é".encode(), 1000),
        ((1000).to_bytes(2, "big") + b"\xff\xfe", 1007),  # reason not UTF-8
        ((4000).to_bytes(2, "big") + "é".encode()[:1], 1007),  # a character cut in half
        ((999).to_bytes(2, "big") + b"\xff", 1002),  # the code is judged first
    ],
)
def test_a_client_close_is_answered_by_rfc_6455(payload: bytes, answer: int) -> None:
    assert close_answer(payload) == answer


def test_messages_split_anywhere_come_out_whole() -> None:
    wire = client(Opcode.TEXT, "héllo".encode()) + client(Opcode.TEXT, b"x" * 300)
    reader = FrameReader(1024)
    got = []
    for byte in wire:
        got += reader.feed(bytes([byte]))
    assert got == [Message(Opcode.TEXT, "héllo"), Message(Opcode.TEXT, "x" * 300)]


def test_fragments_join_around_control_frames() -> None:
    wire = (
        client(Opcode.TEXT, b"ab", final=False)
        + client(Opcode.PING, b"p")
        + client(Opcode.CONTINUATION, b"cd", final=False)
        + client(Opcode.CONTINUATION, b"ef")
        + client(Opcode.BINARY, b"\x00\x01")
        + client(Opcode.CLOSE, struct.pack("!H", 1000))
    )
    assert FrameReader(1024).feed(wire) == [
        Message(Opcode.PING, b"p"),
        Message(Opcode.TEXT, "abcdef"),
        Message(Opcode.BINARY, b"\x00\x01"),
        Message(Opcode.CLOSE, struct.pack("!H", 1000)),
    ]


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        (b"\x81\x05hello", CloseCode.PROTOCOL_ERROR),  # unmasked
        (bytes([0xC1]) + client(Opcode.TEXT, b"a")[1:], CloseCode.PROTOCOL_ERROR),  # RSV1
        (client(Opcode.CONTINUATION, b"a"), CloseCode.PROTOCOL_ERROR),
        (client(Opcode.TEXT, b"a", final=False) + client(Opcode.TEXT, b"b"), 1002),
        (client(0x3, b"a"), CloseCode.PROTOCOL_ERROR),  # reserved data opcode
        (client(0xB, b"a"), CloseCode.PROTOCOL_ERROR),  # reserved control opcode
        (client(Opcode.PING, b"a", final=False), CloseCode.PROTOCOL_ERROR),
        (client(Opcode.PING, b"a" * 126), CloseCode.PROTOCOL_ERROR),
        (client(Opcode.TEXT, b"\xff\xfe"), CloseCode.INVALID_DATA),
        (client(Opcode.TEXT, b"a" * 201), CloseCode.TOO_BIG),
        (
            client(Opcode.TEXT, b"a" * 120, final=False) + client(Opcode.CONTINUATION, b"a" * 90),
            CloseCode.TOO_BIG,
        ),
    ],
)
def test_what_the_rfc_forbids_is_a_protocol_error(wire: bytes, code: int) -> None:
    with pytest.raises(ProtocolError) as refused:
        FrameReader(200).feed(wire)
    assert refused.value.code == code


def test_an_oversized_length_is_refused_before_its_payload_arrives() -> None:
    head = struct.pack("!BBQ", 0x81, 0x80 | 127, 1 << 40)
    with pytest.raises(ProtocolError) as refused:
        FrameReader(1 << 20).feed(head)
    assert refused.value.code == CloseCode.TOO_BIG


@settings(max_examples=3000, deadline=None)
@given(
    st.tuples(
        st.text(alphabet="AQgwz09+/", min_size=20, max_size=24),
        st.sampled_from(["", "=", "==", "===", "= ", "=\t", "-", "_=", "é="]),
    ).map("".join),
    st.sampled_from(["Upgrade", "upgrade", "keep-alive, Upgrade", "Upgrade ,x", "upgrades", ""]),
)
def test_the_key_and_connection_checks_read_as_the_general_ones(key: str, connection: str) -> None:
    # The handshake's checks take short cuts; the answer is the plain reading's: a key is good
    # when b64decode(validate=True) makes 16 bytes of it, Connection when a token is "upgrade".
    try:
        good_key = len(b64decode(key, validate=True)) == 16
    except ValueError:
        good_key = False
    has_upgrade = "upgrade" in {token.strip().lower() for token in connection.split(",")}
    problem = upgrade_problem({**GOOD, "Connection": connection, "Sec-WebSocket-Key": key})
    if not has_upgrade:
        assert problem is Refusal.NO_CONNECTION_UPGRADE
    else:
        assert (problem is None) == good_key and problem in (None, Refusal.WEBSOCKET_KEY)
