"""hub as our users get it: `pip install` into a fresh virtual environment, then a test project
outside the repository uses the pytest fixtures that come with it (entry point `pytest11`)."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Build output, caches and VCS data of a working checkout: never part of what is installed.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", "build", "dist", "*.egg-info", "node_modules", "__pycache__", ".*_cache", "*.db"
)

PROJECT_TEST = """
import asyncio
import json

import pusher
from tornado.httpclient import AsyncHTTPClient
from tornado.websocket import websocket_connect


def test_sync_fixture(hub_thread):
    client = pusher.Pusher(app_id=hub_thread.app_id, key=hub_thread.key,
                           secret=hub_thread.secret, host=hub_thread.host,
                           port=hub_thread.port, ssl=False)
    client.trigger("orders", "created", {"id": 1})
    assert client.channels_info() == {"channels": {}}


async def test_async_fixture(hub_server):
    ws = await asyncio.wait_for(websocket_connect(hub_server.pusher_url()), 5)
    frame = json.loads(await asyncio.wait_for(ws.read_message(), 5))
    assert frame["event"] == "pusher:connection_established"
    ws.close()


async def test_the_installed_dashboard_renders(hub_server):
    client = AsyncHTTPClient()
    page = await client.fetch(hub_server.url + "/dashboard/login", request_timeout=5)
    assert b"Sign in" in page.body
    css = await client.fetch(hub_server.url + "/dashboard/static/app.css", request_timeout=5)
    assert b".topbar" in css.body
"""


def run(*args: str | Path, cwd: Path | None = None, timeout: float = 120) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST"))}
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_pip_install_then_use_the_fixtures_elsewhere(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    # System site-packages supply the dependencies (tornado, aiosqlite, pytest, pusher...), so
    # the test needs no download; hub itself is built and installed into the venv, whose
    # site-packages come first on sys.path (an editable checkout's finder comes after them).
    run(sys.executable, "-m", "venv", "--system-site-packages", venv)
    python, bin_dir = venv / "bin" / "python", venv / "bin"
    # From a clean copy through an sdist, as a release would go: a checkout's stale build/
    # cannot leak in, and a file missing from MANIFEST.in fails the install.
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    run(python, "setup.py", "-q", "sdist", "-d", tmp_path / "dist", cwd=source)
    [sdist] = (tmp_path / "dist").glob("hub-*.tar.gz")
    run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", sdist)

    where = json.loads(
        run(
            python,
            "-c",
            "import hub, hub.paths, json; print(json.dumps([hub.__file__, "
            "str(hub.paths.schema_sql()), hub.paths.static_file('hub-resume.js').read_text(), "
            "str(hub.paths.dashboard_dir())]))",
            cwd=tmp_path,
        )
    )
    site = str(venv / "lib")
    assert where[0].startswith(site), f"imported {where[0]}, not the installed copy"
    assert where[1].startswith(site) and where[1].endswith("hub/_data/schema.sql"), where[1]
    assert "HubResume" in where[2], "the browser helper ships with the package"
    assert where[3].startswith(site) and where[3].endswith("hub/_data/dashboard"), where[3]

    version = run(bin_dir / "hub", "--version", cwd=tmp_path)
    assert version.startswith("hub ")
    db = tmp_path / "x.db"
    db.touch(mode=0o600)  # as `hub serve` leaves it: no other command creates a database
    app = json.loads(run(bin_dir / "hub", "apps", "create", "demo", "--json", "--db", db))
    assert app["id"].isdigit()
    assert db.stat().st_mode & 0o777 == 0o600

    project = tmp_path / "project"
    project.mkdir()
    (project / "test_realtime.py").write_text(textwrap.dedent(PROJECT_TEST))
    out = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert "3 passed" in out, out
