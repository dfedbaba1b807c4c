#!/usr/bin/env bash
# soketi 1.6.1 (the Node, uWebSockets.js-based Pusher-compatible server) as a benchmark peer:
#   benchmarks/soketi.sh install DIR                         install it into the scratch folder DIR
#   benchmarks/soketi.sh start DIR PORT APP_ID APP_KEY APP_SECRET
#       run it in the foreground (exec: same pid, so `taskset -c 1 benchmarks/soketi.sh start ... &`
#       then `kill $!` works) on 127.0.0.1:PORT with that one app and no throttling limits.
#
# Outgoing buffer: soketi gives every WebSocket a uWS `maxBackpressure` of 1 MiB (1024 * 1024,
# hard-coded in Server.configureWebsockets, dist/server.js) and leaves `closeOnBackpressureLimit`
# at its default (off). Past 1 MiB buffered for a socket, uWS's ws.send() returns 2 (DROPPED) and
# soketi ignores it: the message is silently skipped for that subscriber, which stays connected
# and gets later messages once its buffer drains below the bound. Nothing counts the drops.
# HTTP API: soketi ends every response with `Connection: close` (res.end(body, true) in
# dist/http-handler.js), so a publisher must open a connection per request: no keep-alive.
set -euo pipefail

VERSION=1.6.1
# soketi depends on uWebSockets.js by a GitHub URL, which cannot be fetched here: take the same
# API from the registry instead (it ships binaries for Node ABIs 93/108/115, i.e. Node 16/18/20).
UWS=npm:@trufflesuite/uws-js-unofficial@20.30.0-unofficial.0

die() { echo "soketi.sh: $*" >&2; exit 1; }
usage() { die "usage: $0 install DIR | $0 start DIR PORT APP_ID APP_KEY APP_SECRET"; }

# True when DIR holds soketi $VERSION and uWS's native binary loads under this node (the uWS
# package would otherwise fall back, with a mere warning, to a slow pure-JS implementation).
works() {
    (cd "$1" && node -e 'if (require("@soketi/soketi/package.json").version !== process.argv[1]) process.exit(1);
        const p = process; require(["uWebSockets.js/binaries/uws", p.platform, p.arch, p.versions.modules].join("_") + ".node");' \
        "$VERSION") >/dev/null 2>&1
}

# soketi JSON.parses every SOKETI_* value: pass strings as JSON strings, so that e.g. a secret
# made of digits stays a string.
json_string() { local s=${1//\\/\\\\}; printf '"%s"' "${s//\"/\\\"}"; }

install() {
    local dir=$1
    mkdir -p "$dir"
    works "$dir" && return 0
    cat >"$dir/package.json" <<EOF
{"private": true, "dependencies": {"@soketi/soketi": "$VERSION"}, "overrides": {"uWebSockets.js": "$UWS"}}
EOF
    # No install scripts: soketi needs none (uWS ships its binaries; the others are optional).
    (cd "$dir" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error) \
        >"$dir/npm-install.log" 2>&1 || {
        tail -n 30 "$dir/npm-install.log" >&2
        die "npm install of soketi $VERSION into $dir failed (full log: $dir/npm-install.log)"
    }
    works "$dir" || die "soketi $VERSION installed into $dir but does not load (native uWS for $(node --version)?)"
}

start() {
    local dir=$1 port=$2
    [[ $port =~ ^[0-9]+$ ]] || die "PORT must be a number, not '$port'"
    works "$dir" || die "no working soketi $VERSION in $dir: run '$0 install $dir' first"
    cd "$dir" # soketi loads a .env from its working directory (dotenv); DIR has none.
    # Names from soketi's env map (Cli.envVariables, dist/cli/cli.js); defaults in dist/server.js.
    # The rates (-1) and max connections (-1) are soketi's defaults, set to say so; the event
    # limits (defaults 100 KB data, 10 per batch, 100 channels) and presence limits (100 members,
    # 2 KB each) are raised. Metrics and debug off (debug logs every message); the metrics/usage
    # server, which listens whatever METRICS_ENABLED says, goes to a random loopback port so it
    # cannot clash with 9601. Cluster discovery (node-discover, started even with the local
    # adapter) would broadcast UDP hellos to 255.255.255.255:11002 every 500 ms: unicast to
    # loopback instead. No grace period: SIGTERM then exits in ~1 s instead of ~4 s.
    # soketi makes no other outgoing connection at start (no update check; no webhooks set).
    # env -i: no stray SOKETI_* or UWS_USE_FALLBACK from the caller gets in.
    exec env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
        SOKETI_HOST=127.0.0.1 SOKETI_PORT="$port" SOKETI_MODE=full \
        SOKETI_DEFAULT_APP_ID="$(json_string "$3")" \
        SOKETI_DEFAULT_APP_KEY="$(json_string "$4")" \
        SOKETI_DEFAULT_APP_SECRET="$(json_string "$5")" \
        SOKETI_DEFAULT_APP_ENABLED=true \
        SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES=true \
        SOKETI_DEFAULT_APP_USER_AUTHENTICATION=false \
        SOKETI_DEFAULT_APP_MAX_CONNS=-1 \
        SOKETI_DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SEC=-1 \
        SOKETI_DEFAULT_APP_MAX_CLIENT_EVENTS_PER_SEC=-1 \
        SOKETI_DEFAULT_APP_MAX_READ_REQ_PER_SEC=-1 \
        SOKETI_EVENT_MAX_SIZE_IN_KB=10240 \
        SOKETI_EVENT_MAX_BATCH_SIZE=1000 \
        SOKETI_EVENT_MAX_CHANNELS_AT_ONCE=1000 \
        SOKETI_PRESENCE_MAX_MEMBERS=1000000 \
        SOKETI_PRESENCE_MAX_MEMBER_SIZE=100 \
        SOKETI_METRICS_ENABLED=false SOKETI_DEBUG=false \
        SOKETI_METRICS_HOST=127.0.0.1 SOKETI_METRICS_SERVER_PORT=0 \
        SOKETI_CLUSTER_UNICAST_ADDRESSES=127.0.0.1 \
        SOKETI_SHUTDOWN_GRACE_PERIOD=0 \
        node node_modules/@soketi/soketi/bin/server.js start
}

case "${1:-}" in
    install) [[ $# -eq 2 ]] || usage; install "$2" ;;
    start) [[ $# -eq 6 ]] || usage; shift; start "$@" ;;
    *) usage ;;
esac
