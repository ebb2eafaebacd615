#!/usr/bin/env bash
# WebSocket fan-out benchmark: tm-gateway beside a Node `ws` server and a Socket.IO 4 server
# doing the same broadcast to the same number of clients, in one run.
#   bench/ws/run.sh [conns] [messages]          (defaults: 10000 30)
# Against a running taskmesh stack (scripts/start.sh, or any stack: point the BENCH_*
# variables at it). Each server is started fresh by this script, so that its RSS growth
# with `conns` idle sockets is the memory those sockets cost (a process that served an
# earlier run reuses freed memory and shows none):
#   - tm-gateway (BENCH_GATEWAY_BIN) on BENCH_PORT, admin BENCH_ADMIN_PORT, 1 loop thread,
#     rate limits off, connection caps raised to let one user hold every socket; tm-task and
#     tm-realtime of the stack behind it (BENCH_NATS_URL, the stack's public key);
#   - `node servers.mjs ws|socketio` on BENCH_REF_PORT.
# BENCH_TARGETS chooses the servers (default "taskmesh ws socketio"). Triggers are sent
# one at a time, each after the previous one was answered plus BENCH_GAP_MS (default 50);
# BENCH_BURST=B sends B at once instead, so that deliveries reach the server faster than
# it writes one broadcast (its writes per delivery then show whether it coalesces).
# BENCH_SERVER_CPUS pins every server (taskset), e.g. 0; unset: not pinned.
# BENCH_HTTP_PROBE=1: during the tm-gateway run, probe.mjs GETs /healthz on it every 10 ms
# and prints a second JSON line, the latency of the probes sent while the broadcast frames
# went out (HTTP waiting behind the fan-out on the same loop thread).
# The client spreads its sockets over BENCH_SOURCES source addresses (127.0.0.2, .3, ...)
# so that 10,000+ connections never run short of ephemeral ports.
# Results: one JSON line per server on stdout (fanout.mjs documents the fields).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
CONNS=${1:-10000}
MESSAGES=${2:-30}
STATE=${BENCH_STATE:-$ROOT/.state/local}
NATS_URL=${BENCH_NATS_URL:-nats://127.0.0.1:14222}
PUBKEY=${BENCH_PUBKEY:-$STATE/keys/jwt-es256.pub.pem}
GW_BIN=${BENCH_GATEWAY_BIN:-$ROOT/build/services/gateway/tm-gateway}
PORT=${BENCH_PORT:-18590}
ADMIN=${BENCH_ADMIN_PORT:-18591}
REF_PORT=${BENCH_REF_PORT:-18592}
SOURCES=${BENCH_SOURCES:-$(((CONNS + 4999) / 5000 + 1))}
GAP_MS=${BENCH_GAP_MS:-50}
BURST=${BENCH_BURST:-1} # triggers sent at once, then BENCH_GAP_MS of pause
TARGETS=${BENCH_TARGETS:-taskmesh ws socketio}
URL="http://127.0.0.1:$PORT"
PIN=()
[ -n "${BENCH_SERVER_CPUS:-}" ] && PIN=(taskset -c "$BENCH_SERVER_CPUS")
LOG=$(mktemp /tmp/bench-ws.XXXXXX.log)

# every server and the client hold one descriptor per socket
want=$((CONNS + 1024))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
  hard=$(ulimit -Hn)
  if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
    echo "ulimit -n: $CONNS connections need $want descriptors, the hard limit is $hard" >&2
    exit 1
  fi
  ulimit -n "$want"
fi
[ -d node_modules ] || npm ci --no-audit --no-fund >/dev/null

SERVER_PID=
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}
trap 'stop_server; rm -f "$LOG"' EXIT

wait_url() { # url: poll until it answers, 10 s at most
  for _ in $(seq 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "server did not start ($1): $(tail -5 "$LOG")" >&2
  exit 1
}

start_gateway() {
  env TM_NATS_URL="$NATS_URL" TM_HTTP_HOST=127.0.0.1 TM_HTTP_PORT="$PORT" TM_ADMIN_PORT="$ADMIN" \
    TM_JWT_PUBLIC_KEY_FILE="$PUBKEY" TM_LOG_LEVEL=warn TM_GATEWAY_THREADS=1 \
    TM_RATE_USER_RPS=0 TM_RATE_IP_RPS=0 TM_RATE_AUTH_RPS=0 \
    TM_MAX_CONNECTIONS=$((CONNS + 1000)) TM_WS_MAX_CONNECTIONS=$((CONNS + 1000)) \
    TM_WS_MAX_PER_USER=$((CONNS + 100)) \
    "${PIN[@]}" "$GW_BIN" >>"$LOG" 2>&1 &
  SERVER_PID=$!
  wait_url "http://127.0.0.1:$ADMIN/readyz"
}

json_field() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[process.argv[1]]))' "$1"; }

# A user and a workspace through the bench gateway (tm-task answers).
setup_user() {
  local email password=correct-horse-battery-9
  email="bench-$(date +%s%N)@test.local"
  curl -fsS -o /dev/null -X POST "$URL/api/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"$password\",\"display_name\":\"bench\"}"
  TOKEN=$(curl -fsS -X POST "$URL/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"$password\",\"device\":\"bench\"}" | json_field access_token)
  WS_ID=$(curl -fsS -X POST "$URL/api/v1/workspaces" -H "authorization: Bearer $TOKEN" \
    -H 'content-type: application/json' -d '{"name":"bench"}' | json_field id)
}

# WebSockets the gateway closed because their send queue was full (1013): must stay 0
# at a rate the client can take.
dropped_slow() {
  curl -fs "http://127.0.0.1:$ADMIN/metrics" | awk '$1 == "tm_ws_dropped_slow_total" { print $2 }'
}

fanout() { # target url [extra args]
  node fanout.mjs --target "$1" --url "$2" --pid "$SERVER_PID" --conns "$CONNS" \
    --messages "$MESSAGES" --sources "$SOURCES" --gap "$GAP_MS" --burst "$BURST" "${@:3}"
}

echo "# bench/ws $(date -u +%FT%TZ) commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) $(git -C "$ROOT" diff --quiet HEAD -- services/gateway bench/ws 2>/dev/null || echo '+ working tree') nproc=$(nproc) conns=$CONNS messages=$MESSAGES burst=$BURST sources=$SOURCES load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

for target in $TARGETS; do
  if [ "$target" = taskmesh ]; then
    start_gateway
    setup_user
    PROBE_PID=
    if [ "${BENCH_HTTP_PROBE:-0}" = 1 ]; then
      node probe.mjs --port "$PORT" --admin "$ADMIN" --frames $((CONNS * MESSAGES)) &
      PROBE_PID=$!
    fi
    out=$(fanout taskmesh "$URL" --token "$TOKEN" --room "workspace:$WS_ID" --metrics "http://127.0.0.1:$ADMIN/metrics")
    echo "${out%\}},\"dropped_slow_1013\":$(dropped_slow)}"
    if [ -n "$PROBE_PID" ]; then
      kill -TERM "$PROBE_PID"
      wait "$PROBE_PID" || true
    fi
  else
    "${PIN[@]}" node servers.mjs "$target" "$REF_PORT" >>"$LOG" 2>&1 &
    SERVER_PID=$!
    wait_url "http://127.0.0.1:$REF_PORT/count"
    fanout "$target" "http://127.0.0.1:$REF_PORT"
  fi
  stop_server
done
