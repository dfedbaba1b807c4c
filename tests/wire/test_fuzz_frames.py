"""The websocket frame fuzzer: valid client frames, mutated and cut anywhere, into the pure
frame reader (hub/wire/wsframe.py), then over real sockets into a hub process on both websocket
endpoints. Within each run's budget (HUB_FUZZ_SECONDS, tests/fuzzing.py): the reader gives
messages or a close code and nothing else, and the hub survives with no traceback and no
lasting growth."""

import random
import struct
from collections.abc import Callable
from pathlib import Path

from fuzzing import RESET, budget, chunks, fuzz_app, fuzzed_hub, mutate, run_connections, seed
from rawsocket import handshake

from hub.errors import CloseCode, close_code_allowed
from hub.wire.wsframe import FrameReader, Opcode, ProtocolError, close_answer

__all__ = ["fuzz_app"]  # the module's fixture

MAX_BYTES = 4096  # the reader's message limit here, so that "too big" is reached too


def client_frame(rng: random.Random, opcode: int, payload: bytes, final: bool = True) -> bytes:
    """A masked client frame, in a random length form where more than one fits."""
    length = len(payload)
    first = (0x80 if final else 0) | opcode
    if length < 126 and rng.random() < 0.8:
        header = struct.pack("!BB", first, 0x80 | length)
    elif length <= 0xFFFF and rng.random() < 0.8:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    mask = rng.randbytes(4)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def payload(rng: random.Random) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:
        return b'{"event":"pusher:ping","data":{}}'
    if kind == 1:
        return b'[null,"1","phoenix","heartbeat",{}]'
    if kind == 2:
        return "héllo ✓".encode() * rng.randint(0, 40)
    if kind == 3:
        return rng.randbytes(rng.choice((0, 1, 2, 125, 126, 200, 5000)))
    return rng.randint(0, 65535).to_bytes(2, "big") + rng.randbytes(rng.randint(0, 4))


def frames(rng: random.Random) -> bytes:
    """A few frames, most of them valid alone: messages, fragments, control frames."""
    out = []
    for _ in range(rng.randint(1, 5)):
        kind = rng.randrange(6)
        if kind == 0:  # a fragmented message, maybe with a ping inside
            first = client_frame(rng, Opcode.TEXT, b"fragm", final=False)
            ping = client_frame(rng, Opcode.PING, b"p") if rng.random() < 0.5 else b""
            out.append(first + ping + client_frame(rng, Opcode.CONTINUATION, b"ent"))
        elif kind == 1:
            out.append(client_frame(rng, rng.choice((Opcode.PING, Opcode.PONG)), payload(rng)))
        elif kind == 2:
            out.append(client_frame(rng, Opcode.CLOSE, payload(rng)[:125]))
        elif kind == 3:
            out.append(client_frame(rng, rng.randrange(16), payload(rng), rng.random() < 0.8))
        else:
            out.append(client_frame(rng, rng.choice((Opcode.TEXT, Opcode.BINARY)), payload(rng)))
    data = b"".join(out)
    return mutate(rng, data) if rng.random() < 0.7 else data


def test_the_frame_reader_gives_messages_or_a_close_code() -> None:
    run = seed()
    rng = random.Random(run)
    for _ in budget(run, 2000):
        data = frames(rng)
        reader = FrameReader(MAX_BYTES)
        try:
            for piece in chunks(rng, data):
                for message in reader.feed(piece):
                    assert message.opcode in Opcode, message
                    if message.opcode is Opcode.CLOSE:
                        assert close_code_allowed(close_answer(message.data)) or close_answer(
                            message.data
                        ) in (CloseCode.PROTOCOL_ERROR, CloseCode.INVALID_DATA)
                    elif message.opcode is Opcode.TEXT:
                        assert isinstance(message.data, str)
                    else:
                        assert isinstance(message.data, bytes) and len(message.data) <= MAX_BYTES
        except ProtocolError as error:
            assert error.code in CloseCode, (run, error.code)
        except Exception as error:  # any other is a bug of the reader
            raise AssertionError(f"seed {run}: {error!r} on {data[:300]!r}") from error


def _ws_connection(key: str) -> Callable[[random.Random], list[bytes]]:
    """Handshakes on either endpoint, with fuzzed frames behind them."""

    def make(rng: random.Random) -> list[bytes]:
        if rng.random() < 0.5:
            path = f"/app/{key}?protocol=7&client=fuzz&version=0"
        else:
            path = f"/socket/websocket?vsn=2.0.0&key={key}"
        return [handshake(path), *chunks(rng, frames(rng))]

    return make


def _answered_as_a_websocket(answer: bytes, sent: list[bytes]) -> str | None:
    # Whatever the frames, the handshake is answered first (or the reset took the answer).
    if not answer.startswith(b"HTTP/1.1 101 ") and answer != RESET:
        return f"the handshake got {answer[:100]!r}"
    return None


async def test_fuzzed_frames_over_real_sockets(fuzz_app, tmp_path: Path) -> None:
    run = seed()
    async with fuzzed_hub(fuzz_app, tmp_path / "hub.log") as hub:
        done = await run_connections(hub, run, _ws_connection(hub.key), _answered_as_a_websocket)
    assert done >= 300
