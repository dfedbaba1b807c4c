"""A real redis-server for tests: on an ephemeral port, in a temporary folder, persisting
nothing (`--save '' --appendonly no`), stopped and started again on the same port.

`redis_server()` fails under CI (bin/test sets HUB_REQUIRE_BROWSER; CI runners set CI) when
redis-server is not installed, and skips elsewhere: bin/test installs Debian's package."""

import shutil
import socket
import subprocess
import time
from pathlib import Path

from hubprocess import free_port
from required import missing

WAIT = 10.0  # seconds a start or a stop may take


class RedisServer:
    def __init__(self, program: str, folder: Path) -> None:
        self.program, self.folder = program, folder
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        assert self.proc is None, "redis-server runs already"
        keep_nothing = ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        log = open(self.folder / "redis.log", "ab")  # noqa: SIM115 - the process writes it
        self.proc = subprocess.Popen(
            [self.program, "--port", str(self.port), "--bind", "127.0.0.1", *keep_nothing],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + WAIT
        while not self.ping():
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited: {self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"redis-server did not answer PING in {WAIT} s")
            time.sleep(0.02)
        return self

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Kills it (SIGKILL: Redis gone at once, as in a crash) and waits until it ended."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT)
            self.proc = None

    def log(self) -> str:
        try:
            return (self.folder / "redis.log").read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"


def redis_server(folder: Path) -> RedisServer:
    """A started redis-server in `folder`; stop it in a `finally`."""
    program = shutil.which("redis-server")
    if program is None:
        missing("redis-server is not installed (apt-get install redis-server)")
    folder.mkdir(parents=True, exist_ok=True)
    return RedisServer(program, folder).start()
