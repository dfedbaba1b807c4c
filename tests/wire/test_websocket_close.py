"""A client's control frames over a real socket (hub/wire/websocket.py): a close answered by
RFC 6455, with its own code when that is one a peer may send, 1002 or 1007 when the close is
malformed, and the TCP connection ended after the answer; a ping answered behind the 101."""

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


@pytest.mark.parametrize("endpoint", ["pusher", "phoenix"])
async def test_a_ping_behind_the_handshake_is_answered_after_it(
    hub_server, raw, endpoint: str
) -> None:
    # Found by the frame fuzzer: the pong was written before the 101 it came behind.
    path = pusher_path(hub_server)
    if endpoint == "phoenix":
        path = f"/socket/websocket?vsn=2.0.0&key={hub_server.key}"
    sock = await raw()
    await sock.send(handshake(path) + masked(0x9, b"now"))
    assert (await sock.head())[0] == 101
    if endpoint == "pusher":
        await sock.event()  # connection_established, queued with the 101
    assert await sock.frame() == (0xA, b"now")
