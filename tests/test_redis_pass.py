"""tests/redis_pass.py, bin/test's second pass, on one test: it starts a private redis-server,
the test's hub runs on it (tests/test_pytest_plugin.py checks that from inside), and the
server is gone once the pass ends."""

import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from required import missing

TESTS = Path(__file__).resolve().parent


def test_the_redis_pass_runs_its_tests_on_a_private_redis_server_it_stops() -> None:
    if shutil.which("redis-server") is None:
        missing("redis-server is not installed (apt-get install redis-server)")
    probe = ("-q", "-k", "redis_pass_puts_each_test_hub")
    done = subprocess.run(
        [sys.executable, str(TESTS / "redis_pass.py"), *probe],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert re.search(r"\b1 passed\b", done.stdout), done.stdout[-2000:]
    port = re.search(r"HUB_TEST_REDIS_URL=redis://127\.0\.0\.1:(\d+)/0", done.stdout)
    assert port, done.stdout[-2000:]
    with socket.socket() as probe:
        probe.settimeout(2.0)
        assert probe.connect_ex(("127.0.0.1", int(port[1]))) != 0, "redis-server was stopped"
