"""Packaging for hub, distributed as hub-realtime (PyPI's `hub` is an unrelated project); the
import package and the command are both `hub`. schema.sql and the dashboard's templates and
static files (dashboard/) live at the top of the repository and are copied into the package as
hub/_data/ when it is built, so an installed hub finds them (MANIFEST.in puts them in the
sdist)."""

import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildWithData(build_py):
    """Copies schema.sql and dashboard/ into the built package (hub/paths.py looks there)."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "hub" / "_data"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(HERE / "schema.sql", target / "schema.sql")
        shutil.copytree(HERE / "dashboard", target / "dashboard", dirs_exist_ok=True)


setup(
    name="hub-realtime",
    version="0.1.0",
    description="A self-hosted realtime hub: Pusher-compatible websockets and HTTP API",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["hub", "hub.*"]),
    cmdclass={"build_py": BuildWithData},
    # Files the hub serves to browsers (hub/paths.py: static_file).
    package_data={"hub": ["static/*.js"]},
    install_requires=[
        "tornado>=6.4",
        "aiosqlite>=0.20",
        "argon2-cffi>=23.1",
        "itsdangerous>=2.1",
        # JSON encoding of every published message's frame (hub/protocols/frames.py): several
        # times the stdlib's speed, byte for byte its output for the strings and ints framed.
        "orjson>=3.8",
        # Redis's own client, asyncio included (`hub serve --redis`, hub/broker/redis.py):
        # imported only when a Redis URL is set, but carried by every install and the binary.
        "redis>=5",
        # The faster event loop `hub serve` takes when it can import it (hub/eventloop.py),
        # where it comes as a wheel; elsewhere the hub runs on asyncio's own loop.
        'uvloop>=0.19; sys_platform != "win32" and platform_python_implementation == "CPython"',
    ],
    extras_require={
        # The fixtures of the pytest plugin (entry point below): `hub_server` runs on
        # pytest-tornasync's io_loop. Not in a plain install, so a server never pulls them in.
        "pytest": ["pytest>=8", "pytest-tornasync>=0.6"],
        "test": [
            "pytest>=8",
            "pytest-tornasync>=0.6",
            # test_cli serves on it as well as on asyncio's loop.
            "uvloop>=0.19",
            "hypothesis>=6",
            # tests/test_installed_plugin.py builds hub offline, without build isolation, with
            # these from the environment the tests run in.
            "setuptools>=64",
            "wheel",
            "pusher>=3.3",
            # The TLS tests make their self-signed certificates with it (tests/tlscerts.py),
            # with no openssl binary needed.
            "cryptography>=41",
            # The dashboard's Python auth endpoint snippet is run as written (Flask).
            "flask>=3",
            "ruff>=0.5",
            # The dashboard's browser tests drive Debian's chromium (apt) through it; no
            # browser download (`playwright install` is never run).
            "playwright>=1.40",
        ],
    },
    entry_points={
        "console_scripts": ["hub = hub.cli:main"],
        "pytest11": ["hub = hub.pytest_plugin"],
    },
)
