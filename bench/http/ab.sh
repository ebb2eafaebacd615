#!/usr/bin/env bash
# A/B of tm-gateway binaries on one stack: for each binary in turn (alternate them on the
# command line: A B A B ...), start it like run.sh does (1 loop thread pinned to
# BENCH_SERVER_CPUS, rate limits off) and measure GET /healthz and authenticated
# GET /api/v1/me (through NATS to tm-task) with wrk pinned to BENCH_CLIENT_CPUS, then /me at a
# fixed BENCH_RATE_ME req/s (default 5000) over 64 connections with paced.c (open loop: latency
# from each request's due time; "late N" when requests could not be sent within 1 s).
# Usage: bench/http/ab.sh <tm-gateway> <tm-gateway> ...   (same BENCH_* variables as run.sh)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
STATE=${BENCH_STATE:-$ROOT/.state/local}
NATS_URL=${BENCH_NATS_URL:-nats://127.0.0.1:14222}
PUBKEY=${BENCH_PUBKEY:-$STATE/keys/jwt-es256.pub.pem}
PORT=${BENCH_PORT:-18580}
ADMIN=${BENCH_ADMIN_PORT:-18581}
D=${BENCH_DURATION:-6s}
SCPU=${BENCH_SERVER_CPUS:-0}
CCPU=${BENCH_CLIENT_CPUS:-1}
RATE_ME=${BENCH_RATE_ME:-5000}
BASE="http://127.0.0.1:$PORT"
PASSWORD=correct-horse-battery-9
GW_PID=
LOG=$(mktemp)
PACED=$(mktemp)
trap '[ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null; rm -f "$LOG" "$PACED"' EXIT
cc -O2 -Wall -Wextra -Werror -o "$PACED" paced.c

start_gw() {
  [ -n "$GW_PID" ] && { kill "$GW_PID"; wait "$GW_PID" 2>/dev/null || true; }
  env TM_NATS_URL="$NATS_URL" TM_HTTP_HOST=127.0.0.1 TM_HTTP_PORT="$PORT" TM_ADMIN_PORT="$ADMIN" \
    TM_JWT_PUBLIC_KEY_FILE="$PUBKEY" TM_LOG_LEVEL=warn TM_GATEWAY_THREADS=1 TM_RATE_USER_RPS=0 \
    TM_RATE_IP_RPS=0 TM_RATE_AUTH_RPS=0 TM_MAX_CONNECTIONS=100000 \
    taskset -c "$SCPU" "$1" >>"$LOG" 2>&1 &
  GW_PID=$!
  for _ in $(seq 100); do curl -fs -o /dev/null "$BASE/readyz" && return 0; sleep 0.1; done
  echo "gateway $1 did not start: $(tail -5 "$LOG")" >&2; exit 1
}
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
wrk_line() { # -> "req/s p99"
  taskset -c "$CCPU" wrk -t2 -c64 -d"$D" --latency "$@" |
    awk '/Requests\/sec/ { r = $2 } $1 == "99%" { p = $2 } END { print r, p }'
}
paced_p99() { # ARGS... -> "p99ms" (with the achieved rate and late count if it fell behind)
  { taskset -c "$CCPU" "$PACED" -c64 -R"$RATE_ME" -d"$D" -w1 "$@" || true; } | awk -v rate="$RATE_ME" '/^paced: rate=/ {
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    s = v["p99"] "ms"
    if (v["achieved"] < 0.99 * rate || v["late"] > 0 || v["errors"] > 0)
      s = s sprintf(" (%.0f/s, late %d, errors %d)", v["achieved"], v["late"], v["errors"])
    print s }'
}

start_gw "$1"
EMAIL="ab-$(date +%s)-$RANDOM@bench.local"
curl -fs -XPOST "$BASE/api/v1/auth/register" -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\",\"display_name\":\"ab\"}" >/dev/null
TOKEN=$(curl -fs -XPOST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\",\"device\":\"ab\"}" | json '["access_token"]')
echo "| gateway | /healthz req/s | /healthz p99 | /me req/s | /me p99 | /me p99 at $RATE_ME req/s (open loop) |"
echo "|---|---|---|---|---|---|"
for bin in "$@"; do
  start_gw "$bin"
  read -r hr hp < <(wrk_line "$BASE/healthz")
  read -r mr mp < <(wrk_line -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/me")
  op=$(paced_p99 -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/me")
  echo "| $bin | $hr | $hp | $mr | $mp | $op |"
done
