#!/usr/bin/env bash
# tests/reliability/run.sh: the reliability and security suite in one command.
#
# Starts its own stack (state .state/rel; nats 4330/4331, Postgres 5530, gateway 8030, admin
# 9230-9233, fault proxy 7030/7031 between tm-realtime and NATS), then runs:
#   faults    kill -9 tm-task x10, nats-server x5, Postgres x2; 5 s NATS blackhole (faults.mjs)
#   ws        50 WebSocket clients at 20 events/s, each dropped 3 times and resumed (ws.mjs)
#   dos       slow headers/body, 2 MiB bodies, 1,000 idle WebSockets, HTTP/2 rapid resets (dos.mjs)
#   security  tests/security/*.test.mjs (OWASP API Top 10), sqlmap, secrets in logs
#   fuzz      tests/fuzz/run-smoke.sh (REL_FUZZ_SECONDS per target, default 5; 0 skips), built
#             in <build dir>-fuzz (TM_BUILD_PREFIX=build-x: build-x-fuzz)
# Prints a table (check, bound, measured, pass/fail) and "N passed, N failed"; exits 1 on any
# failure. Stops everything it started, by pid.
#   REL_ONLY="faults ws dos security fuzz"   run a subset
#   TM_BIN_DIR=dir    daemons from dir/tm-<svc> instead of building (default: build if missing)
#   REL_KEEP=1        leave the stack running (stop: tests/reliability/stackctl.sh stop-all)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=env.sh
source "$HERE/env.sh"
cd "$TM_ROOT"

ONLY=${REL_ONLY:-faults ws dos security fuzz}
RESULTS="$STACK_STATE/results.txt"
START=$SECONDS
export TM_REL_GATEWAY_URL="http://127.0.0.1:$STACK_HTTP_PORT"
export TM_REL_ADMIN_BASE=$STACK_ADMIN_BASE TM_REL_NATS_MON_PORT=$STACK_NATS_MON_PORT
export TM_REL_PROXY_CTL_PORT=$REL_PROXY_CTL_PORT
export TM_TEST_GATEWAY_URL=$TM_REL_GATEWAY_URL TM_TEST_STATE=$STACK_STATE
export TM_TEST_ADMIN_EMAIL=$STACK_BOOTSTRAP_ADMIN_EMAIL
export TM_TEST_ADMIN_PORTS="gateway=$(admin_port gateway),task=$(admin_port task),realtime=$(admin_port realtime),ai=$(admin_port ai)"
export TM_TEST_PG_URL="postgresql://postgres@127.0.0.1:$STACK_PG_PORT/$STACK_PG_DB"
export TM_REL_RESULTS=$RESULTS
export TM_TEST_TASK_BIN=${TM_TEST_TASK_BIN:-$(daemon_bin task)}
export TM_TEST_TASK_PG_URL="postgresql://tm_task@127.0.0.1:$STACK_PG_PORT/$STACK_PG_DB"

want() { [[ " $ONLY " == *" $1 "* ]]; }
row() { printf 'RESULT|%s|%s|%s|%s\n' "$1" "$2" "$3" "$4" >>"$RESULTS"; }

proxy_pid_file() { echo "$STACK_STATE/pids/faultproxy.pid"; }
stop_proxy() {
  local f pid
  f=$(proxy_pid_file)
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == node* ]]; then kill -TERM "$pid" 2>/dev/null || true; fi
  rm -f "$f"
}

print_table() {
  local passed failed
  echo
  printf '%-66s | %-16s | %-22s | %s\n' check bound measured result
  printf '%s\n' "$(printf -- '-%.0s' {1..118})"
  if [ -f "$RESULTS" ]; then
    awk -F'|' '{ printf "%-66s | %-16s | %-22s | %s\n", $2, $3, $4, $5 }' "$RESULTS"
    passed=$(grep -c '|pass$' "$RESULTS" || true)
    failed=$(grep -c '|fail$' "$RESULTS" || true)
  fi
  echo
  echo "Time: $((SECONDS - START))s. Logs: $STACK_STATE/logs/"
  echo "${passed:-0} passed, ${failed:-0} failed"
  [ "${failed:-0}" = 0 ] && [ "${passed:-0}" -gt 0 ]
}

finish() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$rc" != 0 ]; then row "suite: ran to the end" "exit 0" "exit $rc (interrupted?)" fail; fi
  if [ "${REL_KEEP:-0}" = 1 ]; then
    log "REL_KEEP=1: the stack stays up; stop it with tests/reliability/stackctl.sh stop-all"
  else
    stop_proxy
    stop_all >/dev/null 2>&1 || true
  fi
  if [ -f "$RESULTS" ] && want security; then
    if "$TM_ROOT/tests/security/log_secrets.sh" "$STACK_STATE" >"$STACK_STATE/logs/log_secrets.out" 2>&1; then
      row "secrets: password/token lines in daemon logs" 0 0 pass
    else
      row "secrets: password/token lines in daemon logs" 0 "$(grep -c . "$STACK_STATE/logs/log_secrets.out")" fail
    fi
  fi
  print_table
  exit $?
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A leftover run is stopped by its recorded pids, then wiped.
stop_proxy
stop_all >/dev/null 2>&1 || true
if [ -e "$STACK_STATE/pg" ]; then rm -rf "$(readlink -f "$STACK_STATE/pg")"; fi
rm -rf "$STACK_STATE"
state_init
: >"$RESULTS"
: >"$STACK_STATE/secrets.txt"

