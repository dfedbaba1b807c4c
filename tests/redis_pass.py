"""bin/test's second pass: the suites of what a client sees, run again with every test hub a node
on Redis. Starts a private redis-server (tests/redisserver.py: an ephemeral port, a temporary
folder, nothing persisted), runs pytest with HUB_TEST_REDIS_URL pointing at it (the pytest
plugin then gives each test hub that Redis and a namespace of its own), and stops the server
whatever ends the run. Exits with pytest's status.

    python tests/redis_pass.py                  # the suites below
    python tests/redis_pass.py -x -k presence   # arguments are added to pytest's

Tests that cannot hold with Redis by design carry `@pytest.mark.single_process("why")`: this
pass deselects them and lists them with their reason (tests/conftest.py)."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

# Run as a script, its own folder is first on sys.path: tests/redisserver.py is found.
from redisserver import redis_server

from hub.pytest_plugin import TEST_REDIS_VARIABLE

ROOT = Path(__file__).resolve().parent.parent
PYTEST_TIMEOUT = 900  # seconds the whole pass may take before it is stopped

# What a client or the HTTP API observes, end to end through real sockets: the protocols on
# live hubs, the official clients (pusher-js, laravel-echo, phoenix.js, the SDKs), history and
# resume, the trigger, query and admin APIs, users, tokens, quotas, metrics and probes, webhooks
# (each transition told once), the dashboard's live view and its edits reaching live sockets.
SUITES = (
    "tests/protocols",
    "tests/interop",
    "tests/core/test_replay.py",
    "tests/core/test_admission.py",
    "tests/core/test_webhooks.py",
    "tests/core/test_webhook_kinds.py",
    "tests/core/test_webhook_guard.py",
    "tests/core/test_webhook_log.py",
    "tests/api",
    "tests/wire/test_pusher_endpoint.py",
    "tests/wire/test_phoenix_endpoint.py",
    "tests/wire/test_sse_handler.py",
    "tests/wire/test_fastpath.py",
    "tests/wire/test_channel_cap.py",
    "tests/wire/test_same_refusal.py",
    "tests/wire/test_websocket_close.py",
    "tests/dashboard/test_live.py",
    "tests/dashboard/test_pages.py",
    "tests/test_pytest_plugin.py",
)
# Left out, as the broker plays no part there or the test runs its own hubs: parsers, codecs,
# the store, signatures and the core's unit tests (no hub runs: tests/store, tests/auth,
# tests/core/test_history*.py, tests/wire's frame and head parsers and fuzzers); the front
# door's socket limits and TLS relay (below the broker); `hub` commands and their subprocess
# hubs (tests/cli, tests/packaging: the variable does not reach a `hub serve`); tests/broker
# (its own redis-server and processes); the dashboard's accounts and its browser tests (the
# same on Redis, and chromium costs minutes); restarts, crashes and the
# epoch a restart keeps (tests/test_crash.py, tests/test_restart_epochs.py: what one process
# leaves in its file; tests/core/test_webhook_crash.py and test_webhooks_kill.py, which kill
# `hub serve` processes).


def main(args: list[str]) -> int:
    if shutil.which("redis-server") is None:
        print(
            "redis_pass: redis-server is not installed (apt-get install redis-server)",
            file=sys.stderr,
        )
        return 2
    # SIGTERM unwinds like Ctrl-C: the redis-server is stopped and its folder removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with tempfile.TemporaryDirectory(prefix="hub-redis-pass-") as folder:
        redis = redis_server(Path(folder))
        try:
            print(f"redis_pass: {TEST_REDIS_VARIABLE}={redis.url}", flush=True)
            env = {**os.environ, TEST_REDIS_VARIABLE: redis.url}
            command = [sys.executable, "-m", "pytest", *SUITES, *args]
            try:
                return subprocess.run(command, cwd=ROOT, env=env, timeout=PYTEST_TIMEOUT).returncode
            except subprocess.TimeoutExpired:
                print(f"redis_pass: pytest still ran after {PYTEST_TIMEOUT} s", file=sys.stderr)
                return 1
        finally:
            redis.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
