#!/usr/bin/env bash
# tm-ai latency through the gateway, rules engine only (TM_AI_PROVIDER=none), for one user
# with BENCH_TASKS (10,000) tasks. Starts its own stack with scripts/lib/stack.sh (state in
# BENCH_STATE, its own ports) pinned to BENCH_SERVER_CPUS; wrk runs pinned to
# BENCH_CLIENT_CPUS. Stops everything it started on exit.
#   seed: BENCH_TASKS tasks through POST /api/v1/tasks (8 parallel keep-alive clients), then
#         wait until tm-ai's projection (ai.tasks, built from TM_EVENTS) counts them all
#   A. uncached: tm-ai restarted with TM_AI_CACHE_ENTRIES=0, so every request loads the
#      projection and computes (default TM_AI_MAX_TASKS=2000, then TM_AI_MAX_TASKS=10000)
#   B. cached: tm-ai with its default cache; one warm-up request, then every request is a
#      hit ("cached": true is checked before measuring)
# POST /api/v1/ai/parse is never cached: it is measured once, in A.
# Prints one markdown table row per measurement (also appended to $BENCH_OUT).
# Usage: bench/ai/run.sh            (BENCH_BUILD=1 builds build/ first)
set -euo pipefail
cd "$(dirname "$0")"
HERE=$(pwd)
ROOT=$(cd ../.. && pwd)
export STACK_NAME=${BENCH_STACK_NAME:-bench-ai}
export STACK_STATE=${BENCH_STATE:-/tmp/tm-bench-ai-state}
export STACK_NATS_PORT=${BENCH_NATS_PORT:-4380}
export STACK_NATS_MON_PORT=${BENCH_NATS_MON_PORT:-4381}
export STACK_PG_PORT=${BENCH_PG_PORT:-5580}
export STACK_HTTP_PORT=${BENCH_PORT:-8081}
export STACK_ADMIN_BASE=${BENCH_ADMIN_BASE:-9181}
export STACK_LOG_LEVEL=warn
export STACK_ENV_GATEWAY="TM_RATE_USER_RPS=0 TM_RATE_IP_RPS=0 TM_RATE_AUTH_RPS=0"
D=${BENCH_DURATION:-10s}
C=${BENCH_CONNECTIONS:-8}
N=${BENCH_TASKS:-10000}
SCPU=${BENCH_SERVER_CPUS:-0}
CCPU=${BENCH_CLIENT_CPUS:-1}
OUT=${BENCH_OUT:-/tmp/tm-bench-ai.md}
BASE="http://127.0.0.1:$STACK_HTTP_PORT"
TMP=$STACK_STATE/wrk # raw wrk output of every measurement, kept
# shellcheck source=SCRIPTDIR/../../scripts/lib/stack.sh
source "$ROOT/scripts/lib/stack.sh"
stack_defaults

cleanup() { stop_all; }
trap cleanup EXIT

# The stack's processes inherit the affinity of the subshell that starts them.
pinned() { (taskset -pc "$SCPU" "$BASHPID" >/dev/null && "$@"); }

restart_ai() { # extra TM_* settings for tm-ai
  export STACK_ENV_AI="$*"
  stop_pid ai
  pinned start_daemon ai
  wait_ready ai
}

# wrk NAME ARGS... -> "rps p50_ms p99_ms errors" in $TMP/NAME
run_wrk() {
  local name=$1 c=${WRK_CONNS:-$C} t=2; shift
  [ "$c" -ge 2 ] || t=1
  taskset -c "$CCPU" wrk -t"$t" -c"$c" -d"$D" --latency "$@" >"$TMP/$name.txt" 2>&1 || true
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
    /Non-2xx or 3xx/ { err += $NF } /Socket errors/ { err += 1 }
    END { printf "%.0f %.2f %.2f %d\n", rps, p50, p99, err }' "$TMP/$name.txt" >"$TMP/$name"
}
row() { # LABEL NAME TARGET_MS (p99 <= TARGET_MS and no errors: met)
  local rps p50 p99 err verdict
  read -r rps p50 p99 err <"$TMP/$2"
  verdict=$(awk -v p="$p99" -v t="$3" -v e="$err" 'BEGIN { print (p <= t && e == 0) ? "met" : "NOT met" }')
  printf '| %s | %s | %s | %s | %s | p99 <= %s ms: %s |\n' "$1" "$rps" "$p50" "$p99" "$err" "$3" "$verdict" | tee -a "$OUT"
}
header() { printf '\n| %s | req/s | p50 ms | p99 ms | errors | target |\n|---|---|---|---|---|---|\n' "$1" | tee -a "$OUT"; }

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
psql_db() { psql_admin -d "$STACK_PG_DB" -At "$@"; }

setup_user() {
  local email pw=correct-horse-battery-9
  email="bench-ai-$(date +%s)-$RANDOM@bench.local"
  curl -fs -XPOST "$BASE/api/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"$pw\",\"display_name\":\"bench\"}" >/dev/null
  TOKEN=$(curl -fs -XPOST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"$pw\",\"device\":\"bench\"}" | json '["access_token"]')
  USER_ID=$(curl -fs "$BASE/api/v1/me" -H "authorization: Bearer $TOKEN" | json '["id"]')
  WS=$(curl -fs -XPOST "$BASE/api/v1/workspaces" -H "authorization: Bearer $TOKEN" \
    -H 'content-type: application/json' -d '{"name":"bench-ai"}' | json '["id"]')
  AUTH="Authorization: Bearer $TOKEN"
}

