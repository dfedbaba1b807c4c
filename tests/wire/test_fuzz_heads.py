"""The request head fuzzer: heads the hub answers, mutated and cut anywhere, into the pure head
parser (hub/wire/httphead.py's parse_head), then over real sockets into the front door of a hub
process. Within each run's budget (HUB_FUZZ_SECONDS, tests/fuzzing.py): the parser gives a head
or a HeadError and nothing else; the hub answers with an HTTP status line or closes, and
survives with no traceback and no lasting growth."""

import random
from pathlib import Path

from fuzzing import RESET, budget, chunks, fuzz_app, fuzzed_hub, mutate, run_connections, seed
from rawsocket import handshake

from hub.wire.httphead import HeadError, parse_head

__all__ = ["fuzz_app"]  # the module's fixture

HEADER_NAMES = ["Host", "Content-Length", "Transfer-Encoding", "Connection", "Origin", "X-A"]


def head(rng: random.Random, key: str = "KEY", app_id: str = "ID") -> bytes:
    """A request head of a kind the hub serves, most of them valid before mutation."""
    kind = rng.randrange(5)
    if kind == 0:
        data = handshake(f"/app/{key}?protocol=7")
    elif kind == 1:
        data = handshake(f"/socket/websocket?vsn=2.0.0&key={key}&token=x")
    else:
        target = rng.choice(
            [f"/apps/{app_id}/events?auth_key={key}", "/", "/metrics", f"/apps/{key}/sse?c=a"]
        )
        lines = [f"{rng.choice(['GET', 'POST', 'PUT', 'OPTIONS'])} {target} HTTP/1.1"]
        for _ in range(rng.randint(0, 6)):
            name = rng.choice(HEADER_NAMES)
            value = rng.choice(["0", "5", "chunked", "close", "keep-alive", "x" * 50, "²", " "])
            lines.append(f"{name}: {value}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode() + rng.choice([b"", b"hello"])
    if rng.random() < 0.2:
        data = data.replace(b"\r\n", b"\n")  # bare LF heads
    return mutate(rng, data) if rng.random() < 0.8 else data


def test_parse_head_gives_a_head_or_a_head_error() -> None:
    run = seed()
    rng = random.Random(run)
    for _ in budget(run, 2000):
        data = head(rng)
        end = data.find(b"\r\n\r\n")
        data = data[: end + 4] if end >= 0 else data + b"\r\n\r\n"
        try:
            parsed = parse_head(data)
        except HeadError as error:
            assert 400 <= error.status < 500, (run, error.status)
            continue
        except Exception as error:  # any other is a bug of the parser
            raise AssertionError(f"seed {run}: {error!r} on {data[:300]!r}") from error
        # What the front door asks of a head it got must not raise either.
        assert isinstance(parsed.method, str) and isinstance(parsed.target, str)
        parsed.argument("token")
        parsed.header_values("Connection")


def _http_answer(answer: bytes, sent: list[bytes]) -> str | None:
    # An HTTP answer, or a close (a head cut short is waited for, then timed out) or a reset.
    if answer and not answer.startswith(b"HTTP/1.") and answer != RESET:
        return f"not an HTTP answer: {answer[:100]!r}"
    return None


async def test_fuzzed_heads_over_real_sockets(fuzz_app, tmp_path: Path) -> None:
    run = seed()
    async with fuzzed_hub(fuzz_app, tmp_path / "hub.log") as hub:

        def make(rng: random.Random) -> list[bytes]:
            return chunks(rng, head(rng, hub.key, hub.app_id))

        done = await run_connections(hub, run, make, _http_answer)
    assert done >= 300
