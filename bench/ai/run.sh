#!/usr/bin/env bash
# tm-ai latency through the gateway, rules engine only (TM_AI_PROVIDER=none), for one user
# with BENCH_TASKS (10,000) tasks, all of them considered (TM_AI_MAX_TASKS=BENCH_TASKS).
# Starts its own stack with scripts/lib/stack.sh (state in BENCH_STATE, its own ports)
# pinned to BENCH_SERVER_CPUS; wrk runs pinned to BENCH_CLIENT_CPUS. Stops everything it
# started on exit.
#   seed: BENCH_TASKS tasks through POST /api/v1/tasks (8 parallel keep-alive clients), then
#         wait until tm-ai's projection (ai.tasks, built from TM_EVENTS) counts them all,
#         then VACUUM ANALYZE and CHECKPOINT, and wait out tm-realtime's head-beacon window
#         (settle): the parts measure the steady state, not the bulk load's aftermath
#   A.  uncached: tm-ai with TM_AI_CACHE_ENTRIES=0, so every answer is computed; the user's
#       tasks come from tm-ai's in-memory task set (one warm-up request loads it)
#   A1. the same with one connection (single-request latency)
#   A4. the uncached GETs again, open loop: BENCH_RATE (1000) req/s offered over the same
#       connections by bench/http/paced.c, latency from each request's due time
#   A2. uncached without the task set (TM_AI_TASKSET_BYTES=0): every request loads the
#       user's tasks from Postgres (the path before the task set)
#   A3. the first answer after a change of one task (the set catches up from the change
#       log), and the first answer after a restart (the set is loaded from Postgres)
#   B.  cached: tm-ai with its default cache; one warm-up request, then every request is a
#       hit ("cached": true is checked before measuring)
#   B1. the cached GETs, open loop at BENCH_RATE_CACHED (2000) req/s
# POST /api/v1/ai/parse is never cached: it is measured once, in A.
# Every wrk row also gives the server CPU time per request of this stack's processes
# (utime + stime from /proc of the recorded pids; Postgres = the postmaster and its
# children): "ai/pg/gw/nats" in microseconds, then ",other=N": the CPU time, in cores, of
# every other process on the machine (all of /proc, reaped children included, minus this
# stack and the client) during the row - other work on a shared machine. The cached rows'
# tails follow it (requests of 5 ms or more ran while other processes held CPU 0 about
# half the time, against a third in random windows: perf sched, 2026-11-26), so a row is
# only comparable with rows of a similar figure. (/proc/stat's per-CPU counters are not
# used: on this VM they lose up to 40% of a CPU's time.)
# Prints one markdown table row per measurement (also appended to $BENCH_OUT). wrk rows
# give wrk's own p50/p99, corrected for coordinated omission (see run_wrk): a rare stall
# weighs far more there than in the open-loop rows.
# Usage: bench/ai/run.sh            (BENCH_BUILD=1 builds build/ first; TM_BUILD_PREFIX and
#        TM_BIN_DIR choose the binaries as in scripts/lib/stack.sh; BENCH_PARTS picks the
#        parts, default "A A1 A4 A2 A3 B B1" - the seeding always runs)
#        BENCH_LOG_LEVEL=info: the daemons log at info, the gateway's access log line per
#        request included (latency_ms, request_id): where a wrk row's stall went. Costs a
#        write per request: not for figures.
#        BENCH_SLOW_MS=N: the open-loop rows also write every request of N ms or more to
#        $BENCH_STATE/wrk/NAME.slow (paced -S/-L: due/sent/done times, CLOCK_MONOTONIC).
#        BENCH_TRACE='command': run with bash in the background during every wrk and paced
#        row (BENCH_TRACE_NAME=row name, BENCH_TRACE_DIR=$BENCH_STATE/wrk, BENCH_TRACE_PIDS=
#        "role=pid ..." of the stack), e.g. 'perf sched record -k CLOCK_MONOTONIC -C 0 -o
#        $BENCH_TRACE_DIR/$BENCH_TRACE_NAME.perf -- sleep 11'; waited for after the row.
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
export STACK_LOG_LEVEL=${BENCH_LOG_LEVEL:-warn}
export STACK_ENV_GATEWAY="TM_RATE_USER_RPS=0 TM_RATE_IP_RPS=0 TM_RATE_AUTH_RPS=0"
D=${BENCH_DURATION:-10s}
C=${BENCH_CONNECTIONS:-8}
N=${BENCH_TASKS:-10000}
SCPU=${BENCH_SERVER_CPUS:-0}
CCPU=${BENCH_CLIENT_CPUS:-1}
OUT=${BENCH_OUT:-/tmp/tm-bench-ai.md}
RATE=${BENCH_RATE:-1000}               # A4's offered load (req/s)
RATE_CACHED=${BENCH_RATE_CACHED:-2000} # B1's
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
  export STACK_ENV_AI="TM_AI_MAX_TASKS=$N $*"
  stop_pid ai
  pinned start_daemon ai
  wait_ready ai
}