if [ -z "${TM_BIN_DIR:-}" ]; then
  for svc in "${TM_SERVICES[@]}"; do
    if [ ! -x "$(daemon_bin "$svc")" ]; then build || { row "build" ok failed fail; exit 1; }; break; fi
  done
fi
for d in tests/e2e tests/security tests/reliability; do
  if [ -f "$d/package.json" ] && [ ! -d "$d/node_modules" ]; then
    (cd "$d" && npm install --no-audit --no-fund --loglevel=error) >/dev/null 2>&1 || true
  fi
done

node "$HERE/faultproxy.mjs" "$REL_PROXY_PORT" "$STACK_NATS_PORT" "$REL_PROXY_CTL_PORT" \
  >>"$STACK_STATE/logs/faultproxy.log" 2>&1 &
echo $! >"$(proxy_pid_file)"

stack_up() {
  start_nats && start_pg && create_db_roles && gen_keys || return 1
  for svc in "${TM_SERVICES[@]}"; do "$HERE/stackctl.sh" start "$svc" || return 1; done
  wait_ready "${TM_SERVICES[@]}"
}
if stack_up; then row "stack: nats, postgres, 4 daemons ready" ready ready pass
else row "stack: nats, postgres, 4 daemons ready" ready "not ready" fail; exit 1; fi

# Bootstrap admin (first registration with STACK_BOOTSTRAP_ADMIN_EMAIL) for the security tests.
step() { log "== $1 ($((SECONDS - START))s)"; }

# drive NAME SECONDS CMD...: run one driver with a deadline; a driver that times out or
# exits non-zero is a failed row (its own RESULT rows are kept).
drive() {
  local name=$1 secs=$2 rc
  shift 2
  timeout "$secs" "$@" 2>&1 | grep -v '^RESULT|' | sed 's/^/  /' >&2
  rc=${PIPESTATUS[0]}
  if [ "$rc" = 124 ]; then row "$name: driver finished" "< ${secs} s" "timed out" fail
  elif [ "$rc" != 0 ]; then row "$name: driver finished" "exit 0" "exit $rc" fail; fi
}
# A daemon that died during a step is a failure of that step (the logs say why).
alive_check() {
  local svc dead=()
  for svc in "${TM_SERVICES[@]}"; do pid_alive "$svc" || dead+=("$svc"); done
  if [ ${#dead[@]} -gt 0 ]; then
    row "$1: daemons alive afterwards" all "dead: ${dead[*]}" fail
    for svc in "${dead[@]}"; do
      grep -v '^{' "$STACK_STATE/logs/$svc.log" | tail -n 5 | sed "s/^/  $svc: /" >&2
      "$HERE/stackctl.sh" start "$svc" || true # so that the next steps can run
    done
    wait_ready "${TM_SERVICES[@]}" || true
  else
    row "$1: daemons alive afterwards" all all pass
  fi
}

if want faults; then
  step faults
  drive faults 300 node "$HERE/faults.mjs" task-kill nats-kill pg-kill blackhole
  alive_check faults
fi
if want ws; then
  step ws
  drive ws 120 node "$HERE/ws.mjs"
  alive_check ws
fi
if want dos; then
  step dos
  drive dos 180 node "$HERE/dos.mjs"
  alive_check dos
fi
if want security; then
  step security
  for t in "$TM_ROOT"/tests/security/*.test.mjs; do
    n=$(basename "$t" .test.mjs)
    out="$STACK_STATE/logs/security-$n.log"
    if (cd "$TM_ROOT/tests/security" && timeout 120 node --test "$t") >"$out" 2>&1; then
      row "security: $n ($(grep -E '^# pass' "$out" | awk '{print $3}') tests)" "0 failing" 0 pass
    else
      row "security: $n (see logs/security-$n.log)" "0 failing" "$(grep -E '^# fail' "$out" | awk '{print $3}') failing" fail
    fi
  done
  "$TM_ROOT/tests/security/sqlmap.sh" "$STACK_STATE" 2>&1 | sed 's/^/  /' >&2
  alive_check security
fi
if want fuzz && [ "${REL_FUZZ_SECONDS:-5}" != 0 ]; then
  step fuzz
  out="$STACK_STATE/logs/fuzz-smoke.log"
  if "$TM_ROOT/tests/fuzz/run-smoke.sh" "${REL_FUZZ_SECONDS:-5}" "$(TM_SANITIZE=0 build_dir)-fuzz" >"$out" 2>&1; then
    row "fuzz: libFuzzer smoke, ${REL_FUZZ_SECONDS:-5} s per target" "0 crashes" "$(grep -c '^== ' "$out") targets ok" pass
  else
    row "fuzz: libFuzzer smoke (logs/fuzz-smoke.log)" "0 crashes" "$(grep -o 'FAILED:.*' "$out" | head -n 1)" fail
  fi
fi