seed() {
  local t0=$SECONDS n=0
  python3 "$HERE/seed.py" 127.0.0.1 "$STACK_HTTP_PORT" "$TOKEN" "$WS" "$N"
  log "seed: $N POST /api/v1/tasks in $((SECONDS - t0)) s; waiting for the ai projection"
  for _ in $(seq 600); do
    n=$(psql_db -c "SELECT count(*) FROM ai.tasks WHERE created_by = '$USER_ID' AND NOT deleted")
    [ "$n" -ge "$N" ] && break
    sleep 0.5
  done
  [ "$n" -ge "$N" ] || { die "ai.tasks holds $n of $N tasks after 300 s"; return 1; }
  log "seed: ai.tasks holds $n tasks of the user $((SECONDS - t0)) s after the first POST"
  psql_db -c "ANALYZE ai.tasks" >/dev/null
  # the shape of tm-ai's per-request load (services/ai/projection.c, proj_load), for the log
  psql_db -c "EXPLAIN (ANALYZE, COSTS OFF) (SELECT * FROM ai.tasks WHERE created_by = '$USER_ID'
    AND NOT deleted ORDER BY updated_at DESC LIMIT 2000) UNION ALL (SELECT * FROM ai.tasks
    WHERE assignee_id = '$USER_ID' AND created_by IS DISTINCT FROM '$USER_ID' AND NOT deleted
    ORDER BY updated_at DESC LIMIT 2000) ORDER BY updated_at DESC LIMIT 2000" |
    sed 's/^/    proj_load: /' >&2
}

# The answer of one request must say "cached": EXPECT (true/false).
check_cached() { # EXPECT METHOD PATH [BODY]
  local got
  got=$(curl -fs -X"$2" "$BASE$3" -H "$AUTH" -H 'content-type: application/json' ${4:+-d "$4"} | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin).get("cached")))')
  [ "$got" = "$1" ] || { die "$2 $3: cached=$got, expected $1"; return 1; }
}

measure_set() { # SUFFIX TARGET_MS LABEL_NOTE
  local s=$1 t=$2 note=$3
  run_wrk "ins$s" -H "$AUTH" "$BASE/api/v1/ai/insights"
  row "GET /api/v1/ai/insights$note" "ins$s" "$t"
  run_wrk "rec$s" -H "$AUTH" "$BASE/api/v1/ai/recommendations"
  row "GET /api/v1/ai/recommendations$note" "rec$s" "$t"
  BENCH_BODY=$SUGGEST run_wrk "sug$s" -H "$AUTH" -s "$HERE/post.lua" "$BASE/api/v1/ai/suggestions"
  row "POST /api/v1/ai/suggestions$note" "sug$s" "$t"
}

# Every run starts from an empty database: a state folder left by an earlier run (a stack
# state, recognised by its generated nats.conf) is stopped and removed first.
if grep -qs 'generated by scripts/lib/stack.sh' "$STACK_STATE/nats.conf"; then
  stop_all
  [ -e "$STACK_STATE/pg" ] && rm -rf "$(readlink -f "$STACK_STATE/pg")"
  rm -rf "$STACK_STATE"
fi
mkdir -p "$STACK_STATE" "$TMP"
[ "${BENCH_BUILD:-0}" = 1 ] && build
log "state $STACK_STATE; stack pinned to cpu $SCPU, wrk to cpu $CCPU"
pinned start_stack
setup_user
seed
export PARSE='{"text":"Call Bob tomorrow 5pm p1 #work every monday","timezone":"Europe/Berlin"}'
export SUGGEST="{\"workspace_id\":\"$WS\",\"limit\":5}"

echo "# bench/ai $(date -u +%FT%TZ) $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) nproc=$(nproc)" \
  "server cpus=$SCPU client cpus=$CCPU duration=$D connections=$C tasks=$N load:$(uptime | sed 's/.*load average://')" | tee -a "$OUT"

header "A. uncached (TM_AI_CACHE_ENTRIES=0), default TM_AI_MAX_TASKS=2000"
restart_ai TM_AI_CACHE_ENTRIES=0
check_cached false GET /api/v1/ai/insights
BENCH_BODY=$PARSE run_wrk parse -H "$AUTH" -s "$HERE/post.lua" "$BASE/api/v1/ai/parse"
row "POST /api/v1/ai/parse (never cached)" parse 50
measure_set a 50 ""

header "A1. uncached, one connection (single-request latency), TM_AI_MAX_TASKS=2000"
WRK_CONNS=1 measure_set 1 50 " (1 conn)"

header "A2. uncached (TM_AI_CACHE_ENTRIES=0), TM_AI_MAX_TASKS=10000 (all tasks loaded)"
restart_ai TM_AI_CACHE_ENTRIES=0 TM_AI_MAX_TASKS=10000
measure_set b 50 " (10k loaded)"

header "B. cached (default cache; warm-up request, then hits)"
restart_ai
for p in insights recommendations; do
  curl -fs -o /dev/null "$BASE/api/v1/ai/$p" -H "$AUTH"
  check_cached true GET "/api/v1/ai/$p"
done
curl -fs -o /dev/null -XPOST "$BASE/api/v1/ai/suggestions" -H "$AUTH" -H 'content-type: application/json' -d "$SUGGEST"
check_cached true POST /api/v1/ai/suggestions "$SUGGEST"
measure_set c 5 " (cached)"
check_cached true GET /api/v1/ai/insights
