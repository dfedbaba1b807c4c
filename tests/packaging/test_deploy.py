"""The deployment files of deploy/ checked by the tools that read them, where this machine has
them: the systemd unit by `systemd-analyze verify` (skipped where systemd is not installed), the
nginx site by `nginx -t` and the Caddyfile by `caddy validate` (bin/test installs both; a
missing one fails under CI and skips elsewhere, as the browser does)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from required import missing
from tlscerts import make_pair

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CADDY_STATE = ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME")
HARDENING = [
    "DynamicUser=yes",
    "StateDirectory=hub",
    "Environment=HUB_DB_PATH=/var/lib/hub/hub.db",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
    "LimitNOFILE=1048576",
    "Restart=on-failure",
    "ExecReload=/bin/kill -HUP $MAINPID",
]


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    unit = (DEPLOY / "hub.service").read_text()
    assert [line for line in HARDENING if line not in unit.splitlines()] == []
    # verify also checks that ExecStart's program exists: the binary is not installed here,
    # so a copy names a program that is.
    copy = tmp_path / "hub.service"
    copy.write_text(unit.replace("ExecStart=/usr/local/bin/hub ", "ExecStart=/bin/true "))
    assert copy.read_text() != unit
    done = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    # A misspelt or unknown option is only a warning (exit status 0): none may be printed.
    complaints = [line for line in done.stderr.splitlines() if "hub.service" in line]
    assert done.returncode == 0 and complaints == [], done.stderr


def test_the_nginx_site_is_valid(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None
    )
    if nginx is None:
        missing("nginx is not installed (apt-get install nginx-light)")
    # The site with a certificate made for the test, inside the smallest main configuration.
    pair = make_pair(tmp_path, "nginx")
    cert, key = pair.cert, pair.key
    site = (DEPLOY / "nginx.conf").read_text()
    site = site.replace("/etc/letsencrypt/live/hub.example.com/fullchain.pem", str(cert))
    site = site.replace("/etc/letsencrypt/live/hub.example.com/privkey.pem", str(key))
    (tmp_path / "hub.conf").write_text(site)
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{ access_log off; include {tmp_path}/hub.conf; }}\n"
    )
    done = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(main)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "[warn]" not in done.stderr, done.stderr


def test_the_caddyfile_is_valid(tmp_path: Path) -> None:
    caddy = shutil.which("caddy")
    if caddy is None:
        missing("caddy is not installed (apt-get install caddy)")
    done = subprocess.run(
        [caddy, "validate", "--adapter", "caddyfile", "--config", str(DEPLOY / "Caddyfile")],
        capture_output=True,
        text=True,
        timeout=60,
        # Caddy keeps its state under these: not the user's.
        env={**os.environ, **{name: str(tmp_path) for name in CADDY_STATE}},
    )
    assert done.returncode == 0 and "Valid configuration" in done.stdout + done.stderr, (
        done.stdout + done.stderr
    )
