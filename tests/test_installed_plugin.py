"""hub as our users get it: `pip install` into a fresh virtual environment, then a test project
outside the repository uses the pytest fixtures that come with it (entry point `pytest11`), with
pytest-tornasync and without it."""

import json
import os
import shutil
import site
import subprocess
import sys
import textwrap
from pathlib import Path

from hub import __version__

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

# Without pytest-tornasync: the plugin still loads, hub_thread works, hub_server says what to do.
WITHOUT_TORNASYNC = """
def test_sync_fixture(hub_thread):
    assert hub_thread.app_id.isdigit()


def test_async_fixture(hub_server):
    pass
"""


def run(
    *args: str | Path,
    cwd: Path | None = None,
    timeout: float = 120,
    env: dict[str, str] | None = None,
    code: int = 0,
) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST"))}
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == code, (
        f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


def our_site_dirs() -> list[str]:
    """Where this test run's packages are installed (a virtualenv, a user site, the system's):
    what `pip install -e '.[test]'` installed, whichever interpreter it was."""
    dirs = [*site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return [d for d in dirs if Path(d).is_dir()]


def test_pip_install_then_use_the_fixtures_elsewhere(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python, bin_dir = venv / "bin" / "python", venv / "bin"
    # The dependencies (tornado, aiosqlite, pytest, pusher, setuptools, wheel...) come from the
    # environment this test runs in, listed after the venv's own site-packages by a .pth file,
    # so the test needs no download and nothing from the base interpreter (`--system-site-
    # packages` would give the base interpreter's, not a virtualenv's). Plain paths in a .pth:
    # the .pth files there (an editable hub's among them) are not read, so only the copy
    # installed below can be imported as hub.
    [venv_site] = (venv / "lib").glob("python3*/site-packages")
    (venv_site / "zz_test_environment.pth").write_text("\n".join(our_site_dirs()) + "\n")
    # From a clean copy through an sdist, as a release would go: a checkout's stale build/
    # cannot leak in, and a file missing from MANIFEST.in fails the install.
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    run(python, "setup.py", "-q", "sdist", "-d", tmp_path / "dist", cwd=source)
    # setuptools names it hub_realtime-... (newer) or hub-realtime-... (older).
    [sdist] = (tmp_path / "dist").glob("hub[-_]realtime-*.tar.gz")
    run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", sdist)

    where = json.loads(
        run(
            python,
            "-c",
            "import hub, hub.paths, json, importlib.metadata as m; print(json.dumps([hub.__file__, "
            "str(hub.paths.schema_sql()), hub.paths.static_file('hub-resume.js').read_text(), "
            "str(hub.paths.dashboard_dir()), m.version('hub-realtime'), "
            "[e.dist.name for e in m.entry_points(group='pytest11', name='hub')]]))",
            cwd=tmp_path,
        )
    )
    venv_lib = str(venv / "lib")
    assert where[0].startswith(venv_lib), f"imported {where[0]}, not the installed copy"
    assert where[1].startswith(venv_lib) and where[1].endswith("hub/_data/schema.sql"), where[1]
    assert "HubResume" in where[2], "the browser helper ships with the package"
    assert where[3].startswith(venv_lib) and where[3].endswith("hub/_data/dashboard"), where[3]
    assert where[4] == __version__ and where[5] == ["hub-realtime"], "the distribution's own name"

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

    # pytest-tornasync hidden: its entry point blocked, its import failing (a module of that
    # name first on the path that raises ImportError, as a missing one would).
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "pytest_tornasync.py").write_text("raise ImportError('not installed')\n")
    bare = tmp_path / "bare_project"
    bare.mkdir()
    (bare / "test_bare.py").write_text(textwrap.dedent(WITHOUT_TORNASYNC))
    out = run(
        *(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:tornado"),
        cwd=bare,
        env={"PYTHONPATH": str(hidden)},
        code=1,
    )
    assert "1 passed, 1 error" in out, out
    assert (
        "hub_server runs on pytest-tornasync's io_loop, which is not installed: "
        "pip install 'hub-realtime[pytest]'"
    ) in out, out
