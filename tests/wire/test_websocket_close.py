"""A client's close frame over a real socket (hub/wire/websocket.py): answered by RFC 6455, with
its own code when that is one a peer may send, 1002 or 1007 when the close is malformed, and the
TCP connection ended after the answer."""

import pytest
from rawsocket import handshake, masked, pusher_path


@pytest.mark.parametrize(
    ("payload", "answer"),
    [
        (b"", 1000),
        ((4000).to_bytes(2, "big") + b"bye", 4000),
        (b"\x03", 1002),
        ((999).to_bytes(2, "big"), 1002),
        ((1005).to_bytes(2, "big"), 1002),
        ((1006).to_bytes(2, "big"), 1002),
        ((1015).to_bytes(2, "big"), 1002),
        ((65535).to_bytes(2, "big"), 1002),
        ((1000).to_bytes(2, "big") + b"\xc3", 1007),
    ],
    ids=["empty", "4000", "one-byte", "999", "1005", "1006", "1015", "65535", "not-utf8"],
)
async def test_a_client_close_is_answered_by_rfc_6455(
    hub_server, raw, payload: bytes, answer: int
) -> None:
    sock = await raw()
    await sock.send(handshake(pusher_path(hub_server)))
    assert (await sock.head())[0] == 101
    await sock.event()  # connection_established
    await sock.send(masked(0x8, payload))
    opcode, reply = await sock.frame()
    assert opcode == 0x8
    assert int.from_bytes(reply[:2], "big") == answer
    assert await sock.at_end()
