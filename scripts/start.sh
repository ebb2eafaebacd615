#!/usr/bin/env bash
# Start the local taskmesh stack: install what is missing, build, start nats-server
# (JetStream, 127.0.0.1:14222), a throwaway Postgres 15 (127.0.0.1:15432, database
# taskmesh), and the four daemons (gateway HTTP 8080, admin 9100-9103), then wait.
# Ctrl-C or SIGTERM stops everything this script started. State: ./.state/local
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/stack.sh
source scripts/lib/stack.sh
STACK_NAME=local
STACK_BOOTSTRAP_ADMIN_EMAIL=${TM_BOOTSTRAP_ADMIN_EMAIL:-admin@taskmesh.local}
stack_defaults

cleanup() {
  trap - EXIT INT TERM
  stop_all
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

NO_BUILD=0
for arg in "$@"; do
  case "$arg" in
    --no-build) NO_BUILD=1 ;; # run the binaries already in build/
    *) echo "usage: scripts/start.sh [--no-build]" >&2; exit 2 ;;
  esac
done

install_deps
if [ $NO_BUILD = 0 ]; then build; fi
start_stack

cat <<MSG

taskmesh is running.
  gateway:  http://127.0.0.1:$STACK_HTTP_PORT
  admin:    gateway :$(admin_port gateway)  task :$(admin_port task)  realtime :$(admin_port realtime)  ai :$(admin_port ai)
  logs:     $STACK_STATE/logs/
  try:      curl -s http://127.0.0.1:$STACK_HTTP_PORT/api/v1/health
            curl -s -X POST http://127.0.0.1:$STACK_HTTP_PORT/api/v1/auth/register \\
              -H 'Content-Type: application/json' \\
              -d '{"email":"$STACK_BOOTSTRAP_ADMIN_EMAIL","password":"correct-horse-battery-9","display_name":"Admin"}'
Press Ctrl-C to stop (or run scripts/stop.sh).
MSG

# Wake up when any recorded process dies, or on a signal (sleep in the background so the
# traps run at once).
while true; do
  for name in nats postgres "${TM_SERVICES[@]}"; do
    if ! pid_alive "$name"; then
      log "$name exited; stopping the stack (see $STACK_STATE/logs/)"
      exit 1
    fi
  done
  sleep 2 &
  wait $! || true
done
