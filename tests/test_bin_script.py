"""bin/test, the README's test command, on a machine without chromium: run with a PATH where
`chromium` is not found and apt-get, sudo, id, npm and the Python are stubs that record their
arguments (the machine's own packages are never touched). It installs chromium with apt-get as
root or through sudo, and otherwise stops with one line saying what to install."""

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "bin" / "test"
BASH = shutil.which("bash") or "/bin/bash"


def stub(directory: Path, name: str, log: Path, then: str = "") -> None:
    """An executable that appends `name args...` to log, then runs `then`."""
    path = directory / name
    path.write_text(f'#!{BASH}\necho "{name} $*" >> {log}\n{then}\n')
    path.chmod(0o755)


def machine(
    tmp_path: Path,
    uid: int = 0,
    sudo: bool = False,
    apt: bool = True,
    objdump: bool = True,
    redis: bool = True,
) -> Path:
    """A bin directory for PATH: the few real tools bin/test uses, and stubs. apt-get's install
    puts a chromium (or binutils' objdump, or redis-server) stub on that PATH, as the real
    package would."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("env", "dirname", "bash"):
        real = shutil.which(tool)
        assert real is not None
        (bin_dir / tool).symlink_to(real)
    log = tmp_path / "log"
    stub(bin_dir, "id", log, f"echo {uid}")
    if sudo:
        stub(bin_dir, "sudo", log, 'exec "$@"')
    for tool in ("nginx", "caddy"):  # present: these tests follow chromium and binutils
        stub(bin_dir, tool, log)
    if objdump:
        stub(bin_dir, "objdump", log)
    if redis:
        stub(bin_dir, "redis-server", log)
    if apt:
        made = {
            "chromium": bin_dir / "chromium",
            "binutils": bin_dir / "objdump",
            "redis-server": bin_dir / "redis-server",
        }
        make = "; ".join(
            f'[ "$1 $4" = "install {package}" ] && printf "#!{BASH}\\n" > {path} && chmod +x {path}'
            for package, path in made.items()
        )
        stub(bin_dir, "apt-get", log, f"{make}; true")
    stub(bin_dir, "npm", log)
    stub(bin_dir, "python3", log)
    return bin_dir


def run(bin_dir: Path, **extra: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    env = {"PATH": str(bin_dir), "HOME": os.environ.get("HOME", "/"), **extra}
    done = subprocess.run(
        [BASH, str(SCRIPT), "-x"], env=env, capture_output=True, text=True, timeout=30
    )
    log = bin_dir.parent / "log"
    return done, log.read_text().splitlines() if log.exists() else []


def one_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bin/test: "), done.stderr
    return lines[0]


def test_as_root_it_installs_chromium_then_runs_everything(tmp_path: Path) -> None:
    assert os.access(SCRIPT, os.X_OK), "the README runs it as bin/test"
    done, calls = run(machine(tmp_path, uid=0))
    assert done.returncode == 0, done.stderr
    assert calls == [
        "id -u",
        "apt-get update -qq",
        "apt-get install -y -qq chromium",
        "python3 -m pip install -q -e .[test]",
        "npm ci --prefix tests/interop --no-audit --no-fund",
        "python3 -m ruff check .",
        "python3 -m pytest -x",
        "python3 tests/redis_pass.py",
    ]


def test_not_root_it_installs_chromium_through_sudo(tmp_path: Path) -> None:
    done, calls = run(machine(tmp_path, uid=1000, sudo=True))
    assert done.returncode == 0, done.stderr
    assert calls[:5] == [
        "id -u",
        "sudo apt-get update -qq",
        "apt-get update -qq",
        "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium",
        "apt-get install -y -qq chromium",
    ]


def test_neither_root_nor_sudo_says_what_to_install(tmp_path: Path) -> None:
    done, calls = run(machine(tmp_path, uid=1000))
    assert "install it as root (apt-get install chromium)" in one_line(done)
    assert calls == ["id -u"], "nothing installed, nothing run"


def test_without_apt_get_it_says_what_to_install(tmp_path: Path) -> None:
    done, calls = run(machine(tmp_path, apt=False))
    assert "install chromium so that 'chromium' is on PATH" in one_line(done)
    assert calls == []


def test_when_chromium_is_there_nothing_is_installed(tmp_path: Path) -> None:
    bin_dir = machine(tmp_path)
    stub(bin_dir, "chromium", tmp_path / "log")
    done, calls = run(bin_dir)
    assert done.returncode == 0, done.stderr
    assert not any(call.startswith(("apt-get", "sudo", "chromium")) for call in calls), calls


def test_without_objdump_it_installs_binutils_for_the_binary_build(tmp_path: Path) -> None:
    bin_dir = machine(tmp_path, uid=0, objdump=False)
    (bin_dir / "chromium").write_text(f"#!{BASH}\n")
    (bin_dir / "chromium").chmod(0o755)
    done, calls = run(bin_dir)
    assert done.returncode == 0, done.stderr
    assert calls[:3] == ["id -u", "apt-get update -qq", "apt-get install -y -qq binutils"]
    assert "binutils" in done.stderr


def test_without_redis_server_it_installs_debians_for_the_redis_tests(tmp_path: Path) -> None:
    bin_dir = machine(tmp_path, uid=0, redis=False)
    (bin_dir / "chromium").write_text(f"#!{BASH}\n")
    (bin_dir / "chromium").chmod(0o755)
    done, calls = run(bin_dir)
    assert done.returncode == 0, done.stderr
    assert calls[:3] == ["id -u", "apt-get update -qq", "apt-get install -y -qq redis-server"]
    assert "redis-server" in done.stderr and "python3 -m ruff check ." in calls


def test_the_redis_pass_runs_after_a_failed_first_pass_and_the_status_says_so(
    tmp_path: Path,
) -> None:
    bin_dir = machine(tmp_path)
    stub(bin_dir, "chromium", tmp_path / "log")
    stub(bin_dir, "python3", tmp_path / "log", '[ "$2" = pytest ] && exit 3; true')
    done, calls = run(bin_dir)
    assert done.returncode == 3
    assert calls[-2:] == ["python3 -m pytest -x", "python3 tests/redis_pass.py"]


def test_hub_redis_pass_0_leaves_the_redis_pass_out(tmp_path: Path) -> None:
    bin_dir = machine(tmp_path)
    stub(bin_dir, "chromium", tmp_path / "log")
    done, calls = run(bin_dir, HUB_REDIS_PASS="0")
    assert done.returncode == 0, done.stderr
    assert calls[-1] == "python3 -m pytest -x"