# CPU ticks (utime + stime) of this stack's processes, by role: "role ticks" lines. Only
# the recorded pids (other stacks on the machine are not counted); Postgres is the
# postmaster and every child of it (the services' backends).
cpu_snapshot() {
  local role pid pm
  for role in ai gateway nats task realtime; do
    pid=$(cat "$STACK_STATE/pids/$role.pid" 2>/dev/null) || continue
    awk -v n="$role" '{ print n, $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || true
  done
  # every process (utime, stime, cutime, cstime, after "pid (comm) "), this shell's reaped
  # children (the client, wrk or paced) and the wall clock, all in ticks
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk '{ sub(/^.*\) /, ""); s += $12 + $13 + $14 + $15 }
    END { print "machine", s }'
  awk '{ sub(/^.*\) /, ""); print "client", $14 + $15 }' "/proc/$$/stat"
  awk -v hz="$(getconf CLK_TCK)" '{ printf "wall %.0f\n", $1 * hz }' /proc/uptime
  pm=$(cat "$STACK_STATE/pids/postgres.pid" 2>/dev/null) || return 0
  for pid in "$pm" $(pgrep -P "$pm"); do
    awk '{ print "pg", $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || true
  done
}
# "ai/pg/gw/nats" CPU us per request between two snapshots, for REQS requests.
cpu_per_request() { # BEFORE AFTER REQS
  local hz
  hz=$(getconf CLK_TCK)
  awk -v r="$3" -v hz="$hz" 'FNR == NR { b[$1] += $2; next } { a[$1] += $2 }
    END { if (r <= 0) { print "-"; exit }
      ours = 0; for (k in a) if (k != "machine" && k != "client" && k != "wall") ours += a[k] - b[k]
      wall = a["wall"] - b["wall"]
      other = a["machine"] - b["machine"] - ours - (a["client"] - b["client"])
      printf "%.0f/%.0f/%.0f/%.0f,other=%.1f\n", (a["ai"] - b["ai"]) * 1e6 / hz / r,
        (a["pg"] - b["pg"]) * 1e6 / hz / r, (a["gateway"] - b["gateway"]) * 1e6 / hz / r,
        (a["nats"] - b["nats"]) * 1e6 / hz / r, (wall > 0 ? other / wall : 0) }' "$1" "$2"
}

# BENCH_TRACE around one row (see the usage above).
trace_start() { # NAME
  TRACE_PID=
  [ -n "${BENCH_TRACE:-}" ] || return 0
  local pids="" role
  for role in ai gateway nats postgres task realtime; do
    pids+="$role=$(cat "$STACK_STATE/pids/$role.pid" 2>/dev/null) "
  done
  BENCH_TRACE_NAME=$1 BENCH_TRACE_DIR=$TMP BENCH_TRACE_PIDS=$pids bash -c "$BENCH_TRACE" &
  TRACE_PID=$!
}
trace_stop() { [ -z "${TRACE_PID:-}" ] || wait "$TRACE_PID" || true; }

