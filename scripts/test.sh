#!/usr/bin/env bash
# Run every taskmesh test the way CI does:
#   1. install what is missing; build release (build/) and ASan+UBSan (build-asan/)
#   2. unit tests and fuzz corpus replays of both builds (ctest -L 'unit|fuzz')
#   3. the test stack from the sanitizer binaries: state ./.state/test (wiped), nats 24222
#      (monitor 28222), Postgres 25432, gateway 18080, admin 19100-19103
#   4. ctest -L integration with only nats-server and Postgres up (those tests start their
#      own daemons), then the four daemons on an empty NATS and ctest -L 'e2e|security',
#      then the offline deployment checks (ctest -L deploy)
#   5. stop the stack; any ASan/UBSan/LSan report in a daemon log fails the run
#   6. the reliability and security suite (tests/reliability/run.sh, release binaries, its
#      own stack on 4330/5530/8030/9230..., 25 s of libFuzzer per target): each of its
#      checks counts as one test here
# Ends with one line "N passed, N failed"; exits non-zero on any failure.
# --quick: skip the sanitizer build (the stack then runs the release binaries) and step 6.
# TM_TEST_RELIABILITY=0 skips step 6; TM_TEST_FUZZ_SECONDS (default 25) sets its fuzzing.
# TM_BUILD_PREFIX=build-x puts the builds in build-x/ and build-x-asan/.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/stack.sh
source scripts/lib/stack.sh

QUICK=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "usage: scripts/test.sh [--quick]" >&2; exit 2 ;;
  esac
done

STACK_NAME=test
STACK_STATE="$TM_ROOT/.state/test"
STACK_NATS_PORT=24222
STACK_NATS_MON_PORT=28222
STACK_PG_PORT=25432
STACK_HTTP_PORT=18080
STACK_ADMIN_BASE=19100
STACK_LOG_LEVEL=${STACK_LOG_LEVEL:-debug}
STACK_READY_TIMEOUT=${STACK_READY_TIMEOUT:-90} # ASan start-up is slower
STACK_BOOTSTRAP_ADMIN_EMAIL=${TM_TEST_ADMIN_EMAIL:-admin@test.local}
# A short room history, so that the WebSocket tests can resume past it.
STACK_ENV_REALTIME="TM_RT_HISTORY_EVENTS=150 TM_RT_PRUNE_INTERVAL=1s"
# A short WebSocket idle timeout, so that the ping/idle-close and partial-frame deadlines
# are seen within the conformance tests' bounds (pings at 10 s, close at 20 s).
STACK_ENV_GATEWAY="TM_WS_IDLE_TIMEOUT=20s"
stack_defaults

PASSED=0
FAILED=0
FAILURES=()
START=$SECONDS

pass() { PASSED=$((PASSED + 1)); log "PASS: $1"; }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$1"); log "FAIL: $1"; }
# check NAME CMD...: one pass/fail for a step that is not a ctest test.
check() {
  local name=$1
  shift
  if "$@"; then pass "$name"; return 0; fi
  fail "$name"
  return 1
}

# The lines of a ctest log that say why its failed tests failed (node:test's "not ok" and
# assertion lines, cmocka's and sanitizers' reports), at most 60: CI shows only part of the
# output, and the log stays on the CI machine.
failure_excerpt() {
  awk '/\*\*\*(Failed|Timeout|Exception)|^ *not ok|^ *(expected|actual):|\[  (FAILED|ERROR) \]|ERROR: (Address|Leak|Undefined)|runtime error:|at .*test\.mjs:[0-9]+/ { print; next }
       /^ *error:/ { print; more = ($0 ~ /\|-? *$/) ? 10 : 0; next }
       more > 0 { print; more-- }' "$1" | head -n 60 | sed 's/^/  | /'
}

