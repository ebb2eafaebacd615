#!/usr/bin/env bash
# Stop a local stack started by scripts/start.sh (by its recorded pids only).
# scripts/stop.sh --test stops a leftover test stack instead.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/stack.sh
source scripts/lib/stack.sh
STACK_NAME=local
if [ "${1:-}" = "--test" ]; then
  STACK_NAME=test
  STACK_PG_PORT=25432
fi
stack_defaults
if [ ! -d "$STACK_STATE/pids" ]; then
  log "nothing to stop ($STACK_STATE has no pids)"
  exit 0
fi
stop_all
log "stopped"
