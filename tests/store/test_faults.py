"""A store that cannot write: publishing answers 503 and sends nothing, /metrics and the log say
so (one ERROR line per interval), and the hub recovers by itself once writes work again.

First with a failing `write_history` injected into an in-process hub (always runs), then with a
real hub process whose database lives on a small tmpfs that is filled up (needs root: the
tests fail when $CI is set and the mount is refused, and are skipped otherwise): publishing
during the failure, recovery without a restart, a clean stop with an intact database and a
bounded write-ahead log, every acknowledged event in the history after a restart; and a stop
while the disk is full, which must end within its bound with exit code 1 and one line.

A store made read-only while the hub runs is not tested: Linux refuses `mount -o remount,ro`
(EBUSY, "mount point is busy") while a process holds files of it open for writing, as the hub
holds its database, -wal and -shm files.
"""

import asyncio
import contextlib
import errno
import json
import logging
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import WAIT, call, signed_query
from hubprocess import HubProcess, create_app, free_port
from rawsocket import Raw
from tornado.httpclient import AsyncHTTPClient
from tornado.websocket import websocket_connect

from hub.core.commits import FAILURE_LOG_INTERVAL, IDLE_WRITE_INTERVAL
from hub.pytest_plugin import RunningHub
from hub.server import FINAL_WRITE_TIMEOUT
from hub.store import WAL_SIZE_LIMIT
from hub.tokens import mint

FULL = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


# -- helpers --------------------------------------------------------------------------------------


async def metrics(hub: Any) -> dict[str, float]:
    """The /metrics samples without labels, by name."""
    response = await AsyncHTTPClient().fetch(f"{hub.url}/metrics", request_timeout=WAIT)
    samples = {}
    for line in response.body.decode().splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.split(" ")
            samples[name] = float(value)
    return samples


