"""What the fuzzers share (tests/wire/test_fuzz_frames.py, tests/wire/test_fuzz_heads.py): a
seeded generator with a time budget, byte mutations, a hub in its own process whose log and
memory can be read, and raw connections that send bytes and read whatever comes back.

`HUB_FUZZ_SECONDS` (default 2) is each fuzzer's budget; `HUB_FUZZ_SEED` replays a run (every
failure names its seed). A soak run raises the budget: `HUB_FUZZ_SECONDS=600`."""

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hubprocess import AppKeys, HubProcess, create_app, free_port

SECONDS = float(os.environ.get("HUB_FUZZ_SECONDS", "2"))
# Connections one real-socket fuzzer opens at the least, whatever the budget.
MIN_CONNECTIONS = 300
AT_ONCE = 50  # connections open together
DRAIN = 0.2  # seconds a connection waits for more of the hub's answer after the last byte
# How much a hub process may grow over a fuzz run: everything a fuzzed connection made the
# hub hold must be gone with it (a hub starts at about 40 MB).
MAX_GROWTH_KIB = 48 * 1024
RESET = b"<reset>"  # ends what `exchange` got when the connection was reset


def seed() -> int:
    return int(os.environ.get("HUB_FUZZ_SEED") or random.randrange(1 << 32))


def budget(rng_seed: int, minimum: int = 0) -> Iterator[int]:
    """Counts rounds until the time budget is spent (and at least `minimum` were made)."""
    deadline = time.monotonic() + SECONDS
    count = 0
    while count < minimum or time.monotonic() < deadline:
        yield count
        count += 1


def mutate(rng: random.Random, data: bytes) -> bytes:
    """`data` with a few random edits: bits flipped, bytes set, cut, inserted or repeated."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(6)
        at = rng.randrange(len(buf) + 1)
        if choice == 0 and buf:
            buf[min(at, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif choice == 1 and buf:
            buf[min(at, len(buf) - 1)] = rng.choice((0, 0x7F, 0x80, 0xFF, 10, 13, 32, 58))
        elif choice == 2:
            del buf[at : at + rng.randint(1, 8)]
        elif choice == 3:
            buf[at:at] = rng.randbytes(rng.randint(1, 8))
        elif choice == 4:
            end = min(len(buf), at + rng.randint(1, 16))
            buf[at:at] = buf[at:end] * rng.randint(1, 50)
        else:
            buf = buf[:at]
    return bytes(buf)


def chunks(rng: random.Random, data: bytes) -> list[bytes]:
    """`data` cut at random places (or whole)."""
    if not data or rng.random() < 0.5:
        return [data]
    cuts = sorted(rng.sample(range(1, len(data) + 1), min(len(data), rng.randint(1, 6))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True) if a < b]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AppKeys]:
    db = tmp_path_factory.mktemp("fuzz") / "hub.db"
    return db, create_app(db, "fuzz")


@contextlib.asynccontextmanager
async def fuzzed_hub(fuzz_app: tuple[Path, AppKeys], log: Path):
    """A hub process that must come out of the run alive, answering, without a traceback in
    its log, and no more than MAX_GROWTH_KIB larger than it went in."""
    hub = HubProcess(fuzz_app[0], free_port(), fuzz_app[1], log, HUB_LOG_LEVEL="INFO")
    try:
        await hub.start()
        before = rss_kib(hub.pid)
        yield hub
        assert hub.running(), f"the hub died\n{hub.output()}"
        assert await hub._answers(), f"the hub no longer answers\n{hub.output()}"
        grown = rss_kib(hub.pid) - before
        assert grown < MAX_GROWTH_KIB, f"the hub grew by {grown} KiB"
        logged = log.read_text(errors="replace")
        assert "Traceback" not in logged, logged[-6000:]
    finally:
        hub.kill()


async def exchange(hub: HubProcess, pieces: list[bytes]) -> bytes:
    """Sends `pieces` on a new connection, then returns what the hub answered until it closed
    or was silent for DRAIN seconds."""
    reader, writer = await asyncio.open_connection(hub.host, hub.port)
    got = bytearray()
    try:
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
        while True:
            try:
                data = await asyncio.wait_for(reader.read(65536), DRAIN)
            except TimeoutError:
                break
            if not data:
                break
            got += data
    except (ConnectionError, OSError):
        # Closed by the hub while bytes it had not read were still coming (after a close
        # frame, a refusal): the kernel answers them with a reset, which may also discard
        # what the hub wrote before. What did arrive is still checked.
        got += RESET
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
    return bytes(got)


async def run_connections(
    hub: HubProcess,
    rng_seed: int,
    make: Callable[[random.Random], list[bytes]],
    check: Callable[[bytes, list[bytes]], str | None],
) -> int:
    """Fuzzed connections, AT_ONCE at a time, until the budget is spent; fails on the first
    answer `check` objects to (its message, with the seed and the bytes sent)."""
    rng = random.Random(rng_seed)
    done = 0
    rounds = budget(rng_seed, MIN_CONNECTIONS // AT_ONCE)
    for _ in rounds:
        sent = [make(rng) for _ in range(AT_ONCE)]
        answers = await asyncio.gather(*(exchange(hub, pieces) for pieces in sent))
        for pieces, answer in zip(sent, answers, strict=True):
            problem = check(answer, pieces)
            assert problem is None, f"seed {rng_seed}: {problem}; sent {b''.join(pieces)[:300]!r}"
        done += AT_ONCE
    return done