# wrk NAME ARGS... -> "rps p50_ms p99_ms errors cpu co" in $TMP/NAME.
# wrk 4.1 (Debian's) corrects its latency histogram for coordinated omission before it
# prints it: with interval = runtime / (requests / connections), every sample L above
# 2 x interval gets synthetic samples L - interval, L - 2 x interval, ... down to interval
# (wrk.c main() -> stats_correct()). One 300 ms stall in a 5 s, 8-connection run at ~1 ms
# per request thus adds ~2,500 samples spread over 1-300 ms: wrk printed p99 239 ms where
# the replies themselves had 8 slow ones in 65,599 (bench/ai, 2026-11-26). So wrk's p99 is
# "what requests due every interval would have waited", which magnifies any rare stall;
# its "requests" count is real. co: wrk's mean latency over the closed loop's true mean,
# C / (req/s) by Little's law; near 1 when wrk added nothing, above 1 by the weight of the
# synthetic samples. The open-loop rows (A4, B1: paced.c, latency from each request's due
# time) are the direct answer to "p99 at this load".
run_wrk() {
  local name=$1 c=${WRK_CONNS:-$C} t=2 reqs; shift
  [ "$c" -ge 2 ] || t=1
  trace_start "$name"
  cpu_snapshot >"$TMP/$name.cpu0"
  taskset -c "$CCPU" wrk -t"$t" -c"$c" -d"$D" --latency "$@" >"$TMP/$name.txt" 2>&1 || true
  cpu_snapshot >"$TMP/$name.cpu1"
  trace_stop
  reqs=$(awk '/requests in/ { print $1 }' "$TMP/$name.txt")
  awk -v cpu="$(cpu_per_request "$TMP/$name.cpu0" "$TMP/$name.cpu1" "${reqs:-0}")" -v c="$c" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec/ { rps = $2 }
    $1 == "Latency" && !avg { avg = ms($2) }
    $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
    /Non-2xx or 3xx/ { err += $NF } /Socket errors/ { err += 1 }
    END { printf "%.0f %.2f %.2f %d %s %.2f\n", rps, p50, p99, err, cpu, (rps > 0 ? avg * rps / (1000 * c) : 0) }' \
    "$TMP/$name.txt" >"$TMP/$name"
}
row() { # LABEL NAME TARGET_MS (wrk's p99, CO-corrected, <= TARGET_MS and no errors: met)
  local rps p50 p99 err cpu co verdict
  read -r rps p50 p99 err cpu co <"$TMP/$2"
  verdict=$(awk -v p="$p99" -v t="$3" -v e="$err" -v k="$co" 'BEGIN {
    v = (p <= t && e == 0) ? "met" : "NOT met"
    if (k > 1.2) v = v sprintf(" (CO-corrected: wrk mean %.1fx C/rps)", k)
    print v }')
  printf '| %s | %s | %s | %s | %s | %s | p99 <= %s ms: %s |\n' "$1" "$rps" "$p50" "$p99" "$err" "$cpu" "$3" "$verdict" | tee -a "$OUT"
}