def request(hub: Any, route: str, body: dict, version: str) -> bytes:
    """A signed publishing request. HTTP/1.1 kept alive is the front door's fast path
    (hub/wire/fastpath.py); HTTP/1.0 always goes to Tornado's handlers."""
    data = json.dumps(body).encode()
    path = f"/apps/{hub.app_id}/{route}"
    query = signed_query("POST", path, data, hub.key, hub.secret)
    head = (
        f"POST {path}?{query} {version}\r\nHost: hub\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def publish_raw(hub: Any, route: str, body: dict, version: str) -> tuple[int, Any, bool]:
    """(status, JSON answer, answered by Tornado) of one publishing request on a new socket."""
    sock = await Raw.open(hub, WAIT)
    try:
        await sock.send(request(hub, route, body, version))
        status, headers, answer = await sock.response()
    finally:
        sock.close()
    # Tornado names itself in a Server header; the front door does not.
    return status, json.loads(answer), "server" in headers


def one(name: str, data: str) -> dict:
    return {"name": name, "channel": "news", "data": data}


def batch(*names: str) -> dict:
    return {"batch": [one(name, name) for name in names]}


def failing_problems(samples: dict[str, float], logged: list[tuple[str, str]]) -> list[str]:
    """What is wrong with /metrics and the history log (level, message) while the store still
    cannot write, after several failures within one FAILURE_LOG_INTERVAL."""
    problems = []
    if samples["hub_history_store_failing"] != 1:
        problems.append(
            f"hub_history_store_failing is {samples['hub_history_store_failing']:g} while the"
            " store still cannot write"
        )
    recovered = [message for level, message in logged if "work again" in message]
    if recovered:
        problems.append(f"{len(recovered)} lines say writes work again while they do not")
    errors = [message for level, message in logged if level == "ERROR"]
    if len(errors) != 1:
        problems.append(f"{len(errors)} ERROR lines within one interval, not 1")
    if problems:
        problems.append("the history log:")
        problems.extend(f"  {level} {message}" for level, message in logged)
    return problems


# -- a failing store injected into an in-process hub ----------------------------------------------


GATED_ON_THE_FILE = pytest.mark.single_process(
    "gates the 2xx on the node's file; on Redis the history is Redis's (hub/core/history_mirror.py)"
)


@GATED_ON_THE_FILE
async def test_a_refusing_store_answers_503_on_both_paths_then_recovers(
    hub_server: RunningHub, connect, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="hub.history")
    store = hub_server.server.store
    client = await connect()
    assert (await client.subscribe("news"))["event"] == "pusher_internal:subscription_succeeded"
    for name in ("a1", "a2"):
        assert await publish_raw(hub_server, "events", one(name, name), "HTTP/1.1") == (
            200,
            {},
            False,
        )
    assert [((await client.expect(n))["seq"]) for n in ("a1", "a2")] == [1, 2]

    real_write, refused = store.write_history, []

    async def full_disk(chunks: list, doomed: list, run_state: str | None = None) -> None:
        # As SQLite on a full disk: a transaction that changes nothing still commits.
        if chunks or doomed or run_state is not None:
            refused.append(chunks)
            raise FULL

    store.write_history = full_disk
    try:
        answers = []
        for version in ("HTTP/1.1", "HTTP/1.0"):
            for route, body in (("events", one("lost", "x")), ("batch_events", batch("l1", "l2"))):
                status, answer, tornado = await publish_raw(hub_server, route, body, version)
                assert tornado == (version == "HTTP/1.0"), (version, route)
                answers.append((status, answer))
                # A publisher that pauses: the writer's idle turn comes between two publishes.
                await asyncio.sleep(IDLE_WRITE_INTERVAL * 1.5)
        expected = {"error": f"history could not be stored: {FULL}"}
        assert answers == [(503, expected)] * 4
        await client.nothing(0.3)
        samples = await metrics(hub_server)
        logged = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "hub.history"]
        assert samples["hub_history_write_failures_total"] == len(refused) >= 4
        errors = [m for level, m in logged if level == "ERROR"]
        assert errors and "No space left on device" in errors[0], logged
        assert not any(r.exc_info for r in caplog.records), "a traceback was logged"
        # Checked here, asserted at the end, so that the recovery is tested all the same.
        assert FAILURE_LOG_INTERVAL >= 10  # the failures above all fall within one interval
        problems = failing_problems(samples, logged)
    finally:
        store.write_history = real_write
    recovering = len(caplog.records)

    # The next events continue after the last acknowledged seq: nobody saw the refused ones.
    assert await publish_raw(hub_server, "events", one("b1", "b1"), "HTTP/1.1") == (200, {}, False)
    assert await publish_raw(hub_server, "batch_events", batch("b2"), "HTTP/1.0") == (200, {}, True)
    frames = [await client.recv() for _ in range(2)]
    assert [(f["event"], f["seq"]) for f in frames] == [("b1", 3), ("b2", 4)]
    status, page = await call(hub_server, "GET", f"/apps/{hub_server.app_id}/channels/news/events")
    assert status == 200
    assert [(e["seq"], e["event"]) for e in page["events"]] == [
        (1, "a1"),
        (2, "a2"),
        (3, "b1"),
        (4, "b2"),
    ]
    samples = await metrics(hub_server)
    assert samples["hub_history_store_failing"] == 0
    assert samples["hub_history_write_failures_total"] == len(refused)
    warnings = [r.getMessage() for r in caplog.records[recovering:] if r.levelname == "WARNING"]
    if not any("history writes work again" in message for message in warnings):
        problems.append("no line said that writes work again once they did")
    assert not problems, "\n".join(problems)


@GATED_ON_THE_FILE
async def test_socket_events_the_store_refuses_are_refused_to_their_senders(
    hub_server: RunningHub, connect, sdk
) -> None:
    """A Pusher client event gets `pusher:error` 4301 and a Phoenix push an `unavailable`
    reply; nobody receives them. Once the store writes again both go through, the push's `ok`
    coming once it is stored."""
    store = hub_server.server.store
    ann, bob = await connect(), await connect()
    for client in (ann, bob):
        auth = sdk.authenticate("private-chat", client.socket_id)
        assert (await client.subscribe("private-chat", **auth))["event"].endswith("succeeded")
    token = mint(hub_server.secret, "carl", publish=["private-chat"], channels=["private-chat"])
    carl = await websocket_connect(
        f"{hub_server.ws_url}/socket/websocket?vsn=2.0.0&key={hub_server.key}&token={token}"
    )
    await carl.write_message(json.dumps(["1", "1", "private-chat", "phx_join", {}]))
    assert json.loads(await carl.read_message())[4]["status"] == "ok"
    real_write = store.write_history

    async def full_disk(*batch) -> None:
        raise FULL

    store.write_history = full_disk
    try:
        await ann.send("client-typing", {"n": 1}, channel="private-chat")
        error = await ann.expect("pusher:error")
        assert error["data"]["code"] == 4301 and "could not be stored" in error["data"]["message"]
        await carl.write_message(json.dumps(["1", "2", "private-chat", "shout", {"n": 2}]))
        reply = json.loads(await carl.read_message())
        assert reply[1] == "2" and reply[4]["status"] == "error"
        assert reply[4]["response"]["reason"] == "unavailable"
        await bob.nothing()
    finally:
        store.write_history = real_write
    await ann.send("client-typing", {"n": 3}, channel="private-chat")
    assert (await bob.expect("client-typing"))["data"] == {"n": 3}
    await carl.write_message(json.dumps(["1", "3", "private-chat", "shout", {"n": 4}]))
    frames = [json.loads(await carl.read_message()) for _ in range(2)]
    assert [f[3] for f in frames] == ["client-typing", "phx_reply"]
    assert frames[1][4]["status"] == "ok"
    assert (await bob.expect("shout"))["seq"] == 2, "the refused events gave their seqs back"
    carl.close()


