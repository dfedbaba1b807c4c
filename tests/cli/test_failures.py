"""Every failure of the `hub` command, run as a real process: it ends within 5 s with a
non-zero status and exactly one line on stderr, never a traceback. `hub serve` on a port in use,
a bad port or host; a database that is a directory, damaged, read-only, missing or in a missing
directory; no terminal to ask a password at; Ctrl-C at that prompt; a reader that goes away."""

import asyncio
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_commands import REPO, new_db
from test_users import create

from hub.store import Store

LIMIT = 5.0  # seconds a failing command may take to end


def fails(
    *args: str, code: int, says: str, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess:
    """Runs `python -m hub ARGS` with no terminal; checks the failure's shape; returns it."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "hub", *args],
        capture_output=True,
        text=True,
        timeout=LIMIT + 10,  # the assertion below says how long it took
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        # This checkout's hub wherever it runs, not an installed one.
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
    )
    took = time.monotonic() - started
    assert took < LIMIT, f"hub {' '.join(args)} took {took:.1f} s"
    assert done.returncode == code, done
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("hub"), done.stderr
    assert says in done.stderr, done.stderr
    return done


def test_serve_on_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        fails("serve", "--port", port, "--db", str(tmp_path / "h.db"), code=1, says="in use")
    assert not (tmp_path / "h.db").exists(), "the port is tried before the database"


@pytest.mark.parametrize("port", ["-1", "70000"])
def test_serve_on_a_port_out_of_range(tmp_path: Path, port: str) -> None:
    fails("serve", "--port", port, "--db", str(tmp_path / "h.db"), code=2, says="1 to 65535")


@pytest.mark.parametrize("host", ["999.1.1.1", "no-such-host.invalid"])
def test_serve_on_a_host_that_is_no_address(tmp_path: Path, host: str) -> None:
    args = ("serve", "--host", host, "--port", "0", "--insecure-http")
    fails(*args, "--db", str(tmp_path / "h.db"), code=1, says=host)


def test_a_bad_setting_from_the_environment(tmp_path: Path) -> None:
    args = ("serve", "--port", "0", "--db", str(tmp_path / "h.db"))
    fails(*args, code=2, says="HUB_ACTIVITY_TIMEOUT=-3", HUB_ACTIVITY_TIMEOUT="-3")


@pytest.fixture(params=["serve", "apps"])
def command(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """A command that opens the database: `hub serve`, or one that only reads it."""
    return ("serve", "--port", "0") if request.param == "serve" else ("apps", "list")


def test_a_database_that_is_a_directory(tmp_path: Path, command: tuple[str, ...]) -> None:
    fails(*command, "--db", str(tmp_path), code=2, says="is a directory")


def test_a_damaged_database(tmp_path: Path, command: tuple[str, ...]) -> None:
    db = tmp_path / "hub.db"
    db.write_bytes(b"not a database, " * 1000)
    fails(*command, "--db", str(db), code=2, says="not a hub database")


def test_a_database_in_a_missing_directory(tmp_path: Path, command: tuple[str, ...]) -> None:
    says = "no directory" if command[0] == "serve" else "no database"
    fails(*command, "--db", str(tmp_path / "no" / "h.db"), code=2, says=says)
    assert not (tmp_path / "no").exists()


def test_only_serve_creates_a_database(tmp_path: Path) -> None:
    fails("apps", "list", cwd=tmp_path, code=2, says="no database hub.db in")
    fails("apps", "create", "x", "--db", str(tmp_path / "x.db"), code=2, says="hub serve")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def read_only_db(tmp_path: Path) -> Iterator[Path]:
    """A hub database the process may read and not write: a file mode 0444 in a directory
    mode 0555, or, as root (whom modes do not stop), on a tmpfs remounted read-only."""
    folder = tmp_path / "ro"
    folder.mkdir()
    root = os.geteuid() == 0
    if root:
        mount = ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(folder)]
        done = subprocess.run(mount, capture_output=True, text=True, timeout=LIMIT)
        if done.returncode != 0:  # as tests/store/test_faults.py: required in CI
            reason = f"cannot mount a tmpfs: {done.stderr.strip()}"
            pytest.fail(reason) if os.environ.get("CI") else pytest.skip(reason)
    db = folder / "hub.db"
    asyncio.run(_make_database(db))
    try:
        if root:
            remount = ["mount", "-o", "remount,ro", str(folder)]
            subprocess.run(remount, capture_output=True, timeout=LIMIT, check=True)
        else:
            db.chmod(0o444)
            folder.chmod(0o555)
        yield db
    finally:
        if root:
            subprocess.run(["umount", str(folder)], capture_output=True, timeout=LIMIT, check=True)
        else:
            folder.chmod(0o755)


async def _make_database(path: Path) -> None:
    await (await Store.open(str(path))).close()


def test_a_read_only_database(read_only_db: Path, command: tuple[str, ...]) -> None:
    fails(*command, "--db", str(read_only_db), code=2, says="read-only")


def test_a_password_prompt_without_a_terminal(tmp_path: Path) -> None:
    db = new_db(tmp_path)
    assert create(db, "a@b.example", "admin").returncode == 0
    for verb in ("create", "set-password"):
        fails("--db", str(db), "users", verb, "a@b.example", code=2, says="--password-stdin")


def test_an_argument_error_is_one_line(tmp_path: Path) -> None:
    fails("apps", "create", code=2, says="see hub apps create --help")
    fails("serve", "--port", "many", code=2, says="invalid int value")


def test_ctrl_c_at_the_password_prompt(tmp_path: Path) -> None:
    db = str(new_db(tmp_path))
    started = time.monotonic()
    argv = [sys.executable, "-m", "hub", "--db", db, "users", "create", "a@b.example"]
    pid, terminal = pty.fork()
    if pid == 0:  # the child: a process on its own terminal, as in a shell
        os.execv(sys.executable, argv)
    printed = _read_until(terminal, b"Password: ", started)
    os.write(terminal, b"\x03")  # what Ctrl-C types: the terminal sends SIGINT
    printed += _read_until(terminal, None, started)
    _, status = os.waitpid(pid, 0)
    os.close(terminal)
    assert time.monotonic() - started < LIMIT
    assert os.waitstatus_to_exitcode(status) == 130, printed
    assert b"Traceback" not in printed and printed.count(b"\n") <= 2, printed


def _read_until(fd: int, text: bytes | None, started: float) -> bytes:
    """What the terminal shows, up to `text` (None: to the end), within the time limit."""
    printed = b""
    while text is None or text not in printed:
        left = LIMIT - (time.monotonic() - started)
        assert left > 0, printed
        if not select.select([fd], [], [], left)[0]:
            continue
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # EIO: the child has ended and closed its side
            chunk = b""
        if not chunk:
            assert text is None, printed
            return printed
        printed += chunk
    return printed


def test_a_reader_that_goes_away(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    asyncio.run(_many_apps(db, 2000))  # more lines than a pipe holds
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "hub", "--db", str(db), "apps", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None and process.stdout.readline()
        process.stdout.close()  # `| head -1`
        assert process.wait(LIMIT) == 128 + signal.SIGPIPE
        assert process.stderr is not None and process.stderr.read() == b""
    finally:
        if process.returncode is None:
            process.kill()
            process.wait()
    assert time.monotonic() - started < LIMIT


async def _many_apps(path: Path, count: int) -> None:
    store = await Store.open(str(path))
    try:
        for number in range(count):
            await store.create_app(f"app {number}")
    finally:
        await store.close()
