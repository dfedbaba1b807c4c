#!/usr/bin/env bash
# The side-by-side benchmarks: installs soketi 1.6.1 into a scratch folder (benchmarks/soketi.sh),
# then runs every scenario against a fresh hub and a fresh soketi, each pinned to core 1 with the
# load generator on core 0 (benchmarks/run.py). Results: benchmarks/results/. Extra arguments go
# to run.py (for example --only ramp,connections).
set -euo pipefail
cd "$(dirname "$0")"
PEER_DIR="${SOKETI_DIR:-${TMPDIR:-/tmp}/hub-bench-soketi}"
bash soketi.sh install "$PEER_DIR"
exec python run.py --soketi-dir "$PEER_DIR" "$@"