# paced NAME RATE URL_ARGS... (open loop, bench/http/paced.c, GET only): request i is due
# at t0 + i/RATE over C connections and its latency runs from that time, so a stall is
# counted in full; -> "achieved p50 p99 errors cpu p999/late" in $TMP/NAME
run_paced() {
  local name=$1 rate=$2 reqs slow=(); shift 2
  [ -z "${BENCH_SLOW_MS:-}" ] || slow=(-S "$BENCH_SLOW_MS" -L "$TMP/$name.slow")
  trace_start "$name"
  cpu_snapshot >"$TMP/$name.cpu0"
  taskset -c "$CCPU" "$TMP/paced" -c "$C" -R "$rate" -d "$D" -w 1 "${slow[@]}" "$@" >"$TMP/$name.txt" 2>&1 || true
  cpu_snapshot >"$TMP/$name.cpu1"
  trace_stop
  reqs=$(awk '/^paced: rate=/ { sub(/.*total=/, ""); print $1 }' "$TMP/$name.txt")
  awk -v cpu="$(cpu_per_request "$TMP/$name.cpu0" "$TMP/$name.cpu1" "${reqs:-0}")" '/^paced: rate=/ {
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      printf "%.0f %.2f %.2f %d %s %.2f/%d\n", v["achieved"], v["p50"], v["p99"], v["errors"], cpu, v["p999"], v["late"] }' \
    "$TMP/$name.txt" >"$TMP/$name"
  [ -s "$TMP/$name" ] || echo "0 0 0 -1 - -" >"$TMP/$name"
}
row_paced() { # LABEL NAME TARGET_MS
  local rps p50 p99 err cpu tail verdict
  read -r rps p50 p99 err cpu tail <"$TMP/$2"
  verdict=$(awk -v p="$p99" -v t="$3" -v e="$err" -v l="${tail#*/}" 'BEGIN { print (p <= t && e == 0 && l == 0) ? "met" : "NOT met" }')
  printf '| %s | %s | %s | %s | %s | %s | p99 <= %s ms: %s (p99.9/late %s) |\n' "$1" "$rps" "$p50" "$p99" "$err" "$cpu" "$3" "$verdict" "$tail" | tee -a "$OUT"
}
header() { printf '\n| %s | req/s | p50 ms | p99 ms | errors | cpu us/req ai/pg/gw/nats,other (cores) | target |\n|---|---|---|---|---|---|---|\n' "$1" | tee -a "$OUT"; }

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
  SEED_END=$SECONDS
  settle
}

