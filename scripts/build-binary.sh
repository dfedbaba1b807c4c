#!/usr/bin/env bash
# Builds dist/hub: the whole hub in one executable for Linux x86_64 (its own Python, every
# dependency, schema.sql, the dashboard's templates and static files, the resume helper).
#
# PyInstaller (pinned below) does the bundling; it is installed with this checkout into a
# virtualenv of its own under build/binary-venv, so the caller's Python is never touched.
# The checkout goes in as a wheel (`pip install .`), so the data files sit in the package as
# setup.py lays them out (hub/_data/, hub/static/) and hub/paths.py finds them in the binary
# exactly as in an installed hub. The entry point is hub.cli:main, the console script's.
#
# PYTHON names the Python 3.11+ the binary carries (default python3). Takes about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
PYINSTALLER="pyinstaller==6.22.3"
VENV=build/binary-venv
WORK=build/binary

fail() {
  echo "build-binary: $*" >&2
  exit 1
}

[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] ||
  fail "builds for Linux x86_64 only (this is $(uname -s) $(uname -m))"
command -v "$PYTHON" >/dev/null || fail "no $PYTHON on PATH: install Python 3.11+ (or set PYTHON)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  fail "$PYTHON is $("$PYTHON" -V 2>&1); the hub needs Python 3.11+"
for tool in ldd objdump objcopy; do
  command -v "$tool" >/dev/null ||
    fail "PyInstaller needs $tool, not found on PATH (Debian: apt-get install binutils libc-bin)"
done

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV" || fail "$PYTHON -m venv failed (Debian: apt-get install python3-venv)"
fi
# --force-reinstall of the checkout only: a second build must carry today's code and files.
"$VENV/bin/python" -m pip install -q "$PYINSTALLER" ||
  fail "pip could not install $PYINSTALLER (see above)"
"$VENV/bin/python" -m pip install -q --force-reinstall --no-deps . &&
  "$VENV/bin/python" -m pip install -q . ||
  fail "pip could not install this checkout into $VENV (see above)"

mkdir -p "$WORK"
printf '%s\n' \
  '"""dist/hub starts here: the same entry point as the installed `hub` command."""' \
  'from hub.cli import main' \
  'raise SystemExit(main())' >"$WORK/hub_entry.py"

# Run from $WORK: from the top of the checkout, `import hub` would find the source tree (the
# current directory comes first on sys.path), which has no hub/_data, instead of the wheel.
# --collect-data: hub/_data (schema, dashboard) and hub/static (the resume helper).
# --collect-submodules: every module of the hub, whether or not an import names it directly.
TOP="$PWD"
(cd "$WORK" && "$TOP/$VENV/bin/python" -m PyInstaller --noconfirm --clean --log-level WARN \
  --onefile --name hub --distpath "$TOP/dist" --workpath . --specpath . \
  --collect-data hub --collect-submodules hub \
  hub_entry.py) || fail "PyInstaller failed (see above)"

"$VENV/bin/python" - <<'PY' || fail "dist/hub was built but does not run"
import subprocess
out = subprocess.run(["dist/hub", "--help"], capture_output=True, text=True, timeout=60)
assert out.returncode == 0 and "serve" in out.stdout, out.stderr
PY
echo "build-binary: dist/hub, $(du -h dist/hub | cut -f1)"