# run_ctest DIR LABEL: adds each ctest test to the counts.
run_ctest() {
  local dir=$1 label=$2 out rc=0 nfail ntotal
  out="$STACK_STATE/logs/ctest-$(basename "$dir")-${label//[^a-z]/_}.log"
  log "ctest -L '$label' in $dir"
  ctest --test-dir "$dir" -L "$label" --output-on-failure --timeout 300 \
    -j "${TM_TEST_JOBS:-1}" >"$out" 2>&1 || rc=$?
  grep -E '^ *[0-9]+/[0-9]+ Test|tests passed|tests failed|No tests were found' "$out" >&2 || true
  if grep -qE '[0-9]+ tests failed out of [0-9]+' "$out"; then
    read -r nfail ntotal < <(sed -nE 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1 \2/p' "$out" | tail -n 1)
    PASSED=$((PASSED + ntotal - nfail))
    FAILED=$((FAILED + nfail))
    if [ "$nfail" -gt 0 ]; then
      FAILURES+=("ctest $label in $(basename "$dir"): $nfail of $ntotal (output: $out)")
      sed -n '/The following tests FAILED/,$p' "$out" >&2
      failure_excerpt "$out" >&2
    fi
  elif grep -q 'No tests were found' "$out"; then
    log "no '$label' tests in $dir"
  elif [ $rc != 0 ]; then
    fail "ctest $label in $(basename "$dir") (exit $rc, output: $out)"
  fi
}

npm_install() {
  local d=$1
  [ -f "$d/package.json" ] || return 0
  if [ -f "$d/package-lock.json" ]; then
    (cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
  else
    (cd "$d" && npm install --no-audit --no-fund --loglevel=error)
  fi
}

# Sanitizer reports land in the daemons' logs (stderr); they fail the run.
scan_sanitizer_logs() {
  local f bad=0
  for f in "$STACK_STATE"/logs/{gateway,task,realtime,ai}.log; do
    [ -f "$f" ] || continue
    if grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$f"; then
      printf '[stack] sanitizer report in %s:\n' "$f" >&2
      grep -nE -A 12 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$f" | head -n 60 >&2
      bad=1
    fi
  done
  return $bad
}

# Stop the test stack, then scan its logs (once).
stop_test_stack() {
  stop_all || true
  if [ "${STACK_STARTED:-0}" = 1 ]; then
    STACK_STARTED=0
    if check "no sanitizer reports in daemon logs" scan_sanitizer_logs; then :; fi
    if check "no password, token or key in daemon logs" tests/security/log_secrets.sh "$STACK_STATE"; then :; fi
  fi
}

# The reliability suite prints a table and "N passed, N failed"; its counts join ours.
run_reliability() {
  local out="$STACK_STATE/logs/reliability.log" rc=0 np nf
  log "tests/reliability/run.sh (log: $out)"
  REL_FUZZ_SECONDS=${TM_TEST_FUZZ_SECONDS:-25} TM_SANITIZE=0 tests/reliability/run.sh >"$out" 2>&1 || rc=$?
  sed -n '/^check /,$p' "$out" >&2
  read -r np nf < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/p' "$out" | tail -n 1) || true
  if [ -z "${np:-}" ]; then
    fail "reliability suite gave no result (exit $rc, output: $out)"
    return
  fi
  PASSED=$((PASSED + np))
  FAILED=$((FAILED + nf))
  if [ "$nf" -gt 0 ] || [ $rc != 0 ]; then
    FAILURES+=("reliability suite: $nf failed (exit $rc, output: $out)")
    [ "$nf" -gt 0 ] || FAILED=$((FAILED + 1))
  fi
}

finish() {
  local rc=$?
  trap - EXIT INT TERM
  stop_test_stack
  echo
  if [ ${#FAILURES[@]} -gt 0 ]; then
    echo "Failures:"
    printf '  - %s\n' "${FAILURES[@]}"
  fi
  echo "Time: $((SECONDS - START))s. Logs: $STACK_STATE/logs/"
  echo "$PASSED passed, $FAILED failed"
  if [ "$FAILED" -gt 0 ] || [ "$rc" -ne 0 ]; then exit 1; fi
  exit 0
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A leftover test stack (an interrupted run) is stopped by its pids, then wiped.
stop_all || true
if [ -e "$STACK_STATE/pg" ]; then rm -rf "$(readlink -f "$STACK_STATE/pg")"; fi
rm -rf "$STACK_STATE"
state_init

check "install dependencies" install_deps || exit 1

REL_OK=0
ASAN_OK=0
build_variant() { TM_SANITIZE=$1 build; }
if check "release build ($(TM_SANITIZE=0 build_dir))" build_variant 0; then REL_OK=1; fi
if [ $QUICK = 0 ]; then
  if check "sanitizer build ($(TM_SANITIZE=1 build_dir))" build_variant 1; then ASAN_OK=1; fi
fi

if [ $REL_OK = 1 ]; then run_ctest "$(TM_SANITIZE=0 build_dir)" 'unit|fuzz'; fi
if [ $ASAN_OK = 1 ]; then run_ctest "$(TM_SANITIZE=1 build_dir)" 'unit|fuzz'; fi

# The stack and the remaining tests use the sanitizer build (release with --quick).
if [ $QUICK = 0 ]; then
  TEST_BUILD_OK=$ASAN_OK
  export TM_SANITIZE=1
else
  TEST_BUILD_OK=$REL_OK
  export TM_SANITIZE=0
fi
TEST_BUILD=$(build_dir)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# libh2o-evloop 2.2.5 never frees some per-context memory: the one suppression (tests/lsan.supp)
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$TM_ROOT/tests/lsan.supp}

check "npm install tests/e2e" npm_install tests/e2e || true
check "npm install tests/deploy" npm_install tests/deploy || true
check "npm install tests/security" npm_install tests/security || true

# Integration tests start daemons of their own (on the same NATS): they run first, with
# only nats-server and Postgres up; then NATS is restarted empty and the four daemons of the
# stack start for the end-to-end, security and deployment checks.
start_infra() {
  state_init || return 1
  start_nats || return 1
  start_pg || return 1
  create_db_roles || return 1
  gen_keys || return 1
  psql_admin -c "CREATE DATABASE tm_itest" >/dev/null
}
restart_nats_empty() {
  stop_pid nats || return 1
  rm -rf "$STACK_STATE/nats"
  start_nats
}
start_daemons() {
  local svc
  for svc in "${TM_SERVICES[@]}"; do start_daemon "$svc" || return 1; done
  wait_ready "${TM_SERVICES[@]}"
}

if [ "$TEST_BUILD_OK" = 1 ]; then
  STACK_STARTED=1
  export TM_TEST_NATS_URL="nats://127.0.0.1:$STACK_NATS_PORT"
  export TM_TEST_PG_URL="postgresql://postgres@127.0.0.1:$STACK_PG_PORT/$STACK_PG_DB"
  export TM_TEST_GATEWAY_URL="http://127.0.0.1:$STACK_HTTP_PORT"
  export TM_TEST_ADMIN_PORTS="gateway=$(admin_port gateway),task=$(admin_port task),realtime=$(admin_port realtime),ai=$(admin_port ai)"
  export TM_TEST_STATE="$STACK_STATE"
  export TM_TEST_ADMIN_EMAIL="$STACK_BOOTSTRAP_ADMIN_EMAIL"
  export TM_TEST_TASK_PG_URL="postgresql://tm_task@127.0.0.1:$STACK_PG_PORT/$STACK_PG_DB"
  # the tests that start daemons of their own use this build's, not the newest build*/ dir's
  export TM_TEST_TASK_BIN="$(daemon_bin task)" TM_TEST_GATEWAY_BIN="$(daemon_bin gateway)"
  export TM_TEST_REALTIME_BIN="$(daemon_bin realtime)" TM_TEST_AI_BIN="$(daemon_bin ai)"
  export TM_TEST_RESPONDER_BIN="$TEST_BUILD/services/gateway/tm-test-responder"
  export TM_TEST_RT_HISTORY_EVENTS=150
  export TM_TEST_GATEWAY_ADMIN_PORT="$(admin_port gateway)"
  if check "nats-server and Postgres ready" start_infra; then
    # their own database: schemas they create must not be owned by the wrong role
    TM_TEST_PG_URL="postgresql://postgres@127.0.0.1:$STACK_PG_PORT/tm_itest" \
      run_ctest "$TEST_BUILD" integration
    if check "test stack ready (4 daemons on an empty NATS)" restart_nats_empty &&
      check "4 daemons ready" start_daemons; then
      run_ctest "$TEST_BUILD" 'e2e|security'
    fi
  fi
  run_ctest "$TEST_BUILD" deploy
  stop_test_stack
else
  fail "integration/e2e tests not run: no usable build in $TEST_BUILD"
  # the deployment checks need no binaries: run them from whichever build configured
  if [ $REL_OK = 1 ]; then run_ctest "$(TM_SANITIZE=0 build_dir)" deploy; fi
fi

if [ $QUICK = 0 ] && [ "${TM_TEST_RELIABILITY:-1}" != 0 ]; then
  if [ $REL_OK = 1 ]; then run_reliability; else fail "reliability suite not run: no release build"; fi
fi