# The seeding wrote BENCH_TASKS rows into half a dozen tables in a minute; autovacuum then
# vacuums and analyses them, on the CPU the stack is pinned to, during the first parts.
# Do that work now (VACUUM ANALYZE, a CHECKPOINT), then wait for the stack to be idle:
# every part measures the steady state, not the aftermath of the bulk load.
settle() {
  local t0=$SECONDS busy
  psql_db -c "VACUUM (ANALYZE)" >/dev/null
  psql_db -c "CHECKPOINT" >/dev/null
  for _ in $(seq 120); do
    busy=$(psql_db -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")
    [ "$busy" = 0 ] && break
    sleep 0.5
  done
  log "seed: vacuumed and checkpointed in $((SECONDS - t0)) s (autovacuum workers left: $busy)"
  # tm-realtime sends a head beacon every TM_RT_SWEEP_INTERVAL (5 s) to each room with an
  # event in the last TM_RT_HEAD_WINDOW (60 s): after the seeding, 2,000 task rooms (its
  # cap), a 10-20 ms burst of Postgres, tm-realtime and nats-server work on the stack's CPU
  # every 5 s (perf sched: the cached open-loop rows' slow requests came 5 s apart). Wait
  # the window out.
  local wait=$((62 - (SECONDS - SEED_END)))
  [ "$wait" -le 0 ] || { log "seed: waiting $wait s for tm-realtime's head window"; sleep "$wait"; }
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

warm_up() { # one request per endpoint (loads the task set)
  curl -fs -o /dev/null "$BASE/api/v1/ai/insights" -H "$AUTH"
  curl -fs -o /dev/null "$BASE/api/v1/ai/recommendations" -H "$AUTH"
  curl -fs -o /dev/null -XPOST "$BASE/api/v1/ai/suggestions" -H "$AUTH" -H 'content-type: application/json' -d "$SUGGEST"
}

ms_of() { # curl args... -> total time of one request in ms
  curl -fs -o /dev/null -w '%{time_total}' "$@" | awk '{ printf "%.2f", $1 * 1000 }'
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
cc -O2 -Wall -Wextra -Werror -o "$TMP/paced" "$ROOT/bench/http/paced.c"
log "state $STACK_STATE; stack pinned to cpu $SCPU, wrk to cpu $CCPU; tm-ai $(daemon_bin ai)"
export STACK_ENV_AI="TM_AI_MAX_TASKS=$N"
pinned start_stack
setup_user
seed
export PARSE='{"text":"Call Bob tomorrow 5pm p1 #work every monday","timezone":"Europe/Berlin"}'
export SUGGEST="{\"workspace_id\":\"$WS\",\"limit\":5}"

echo "# bench/ai $(date -u +%FT%TZ) $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) nproc=$(nproc)" \
  "server cpus=$SCPU client cpus=$CCPU duration=$D connections=$C tasks=$N tm-ai=$(daemon_bin ai)" \
  "load:$(uptime | sed 's/.*load average://')" | tee -a "$OUT"

PARTS=" ${BENCH_PARTS:-A A1 A4 A2 A3 B B1} "
part() { [[ $PARTS == *" $1 "* ]]; }

if part A; then
  header "A. uncached (TM_AI_CACHE_ENTRIES=0), all $N tasks considered, task set warm"
  restart_ai TM_AI_CACHE_ENTRIES=0
  check_cached false GET /api/v1/ai/insights
  warm_up
  BENCH_BODY=$PARSE run_wrk parse -H "$AUTH" -s "$HERE/post.lua" "$BASE/api/v1/ai/parse"
  row "POST /api/v1/ai/parse (never cached)" parse 50
  measure_set a 50 ""
fi

if part A1 || part A4; then
  restart_ai TM_AI_CACHE_ENTRIES=0
  warm_up
fi
if part A1; then
  header "A1. uncached, one connection (single-request latency)"
  WRK_CONNS=1 measure_set 1 50 " (1 conn)"
fi

if part A4; then
  header "A4. uncached GETs, open loop at $RATE req/s over $C connections (bench/http/paced.c)"
  run_paced pins "$RATE" -H "$AUTH" "$BASE/api/v1/ai/insights"
  row_paced "GET /api/v1/ai/insights (open loop)" pins 50
  run_paced prec "$RATE" -H "$AUTH" "$BASE/api/v1/ai/recommendations"
  row_paced "GET /api/v1/ai/recommendations (open loop)" prec 50
fi

if part A2; then
  header "A2. uncached, no task set (TM_AI_TASKSET_BYTES=0): $N rows from Postgres per request"
  restart_ai TM_AI_CACHE_ENTRIES=0 TM_AI_TASKSET_BYTES=0
  measure_set b 50 " (no task set)"
fi

if part A3; then
  printf '\n| A3. first answers after a restart and after a change (uncached) | one request | |\n|---|---|---|\n' | tee -a "$OUT"
  restart_ai TM_AI_CACHE_ENTRIES=0
  printf '| first GET /api/v1/ai/insights after a restart (task set loaded) | %s ms | second: %s ms |\n' \
    "$(ms_of "$BASE/api/v1/ai/insights" -H "$AUTH")" "$(ms_of "$BASE/api/v1/ai/insights" -H "$AUTH")" | tee -a "$OUT"
  python3 "$HERE/after_change.py" 127.0.0.1 "$STACK_HTTP_PORT" "$TOKEN" "${BENCH_CHANGES:-20}" | tee -a "$OUT"
fi

if part B || part B1; then
  restart_ai
  warm_up
  for p in insights recommendations; do check_cached true GET "/api/v1/ai/$p"; done
  check_cached true POST /api/v1/ai/suggestions "$SUGGEST"
fi
if part B; then
  header "B. cached (default cache; warm-up request, then hits)"
  measure_set c 5 " (cached)"
  check_cached true GET /api/v1/ai/insights
fi

if part B1; then
  header "B1. cached GETs, open loop at $RATE_CACHED req/s over $C connections (bench/http/paced.c)"
  run_paced cins "$RATE_CACHED" -H "$AUTH" "$BASE/api/v1/ai/insights"
  row_paced "GET /api/v1/ai/insights (cached, open loop)" cins 5
  run_paced crec "$RATE_CACHED" -H "$AUTH" "$BASE/api/v1/ai/recommendations"
  row_paced "GET /api/v1/ai/recommendations (cached, open loop)" crec 5
  check_cached true GET /api/v1/ai/insights
fi
