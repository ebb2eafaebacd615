#!/usr/bin/env bash
# stackctl.sh: one action on the reliability stack, for the Node fault drivers.
#   kill9 <svc|nats|postgres>   SIGKILL the recorded pid (and, for postgres, wait for its children)
#   start <svc|nats|postgres>   start it again (daemons: realtime goes through the fault proxy)
#   alive <svc|nats|postgres>   exit 0 if the recorded pid is alive
#   sql <query>                 run a query as postgres on the taskmesh database, rows as a|b
#   stop-all                    stop the fault proxy and the whole stack (run.sh REL_KEEP=1)
# Only pids recorded under $STACK_STATE/pids are signalled.
set -euo pipefail
# shellcheck source=env.sh
source "$(dirname "$0")/env.sh"

# start_daemon from stack.sh with tm-realtime's NATS URL pointed at the fault proxy.
start_svc() {
  local svc=$1 bin envs=()
  bin=$(daemon_bin "$svc")
  [ -x "$bin" ] || die "$bin is missing: build first" || return 1
  pid_alive "$svc" && return 0
  mapfile -t envs < <(daemon_env "$svc")
  if [ "$svc" = realtime ]; then
    envs=("${envs[@]/#TM_NATS_URL=*/TM_NATS_URL=nats://127.0.0.1:$REL_PROXY_PORT}")
  fi
  (exec env "${envs[@]}" "$bin") >>"$STACK_STATE/logs/$svc.log" 2>&1 &
  echo $! >"$(pid_file "$svc")"
  await_exec "$svc"
}

kill9() {
  local name=$1 pid i kids
  pid_alive "$name" || die "$name is not running" || return 1
  pid=$(cat "$(pid_file "$name")")
  # a killed postmaster's backends notice and exit; a restart needs them (and their
  # shared memory) gone, so wait for the children recorded before the kill
  kids=$(pgrep -P "$pid" 2>/dev/null | tr '\n' ' ' || true)
  kill -KILL "$pid"
  for ((i = 0; i < 200; i++)); do
    local any=0 k
    for k in $pid $kids; do
      if kill -0 "$k" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$k/status" 2>/dev/null; then any=1; fi
    done
    if [ $any = 0 ]; then
      # forget the pid now: on a busy machine another postgres/nats process may get it
      # next, and start_pg would then take it for ours and not start
      rm -f "$(pid_file "$name")"
      return 0
    fi
    sleep 0.05
  done
  die "$name (pid $pid) or its children still alive 10 s after SIGKILL"
}

case "${1:-}" in
  kill9) kill9 "$2" ;;
  start)
    case "$2" in
      nats) start_nats ;;
      postgres)
        start_pg || exit 1
        psql_admin -d postgres -tAc 'SELECT 1' >/dev/null || die "postgres did not answer after start" || exit 1
        ;;
      *) start_svc "$2" ;;
    esac
    ;;
  alive) pid_alive "$2" ;;
  stop-all)
    f="$STACK_STATE/pids/faultproxy.pid"
    if [ -f "$f" ] && [[ "$(cat "/proc/$(cat "$f")/comm" 2>/dev/null)" == node* ]]; then kill -TERM "$(cat "$f")"; fi
    rm -f "$f"
    stop_all
    ;;
  sql) psql_admin -d "$STACK_PG_DB" -tAF '|' -c "$2" ;;
  *) echo "usage: stackctl.sh kill9|start|alive NAME | sql QUERY | stop-all" >&2; exit 2 ;;
esac
