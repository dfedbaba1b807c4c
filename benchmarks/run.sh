#!/usr/bin/env bash
# The side-by-side benchmarks: installs soketi 1.6.1 into a scratch folder (benchmarks/soketi.sh),
# then runs every scenario against a fresh hub and a fresh soketi, each pinned to core 1 with the
# load generator on core 0 (benchmarks/run.py). Results: benchmarks/results/. Extra arguments go
# to run.py (for example --only ramp,connections, or --hub-loop asyncio).
set -euo pipefail
cd "$(dirname "$0")"
# This checkout's hub for the load generator's own imports (run.py starts every hub server in
# its checkout's root itself), not whichever one pip installed.
export PYTHONPATH="$(cd .. && pwd)${PYTHONPATH:+:$PYTHONPATH}"
PEER_DIR="${SOKETI_DIR:-${TMPDIR:-/tmp}/hub-bench-soketi}"
bash soketi.sh install "$PEER_DIR"
# The hub's fast event loop (a plain install brings it where it is a wheel), which the load
# generator uses too.
python -c 'import uvloop' 2>/dev/null || pip install -q 'uvloop>=0.19'
exec python run.py --soketi-dir "$PEER_DIR" "$@"
