"""Without a Redis URL nothing of hub/broker/appsync.py runs: a hub started and stopped in a
fresh interpreter has not imported redis-py at all; a URL redis-py would not take stops
`hub serve` with one line and status 2."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

PLAIN = """
import asyncio, sys
from hub.config import Settings
from hub.server import running_hub

async def main():
    async with running_hub(Settings(port=0, db_path=sys.argv[1], dev=True)) as server:
        assert server.app_sync is None
asyncio.run(main())
print(sorted(name for name in sys.modules if name == "redis" or name.startswith("redis.")))
"""


def test_a_hub_without_redis_never_imports_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PLAIN, str(tmp_path / "hub.db")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_url_that_is_not_redis_is_one_line_and_status_2(tmp_path: Path) -> None:
    serve = ["serve", "--port", "0", "--redis", "http://127.0.0.1:6379"]
    done = subprocess.run(
        [sys.executable, "-m", "hub", "--db", str(tmp_path / "hub.db"), *serve],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "is not a Redis URL" in done.stderr, done.stderr
    assert not (tmp_path / "hub.db").exists(), "refused before anything is made"
