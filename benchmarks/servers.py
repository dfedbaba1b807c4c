"""The servers a benchmark runs against, each started fresh and pinned to its own core: this
checkout's hub, the hub of another git revision (checked out in a temporary worktree: --baseline),
and soketi. Every hub process imports its own checkout's code, which is checked."""

import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import loadgen
from profiling import SERVE_PROFILED
from pusherload import Target

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SERVER_CORE, LOADGEN_CORE = 1, 0
SOKETI_APP = ("bench-app", "bench-key", "bench-secret")
HUB_LOOP = "auto"  # HUB_EVENT_LOOP for every hub started; run.py's --hub-loop sets it


def pin_self() -> None:
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {LOADGEN_CORE})


def pinned(command: list[str]) -> list[str]:
    return ["taskset", "-c", str(SERVER_CORE), *command] if (os.cpu_count() or 1) > 1 else command


async def wait_listening(process: subprocess.Popen, port: int, what: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"{what} did not start") from None
            await asyncio.sleep(0.05)


@dataclasses.dataclass
class HubBuild:
    """The code of one hub to run: its processes start in `root` and import `root`/hub."""

    name: str  # "hub", or "hub@<short hash>" for a baseline
    root: Path
    commit: str | None  # full hash of the checkout (HEAD for the working tree)
    rev: str  # what it was asked as: "working tree", or --baseline's REV
    dirty: bool = False  # uncommitted changes to what the server runs (SERVED)
    imported_from: str | None = None  # hub/__init__.py as the server process found it

    def describe(self) -> dict:
        return {k: str(v) if isinstance(v, Path) else v for k, v in vars(self).items()}


SERVED = ("hub", "schema.sql", "dashboard")  # what a hub process runs or reads


def git(*args: str, cwd: Path = REPO) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def working_tree() -> HubBuild:
    """This checkout's hub, as it is on disk (committed or not)."""
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", *SERVED))
    except (OSError, subprocess.CalledProcessError):  # not a git checkout
        commit, dirty = None, False
    return HubBuild("hub", REPO, commit, "working tree", dirty)


@contextlib.contextmanager
def baseline_tree(rev: str):
    """REV checked out (detached) in a temporary git worktree, removed again at the end,
    whatever ends the run; yields its HubBuild."""
    try:
        commit = git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except subprocess.CalledProcessError:
        raise SystemExit(f"run.py: --baseline {rev}: no such commit") from None
    short = git("rev-parse", "--short", commit)
    folder = Path(tempfile.mkdtemp(prefix="hub-baseline-"))
    tree = folder / "tree"
    try:
        git("worktree", "add", "--detach", "--quiet", str(tree), commit)
        yield HubBuild(f"hub@{short}", tree, commit, rev)
    finally:
        removed = subprocess.run(
            ["git", "worktree", "remove", "--force", str(tree)],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        if removed.returncode != 0 and tree.exists():
            print(f"could not remove the worktree {tree}: {removed.stderr.strip()}", flush=True)
        shutil.rmtree(folder, ignore_errors=True)


# Run with `python -c` in the build's root, whose folder is then first on sys.path: the hub
# imported is that root's, not whichever one is installed.
PREPARE = """
import asyncio, json, sys
import hub
try:
    from hub.models import AppSettings
except ImportError:  # a build from before the shared vocabulary left hub/core
    from hub.core.models import AppSettings
from hub.store import Store

async def prepare(path):
    store = await Store.open(path)
    made = {}
    for name, settings in (("on", AppSettings()), ("off", AppSettings(history_depth=0))):
        app = await store.create_app(name, settings=settings)
        made[name] = [app.id, app.keys[0].key, app.keys[0].secret]
    await store.close()
    return made

print(json.dumps({"hub": hub.__file__, "apps": asyncio.run(prepare(sys.argv[1]))}))
"""
SERVE = """
import sys, hub
print("hub imported from", hub.__file__, flush=True)
from hub.cli import main
raise SystemExit(main())
"""


def check_origin(build: HubBuild, imported: str, where: str) -> None:
    expected = (build.root / "hub").resolve()
    if not Path(imported).resolve().is_relative_to(expected):
        raise RuntimeError(f"{build.name}'s {where} imported {imported}, not {expected}")


def build_env(profile: Path | None = None) -> dict[str, str]:
    # The hub at its default log level, as a user runs it (since issue 19 the default writes no
    # line per successful request); HUB_BENCH_LOG_LEVEL sets another.
    env = {**os.environ, "HUB_EVENT_LOOP": HUB_LOOP}
    if profile is not None:
        env["HUB_BENCH_PROFILE"] = str(profile)
    if os.environ.get("HUB_BENCH_LOG_LEVEL"):
        env["HUB_LOG_LEVEL"] = os.environ["HUB_BENCH_LOG_LEVEL"]
    env.pop("PYTHONSAFEPATH", None)  # it would keep the root off sys.path
    return env


async def prepare_db(build: HubBuild, path: str) -> dict[str, tuple[str, str, str]]:
    """A new database with two apps, "on" (the default history depth) and "off" (no history),
    made by the build's own code (its schema may differ from this checkout's)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PREPARE,
        path,
        cwd=build.root,
        env=build_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{build.name}: preparing the database failed:\n{err.decode()}")
    answer = json.loads(out.decode().strip().splitlines()[-1])
    check_origin(build, answer["hub"], "database setup")
    return {name: tuple(creds) for name, creds in answer["apps"].items()}


@contextlib.asynccontextmanager
async def hub_server(
    build: HubBuild,
    serve_args: tuple[str, ...] = (),
    pin: bool = True,
    profile: Path | None = None,
):
    """A hub of `build` on a new database with two apps, "on" and "off" (prepare_db), started
    with `hub serve ... *serve_args` on the server's core (or, `pin=False`, on any);
    yields {"on": Target, "off": Target}. Its output goes to a log file read back for the
    file its `hub` was imported from, which must lie under the build's root. With `profile`,
    the hub runs under cProfile and writes its profile there when it stops (profiling.py)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "hub.db")
        made = await prepare_db(build, path)
        port = loadgen.free_port()
        code = SERVE if profile is None else SERVE_PROFILED
        command = [sys.executable, "-c", code, "serve", "--db", path, "--port", str(port)]
        command += serve_args
        log_path = Path(folder) / "hub.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                pinned(command) if pin else command,
                cwd=build.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=build_env(profile),
            )
            try:
                try:
                    await wait_listening(process, port, build.name)
                except RuntimeError as error:
                    raise RuntimeError(f"{error}:\n{log_path.read_text()[-2000:]}") from None
                first = log_path.read_text().split("\n", 1)[0]
                imported = first.removeprefix("hub imported from ")
                check_origin(build, imported, "server")
                if build.imported_from is None:
                    build.imported_from = imported
                    print(f"{build.name} runs {imported} ({build.commit})", flush=True)
                yield {name: Target(port, *creds, process.pid) for name, creds in made.items()}
            finally:
                process.terminate()
                process.wait(10)


@contextlib.asynccontextmanager
async def soketi_server(folder: str):
    port = loadgen.free_port()
    command = ["bash", str(HERE / "soketi.sh"), "start", folder, str(port), *SOKETI_APP]
    process = subprocess.Popen(
        pinned(command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        await wait_listening(process, port, "soketi")
        yield {"on": Target(port, *SOKETI_APP, process.pid)}
    finally:
        process.terminate()
        process.wait(10)