@GATED_ON_THE_FILE
async def test_a_publish_while_another_writer_holds_the_database_waits_for_it(
    hub_server: RunningHub, connect
) -> None:
    """The loop's own connection never waits for a lock: the write goes to aiosqlite's
    thread, which does, and the publish is answered once the other writer is done."""
    client = await connect()
    assert (await client.subscribe("news"))["event"] == "pusher_internal:subscription_succeeded"
    other = sqlite3.connect(hub_server.server.store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # as the CLI would while it changes an app
    try:
        answer = asyncio.ensure_future(
            call(hub_server, "POST", f"/apps/{hub_server.app_id}/events", one("late", "late"))
        )
        await asyncio.sleep(0.3)
        assert not answer.done(), "answered while the store could not have it"
        await client.nothing(0.05)
    finally:
        other.execute("COMMIT")
        other.close()
    assert await answer == (200, {})
    assert (await client.expect("late"))["seq"] == 1


# -- a real hub process on a small filesystem that fills up ---------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs mounted in tmp_path, unmounted at the end."""
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", str(mount)],
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
        refusal = done.stderr.strip() or f"exit code {done.returncode}"
    except OSError as error:  # no mount command
        done, refusal = None, str(error)
    if done is None or done.returncode != 0:
        reason = f"cannot mount a tmpfs (needs root): {refusal}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True, timeout=WAIT, check=True)


def fill(directory: Path) -> Path:
    """Writes a file until the filesystem has no block left; returns it."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for size in (1 << 16, 1 << 12, 1):
            block = b"\xff" * size
            while True:
                try:
                    os.write(fd, block)
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    assert os.statvfs(directory).f_bavail == 0
    return filler


def empty_the_log(db: Path) -> None:
    """Checkpoints the write-ahead log into the database and truncates it to nothing, so that
    once the disk is full no commit fits: without this, a commit may still land in log space
    written before (and is then stored for real: these tests want writes that cannot be)."""
    with contextlib.closing(sqlite3.connect(db)) as db_:
        busy, frames, _ = db_.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert (busy, frames) == (0, 0), "the log could not be emptied"


@pytest.fixture
def hub_process(small_disk: Path, tmp_path: Path) -> Iterator[HubProcess]:
    """A hub process to start on the small disk, with its app; killed at the end if need be
    (before the disk is unmounted). Its log is kept off the small disk."""
    db = small_disk / "hub.db"
    hub = HubProcess(
        db, free_port(), create_app(db, "faults"), tmp_path / "hub.log", HUB_LOG_LEVEL="INFO"
    )
    try:
        yield hub
    finally:
        hub.kill()


def log_of(hub: HubProcess) -> str:
    """Everything the hub process wrote, every start of it."""
    return hub.output(last=10**9)


def error_lines(text: str) -> list[str]:
    """ERROR lines but the access log's (it logs each 5xx answer at ERROR)."""
    return [
        line for line in text.splitlines() if " ERROR " in line and " tornado.access: " not in line
    ]


async def publish(hub: HubProcess, name: str) -> tuple[int, Any, float]:
    """(status, answer, seconds) of one event on "news" through the HTTP API."""
    began = time.monotonic()
    status, answer = await call(hub, "POST", f"/apps/{hub.app_id}/events", one(name, name))
    return status, answer, time.monotonic() - began


async def test_a_full_disk_answers_503_until_it_has_room_again(hub_process: HubProcess) -> None:
    hub = hub_process
    await hub.start()
    acknowledged = [f"before{n}" for n in range(3)]
    for name in acknowledged:
        assert (await publish(hub, name))[:2] == (200, {})

    empty_the_log(hub.db)
    filler = fill(hub.db.parent)
    refused, slowest = [], 0.0
    until = time.monotonic() + 2.5
    while time.monotonic() < until:
        name = f"lost{len(refused)}"
        status, answer, took = await publish(hub, name)
        assert status == 503, (status, answer)
        assert answer["error"].startswith("history could not be stored: ")
        refused.append(name)
        slowest = max(slowest, took)
        # Bursts and pauses: the writer's idle turn (every 0.2 s) comes in the pauses.
        await asyncio.sleep(0.4 if len(refused) % 5 == 0 else 0.05)
    assert slowest < 1.0, f"a refused publish took {slowest:.2f} s"
    status, answer = await call(hub, "GET", "/")
    assert (status, answer["ok"]) == (200, True)
    await asyncio.sleep(0.5)  # quiet, and the disk still full
    samples = await metrics(hub)
    log = log_of(hub)
    assert samples["hub_history_write_failures_total"] >= len(refused) >= 10
    assert "Traceback" not in log
    # Every failure is counted; one line per interval (10 s) says so, with the reason.
    errors = error_lines(log)
    assert errors and "history write failed" in errors[0], errors
    assert "database or disk is full" in errors[0] or "No space left" in errors[0], errors
    logged = [tuple(line.split(" ", 3)[2:]) for line in log.splitlines() if "hub.history:" in line]
    # Asserted at the end, so that recovery, the stop and the restart are tested all the same.
    problems = failing_problems(samples, logged)  # type: ignore[arg-type]
    if len(errors) != sum(level == "ERROR" for level, _ in logged):
        problems.append(f"ERROR lines of other loggers: {errors}")

    filler.unlink()
    for name in ("after0", "after1"):
        status, answer, _ = await publish(hub, name)
        assert (status, answer) == (200, {}), "no recovery without a restart"
        acknowledged.append(name)
    samples = await metrics(hub)
    assert samples["hub_history_store_failing"] == 0
    if "history writes work again" not in log_of(hub)[len(log) :]:
        problems.append("no line said that writes work again once they did")

    code, _ = await hub.stop()
    assert code == 0, log_of(hub)
    assert "Traceback" not in log_of(hub)
    with sqlite3.connect(hub.db) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.close()
    wal = hub.db.with_name(hub.db.name + "-wal")
    assert not wal.exists() or wal.stat().st_size <= WAL_SIZE_LIMIT

    await hub.start()
    status, page = await call(hub, "GET", f"/apps/{hub.app_id}/channels/news/events")
    assert status == 200
    # Each acknowledged event once, in order, with its seq; none of the refused ones.
    assert [(e["seq"], e["event"]) for e in page["events"]] == list(
        enumerate(acknowledged, start=1)
    )
    assert (await hub.stop())[0] == 0
    assert not problems, "\n".join(problems)


async def test_a_stop_while_the_disk_is_full_ends_in_time_with_one_line(
    hub_process: HubProcess,
) -> None:
    hub = hub_process
    await hub.start()
    assert (await publish(hub, "kept"))[:2] == (200, {})
    empty_the_log(hub.db)
    filler = fill(hub.db.parent)
    # Nothing is held: the last write is the record that the hub stopped, which cannot be
    # written either.
    code, took = await hub.stop(limit=30)
    # The grace period (2 s) + FINAL_WRITE_TIMEOUT + 1 s, with a margin for the process.
    assert took < 2 + FINAL_WRITE_TIMEOUT + 3, f"the stop took {took:.1f} s"
    log = log_of(hub)
    assert code == 1, log
    assert "Traceback" not in log
    last = [line for line in log.splitlines() if line.startswith("hub: the last history write")]
    assert len(last) == 1, log
    assert "database or disk is full" in last[0] or "No space left" in last[0], last

    # The database is intact, and the next hub serves what was acknowledged.
    filler.unlink()
    with sqlite3.connect(hub.db) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.close()
    await hub.start()
    assert (await publish(hub, "next"))[:2] == (200, {})
    status, page = await call(hub, "GET", f"/apps/{hub.app_id}/channels/news/events")
    assert status == 200
    assert [(e["seq"], e["event"]) for e in page["events"]] == [(1, "kept"), (2, "next")]
    assert (await hub.stop())[0] == 0
