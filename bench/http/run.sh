#!/usr/bin/env bash
# HTTP benchmarks of tm-gateway against a running taskmesh stack (scripts/start.sh, or any
# stack: point the BENCH_* variables at it). Starts its own gateway (rate limits off) on
# BENCH_PORT, pinned to BENCH_SERVER_CPUS; wrk runs pinned to BENCH_CLIENT_CPUS.
#   1. GET /api/v1/me (JWT + NATS round trip to tm-task) beside GET /healthz, 64 connections;
#      then /api/v1/me at a fixed BENCH_RATE_ME req/s (open loop, paced.c) over 64 connections.
#      tm-task answers /me from its in-memory user copy (the bench user's is warm after the
#      first request); start the stack's tm-task with TM_USER_CACHE_ENTRIES=0 (scripts/lib/
#      stack.sh: STACK_ENV_TASK=TM_USER_CACHE_ENTRIES=0) for the Postgres path
#   2. login storm (argon2id on tm-task) while /healthz p99 is measured
#   3. cached GET (task by id, X-Cache: HIT) beside uncached /api/v1/me beside /healthz
#   4. seeded database (>= 100,000 tasks, inserted with SQL into task.tasks): GET task by id,
#      list (50 items, filtered), create, PATCH at 32 connections, cache off; GET task by id
#      also at a fixed BENCH_RATE_GET req/s (open loop) over 32 connections
#   5. slowloris (slowhttptest, 300 connections) while /healthz p99 is measured
#   6. where a create's CPU goes (issue #4's create target): creates over 16 workspaces at 32
#      connections, CPU per create by process and by Postgres role, first with every daemon
#      running, then with tm-realtime and tm-ai paused (SIGSTOP to the pids in
#      $BENCH_STATE/pids; their events wait in JetStream and are consumed after SIGCONT): the
#      create path alone (gateway, tm-task, its statement and relay, nats-server). Waits for
#      both consumers to have nothing pending (BENCH_NATS_MON, default :18222) before each run.
#      Not part of the default run.
# Prints one markdown table row per measurement (also appended to $BENCH_OUT). BENCH_CPU=1
# also prints each process's CPU time per request (utime + stime from /proc, by name) and the
# machine's steal time during the run (/proc/stat: CPU the hypervisor gave to other guests).
# wrk is closed-loop (each connection waits for its reply: mean latency = connections / rate);
# the open-loop rows come from paced.c (built here with cc), which sends at a fixed rate and
# times each request from when it was due, after BENCH_PACED_WARMUP s (default 2) of warm-up.
# See README.md in this folder.
# Usage: bench/http/run.sh [1 2 3 4 5 6]   (default: 1-5)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
STATE=${BENCH_STATE:-$ROOT/.state/local}
NATS_URL=${BENCH_NATS_URL:-nats://127.0.0.1:14222}
PUBKEY=${BENCH_PUBKEY:-$STATE/keys/jwt-es256.pub.pem}
PG_URL=${BENCH_PG_URL:-postgresql://postgres@127.0.0.1:15432/taskmesh}
GW_BIN=${BENCH_GATEWAY_BIN:-$ROOT/build/services/gateway/tm-gateway}
PORT=${BENCH_PORT:-18580}
ADMIN=${BENCH_ADMIN_PORT:-18581}
D=${BENCH_DURATION:-10s}
SCPU=${BENCH_SERVER_CPUS:-0}
CCPU=${BENCH_CLIENT_CPUS:-1}
OUT=${BENCH_OUT:-/tmp/tm-bench-http.md}
RATE_ME=${BENCH_RATE_ME:-5000}
RATE_GET=${BENCH_RATE_GET:-5000}
PWARM=${BENCH_PACED_WARMUP:-2}
TMP=$(mktemp -d)
BASE="http://127.0.0.1:$PORT"
GW_PID=
PAUSED=()
NATS_MON=${BENCH_NATS_MON:-http://127.0.0.1:18222}
export BENCH_PASSWORD=correct-horse-battery-9

cleanup() {
  [ ${#PAUSED[@]} -gt 0 ] && kill -CONT "${PAUSED[@]}" 2>/dev/null
  [ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
cc -O2 -Wall -Wextra -Werror -o "$TMP/paced" paced.c

start_gw() { # extra TM_* settings as arguments
  [ -n "$GW_PID" ] && { kill "$GW_PID"; wait "$GW_PID" 2>/dev/null || true; }
  env TM_NATS_URL="$NATS_URL" TM_HTTP_HOST=127.0.0.1 TM_HTTP_PORT="$PORT" TM_ADMIN_PORT="$ADMIN" \
    TM_JWT_PUBLIC_KEY_FILE="$PUBKEY" TM_LOG_LEVEL=warn TM_GATEWAY_THREADS=1 TM_RATE_USER_RPS=0 \
    TM_RATE_IP_RPS=0 TM_RATE_AUTH_RPS=0 TM_MAX_CONNECTIONS=100000 "$@" \
    taskset -c "$SCPU" "$GW_BIN" >>"$TMP/gw.log" 2>&1 &
  GW_PID=$!
  for _ in $(seq 100); do curl -fs -o /dev/null "$BASE/readyz" && return 0; sleep 0.1; done
  echo "gateway did not start: $(tail -5 "$TMP/gw.log")" >&2; exit 1
}

# CPU ticks (utime + stime) of every process of the stack, summed by name: "name ticks" lines.
cpu_snapshot() {
  local p
  for p in $(pgrep -f 'tm-gateway|tm-task|tm-realtime|tm-ai|nats-server|postgres'); do
    # a process may exit between pgrep and here: skip it (set -e would end the script)
    awk -v n="$(tr -d '\0' <"/proc/$p/comm" 2>/dev/null)" '{ print n, $14 + $15 }' "/proc/$p/stat" 2>/dev/null || true
  done | awk '{ t[$1] += $2 } END { for (n in t) print n, t[n] }' | sort
}
# The machine's steal ticks and all its ticks (/proc/stat): time the hypervisor gave to others.
steal_snapshot() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, t }' /proc/stat; }
# cpu_mark NAME 0|1: the snapshots before (0) and after (1) a run
cpu_mark() {
  cpu_snapshot >"$TMP/$1.cpu$2"
  steal_snapshot >"$TMP/$1.st$2"
}
# With BENCH_CPU=1: server CPU per request of each process name during a wrk run, and the
# machine's steal time in it (a run with steal measured a machine that was not all ours).
cpu_per_request() { # NAME (after run_wrk or run_paced) -> "  cpu us/req: name=N ... steal=N%"
  local reqs hz steal
  reqs=$(awk '/requests in/ { print $1 } /^paced: rate=/ { sub(/.*total=/, ""); print $1 }' "$TMP/$1.txt")
  hz=$(getconf CLK_TCK)
  steal=$(cat "$TMP/$1.st0" "$TMP/$1.st1" | awk 'NR == 1 { s = $1; t = $2 } NR == 2 {
    printf "%.1f", ($2 > t) ? 100 * ($1 - s) / ($2 - t) : 0 }')
  join "$TMP/$1.cpu0" "$TMP/$1.cpu1" | awk -v r="${reqs:-0}" -v hz="$hz" -v st="$steal" '
    { d = ($3 - $2) * 1e6 / hz; if (r > 0) { line = line sprintf(" %s=%.0f", $1, d / r); sum += d / r } }
    END { printf "    cpu us/req:%s total=%.0f steal=%s%%\n", line, sum, st }' >&2
}
# wrk NAME CONNS ARGS... -> "rps p50_ms p99_ms errors" in $TMP/NAME
run_wrk() {
  local name=$1 c=$2; shift 2
  [ "${BENCH_CPU:-0}" = 1 ] && cpu_mark "$name" 0
  taskset -c "$CCPU" wrk -t2 -c"$c" -d"$D" --latency "$@" >"$TMP/$name.txt" 2>&1 || true
  [ "${BENCH_CPU:-0}" = 1 ] && { cpu_mark "$name" 1; cpu_per_request "$name"; }
  awk -v name="$name" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
    /Non-2xx or 3xx/ { err += $NF } /Socket errors/ { err += 1 }
    END { printf "%.0f %.2f %.2f %d\n", rps, p50, p99, err }' "$TMP/$name.txt" >"$TMP/$name"
}
# paced NAME CONNS RATE ARGS... (open loop) -> "achieved p50_ms p99_ms errors" in $TMP/NAME and
# "offered R/s, p99.9 N ms, late N" in $TMP/NAME.note
run_paced() {
  local name=$1 c=$2 rate=$3; shift 3
  [ "${BENCH_CPU:-0}" = 1 ] && cpu_mark "$name" 0
  local slow=()
  # BENCH_PACED_SLOW_MS=N: every request of N ms or more, with its times, to BENCH_PACED_SLOW_LOG.NAME
  [ -n "${BENCH_PACED_SLOW_MS:-}" ] &&
    slow=(-S "$BENCH_PACED_SLOW_MS" -L "${BENCH_PACED_SLOW_LOG:-/tmp/tm-bench-slow}.$name")
  taskset -c "$CCPU" "$TMP/paced" -c "$c" -R "$rate" -d "$D" -w "$PWARM" "${slow[@]}" "$@" >"$TMP/$name.txt" 2>&1 || true
  [ "${BENCH_CPU:-0}" = 1 ] && { cpu_mark "$name" 1; cpu_per_request "$name"; }
  sed -n '2,5s/^/    /p' "$TMP/$name.txt" >&2
  awk -v out="$TMP/$name" -v note="$TMP/$name.note" '/^paced: rate=/ {
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      printf "%.0f %.2f %.2f %d\n", v["achieved"], v["p50"], v["p99"], v["errors"] >out
      printf "open loop: offered %s/s, p99.9 %.2f ms, late %d", v["rate"], v["p999"], v["late"] >note }' \
    "$TMP/$name.txt"
  [ -s "$TMP/$name" ] || { echo "0 0 0 -1" >"$TMP/$name"; echo "paced failed: $(tail -2 "$TMP/$name.txt")" >"$TMP/$name.note"; }
}
row() { # LABEL NAME [NOTE]
  read -r rps p50 p99 err <"$TMP/$2"
  printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$rps" "$p50" "$p99" "$err" "${3:-}" | tee -a "$OUT"
}
ratio() { awk -v a="$(cut -d' ' -f1 "$TMP/$1")" -v b="$(cut -d' ' -f1 "$TMP/$2")" 'BEGIN { printf "%.0f%%", b ? 100 * a / b : 0 }'; }

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
setup_user() {
  BENCH_EMAIL="bench-$(date +%s)-$RANDOM@bench.local"; export BENCH_EMAIL
  curl -fs -XPOST "$BASE/api/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$BENCH_EMAIL\",\"password\":\"$BENCH_PASSWORD\",\"display_name\":\"bench\"}" >/dev/null
  TOKEN=$(curl -fs -XPOST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$BENCH_EMAIL\",\"password\":\"$BENCH_PASSWORD\",\"device\":\"bench\"}" | json '["access_token"]')
  USER_ID=$(curl -fs "$BASE/api/v1/me" -H "authorization: Bearer $TOKEN" | json '["id"]')
  BENCH_WS=$(curl -fs -XPOST "$BASE/api/v1/workspaces" -H "authorization: Bearer $TOKEN" \
    -H 'content-type: application/json' -d '{"name":"bench"}' | json '["id"]'); export BENCH_WS
  TASK_ID=$(curl -fs -XPOST "$BASE/api/v1/tasks" -H "authorization: Bearer $TOKEN" \
    -H 'content-type: application/json' -d "{\"workspace_id\":\"$BENCH_WS\",\"title\":\"hot\"}" | json '["id"]')
  AUTH="Authorization: Bearer $TOKEN"
}

more_workspaces() { # N -> N workspace ids of the bench user, comma-separated
  local ids=() i
  for i in $(seq "$1"); do
    ids+=("$(curl -fs -XPOST "$BASE/api/v1/workspaces" -H "$AUTH" -H 'content-type: application/json' \
      -d "{\"name\":\"bench $i\"}" | json '["id"]')")
  done
  (IFS=,; echo "${ids[*]}")
}

seed() { # >= 100,000 tasks in the bench workspace, straight into the service's table
  psql -X -q -v ON_ERROR_STOP=1 "$PG_URL" <<SQL
INSERT INTO task.tasks (id, workspace_id, title, description, status, priority, labels,
                        created_by, created_at, updated_at)
SELECT gen_random_uuid(), '$BENCH_WS', 'seeded task ' || g, 'seeded for bench/http',
       (ARRAY['todo','in_progress','done'])[1 + g % 3], 1 + g % 4, ARRAY['l' || (g % 10)],
       '$USER_ID', now() - g * interval '1 second', now()
FROM generate_series(1, 100000) AS g;
SQL
  # VACUUM now rather than autovacuum during the runs (100k inserts cross its insert
  # threshold: it would scan the table and indexes beside the GET and list runs)
  psql -X -q -v ON_ERROR_STOP=1 "$PG_URL" -c "VACUUM (ANALYZE) task.tasks"
  psql -X -At "$PG_URL" -c "SELECT id FROM task.tasks WHERE workspace_id = '$BENCH_WS' ORDER BY random() LIMIT 20000" >"$TMP/ids"
  export BENCH_IDS=$TMP/ids
  echo "seeded: $(psql -X -At "$PG_URL" -c "SELECT count(*) FROM task.tasks") tasks in task.tasks" >&2
}

header() { printf '\n| %s | req/s | p50 ms | p99 ms | errors | note |\n|---|---|---|---|---|---|\n' "$1" | tee -a "$OUT"; }

# Postgres CPU ticks by pid, labelled by role: "ROLE:PID ticks" lines (backends: their user;
# the auxiliary processes: their backend_type, e.g. walwriter, checkpointer).
pg_role_snapshot() {
  psql -X -At -F' ' "$PG_URL" -c "SELECT pid, coalesce(usename::text, replace(backend_type, ' ', '_'))
    FROM pg_stat_activity" | while read -r pid role; do
    awk -v k="$role:$pid" '{ print k, $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || true
  done | sort
}
# Messages pending (not delivered or not acknowledged) for every consumer of TM_EVENTS.
events_pending() {
  curl -fs "$NATS_MON/jsz?consumers=true" | python3 -c '
import json, sys
n = 0
for a in json.load(sys.stdin).get("account_details", []):
    for s in a.get("stream_detail", []):
        for c in s.get("consumer_detail") or []:
            n += c["num_pending"] + c["num_ack_pending"]
print(n)'
}
wait_consumers() { # up to 300 s; prints how long it took
  local t0=$SECONDS n
  while n=$(events_pending) && [ "$n" -gt 0 ] && [ $((SECONDS - t0)) -lt 300 ]; do sleep 1; done
  echo "    consumers: ${n:-?} events pending after $((SECONDS - t0)) s of waiting" >&2
}
# create_split NAME [pause] : creates over BENCH_WS_LIST; the note is the CPU per create by
# process (nats, task, gw, rt, ai) and by Postgres role, all in us.
create_split() {
  local name=$1 hz reqs
  wait_consumers
  if [ "${2:-}" = pause ]; then
    PAUSED=("$(cat "$STATE/pids/realtime.pid")" "$(cat "$STATE/pids/ai.pid")")
    kill -STOP "${PAUSED[@]}"
  fi
  pg_role_snapshot >"$TMP/$name.pg0"
  BENCH_CPU=1 run_wrk "$name" 32 -H "$AUTH" -s create_spread.lua "$BASE" 2>"$TMP/$name.cpu"
  pg_role_snapshot >"$TMP/$name.pg1"
  if [ ${#PAUSED[@]} -gt 0 ]; then kill -CONT "${PAUSED[@]}"; PAUSED=(); fi
  hz=$(getconf CLK_TCK)
  reqs=$(awk '/requests in/ { print $1 }' "$TMP/$name.txt")
  join "$TMP/$name.pg0" "$TMP/$name.pg1" | awk -v r="${reqs:-0}" -v hz="$hz" '
    { split($1, k, ":"); t[k[1]] += ($3 - $2) * 1e6 / hz }
    END { for (n in t) if (r > 0 && t[n] / r >= 0.5) printf " %s=%.0f", n, t[n] / r }' >"$TMP/$name.roles"
  sed 's/^ *cpu us\/req://' "$TMP/$name.cpu" | tr -d '\n' >"$TMP/$name.procs"
  echo "cpu us/create:$(cat "$TMP/$name.procs"); Postgres by role:$(cat "$TMP/$name.roles")" >"$TMP/$name.note"
}

SCEN=${*:-1 2 3 4 5}
echo "# bench/http $(date -u +%FT%TZ) $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) nproc=$(nproc) server cpus=$SCPU client cpus=$CCPU duration=$D load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT"
start_gw
setup_user
for s in $SCEN; do
  case $s in
  1)
    header "1. /api/v1/me vs /healthz (64 conn)"
    run_wrk healthz 64 "$BASE/healthz"; row "GET /healthz" healthz
    run_wrk me 64 -H "$AUTH" "$BASE/api/v1/me"; row "GET /api/v1/me (NATS -> tm-task)" me "$(ratio me healthz) of /healthz"
    run_paced me_paced 64 "$RATE_ME" -H "$AUTH" "$BASE/api/v1/me"
    row "GET /api/v1/me, $RATE_ME req/s offered over 64 conn (open loop)" me_paced "$(cat "$TMP/me_paced.note"); target p99 <= 10 ms"
    ;;
  2)
    header "2. login storm (argon2id) + /healthz probe"
    taskset -c "$CCPU" wrk -t1 -c16 -d"$D" -s login.lua "$BASE/api/v1/auth/login" >"$TMP/login.txt" 2>&1 &
    LOGIN=$!
    sleep 1
    run_wrk probe 4 "$BASE/healthz"; wait $LOGIN || true
    awk '/Requests\/sec/ { printf "%.0f 0 0 0\n", $2 }' "$TMP/login.txt" >"$TMP/login"
    row "POST /auth/login, 16 conn" login "argon2id on tm-task"
    row "GET /healthz during the storm, 4 conn" probe "target p99 <= 20 ms"
    ;;
  3)
    header "3. cached GET vs uncached vs /healthz (64 conn)"
    run_wrk healthz3 64 "$BASE/healthz"; row "GET /healthz" healthz3
    run_wrk cached 64 -H "$AUTH" "$BASE/api/v1/tasks/$TASK_ID"; row "GET /api/v1/tasks/{id} (X-Cache: HIT)" cached "$(ratio cached healthz3) of /healthz"
    run_wrk uncached 64 -H "$AUTH" "$BASE/api/v1/me"; row "GET /api/v1/me (not in the gateway's response cache)" uncached "$(ratio uncached healthz3) of /healthz"
    ;;
  4)
    seed
    start_gw TM_CACHE_BYTES=0
    header "4. seeded database, cache off (32 conn)"
    run_wrk get 32 -H "$AUTH" -s ids.lua "$BASE"; row "GET /api/v1/tasks/{id} (random of 100k)" get "target >= 5000 req/s"
    sed 's|^|/api/v1/tasks/|' "$TMP/ids" >"$TMP/task_paths"
    run_paced get_paced 32 "$RATE_GET" -H "$AUTH" -s "$TMP/task_paths" "$BASE"
    row "GET /api/v1/tasks/{id} at $RATE_GET req/s offered over 32 conn" get_paced "$(cat "$TMP/get_paced.note")"
    run_wrk list 32 -H "$AUTH" "$BASE/api/v1/tasks?workspace_id=$BENCH_WS&status=todo&priority=2&limit=50"
    row "GET /api/v1/tasks?workspace_id&status&priority&limit=50" list "target p99 <= 20 ms"
    run_wrk create 32 -H "$AUTH" -s create.lua "$BASE/api/v1/tasks"; row "POST /api/v1/tasks (one workspace)" create "target >= 2000 req/s"
    BENCH_WS_LIST=$(more_workspaces 16); export BENCH_WS_LIST
    run_wrk create16 32 -H "$AUTH" -s create_spread.lua "$BASE"
    row "POST /api/v1/tasks (16 workspaces, round robin)" create16 "target >= 2000 req/s"
    run_wrk patch 32 -H "$AUTH" -s patch.lua "$BASE"; row "PATCH /api/v1/tasks/{id}" patch ""
    start_gw
    ;;
  6)
    start_gw TM_CACHE_BYTES=0
    header "6. POST /api/v1/tasks over 16 workspaces (32 conn): where the CPU goes"
    BENCH_WS_LIST=$(more_workspaces 16); export BENCH_WS_LIST
    create_split create6
    row "every daemon running" create6 "$(cat "$TMP/create6.note")"
    create_split create6p pause
    row "tm-realtime and tm-ai paused" create6p "$(cat "$TMP/create6p.note")"
    wait_consumers
    start_gw
    ;;
  5)
    header "5. slowloris (slowhttptest -H, 300 conn) + /healthz probe"
    run_wrk quiet 4 "$BASE/healthz"; row "GET /healthz, 4 conn, no attack" quiet
    taskset -c "$CCPU" slowhttptest -H -c 300 -r 300 -i 5 -l 30 -s 8192 -u "$BASE/api/v1/auth/login" -t POST -o "$TMP/slow" >"$TMP/slow.txt" 2>&1 &
    SLOW=$!
    sleep 3
    run_wrk attacked 4 "$BASE/healthz"; row "GET /healthz, 4 conn, 300 slow clients" attacked "target p99 <= 50 ms"
    wait $SLOW || true
    grep -E "closed|pending|connected|service available" "$TMP/slow.txt" | tail -4 | sed 's/^/    slowhttptest: /' >&2 || true
    ;;
  esac
done
