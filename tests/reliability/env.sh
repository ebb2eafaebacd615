# shellcheck shell=bash
# env.sh: the reliability stack's settings (ports 4330/5530/8030/9230..., state .state/rel),
# sourced by run.sh and stackctl.sh before scripts/lib/stack.sh.
REL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STACK_NAME=rel
STACK_STATE=${REL_STATE:-$REL_ROOT/.state/rel}
STACK_NATS_PORT=${REL_NATS_PORT:-4330}
STACK_NATS_MON_PORT=${REL_NATS_MON_PORT:-4331}
STACK_PG_PORT=${REL_PG_PORT:-5530}
STACK_HTTP_PORT=${REL_HTTP_PORT:-8030}
STACK_ADMIN_BASE=${REL_ADMIN_BASE:-9230}
STACK_LOG_LEVEL=${STACK_LOG_LEVEL:-info}
STACK_READY_TIMEOUT=${STACK_READY_TIMEOUT:-60}
STACK_STOP_TIMEOUT=${STACK_STOP_TIMEOUT:-10}
STACK_BOOTSTRAP_ADMIN_EMAIL=${REL_ADMIN_EMAIL:-admin@rel.test}
# tm-realtime reaches NATS through the fault proxy (tests/reliability/faultproxy.mjs)
REL_PROXY_PORT=${REL_PROXY_PORT:-7030}
REL_PROXY_CTL_PORT=${REL_PROXY_CTL_PORT:-7031}
# room history must keep every event of the run, or room_events cannot be compared
export TM_RT_HISTORY_EVENTS=${TM_RT_HISTORY_EVENTS:-1000000}
# shellcheck source=../../scripts/lib/stack.sh
source "$REL_ROOT/scripts/lib/stack.sh"
stack_defaults
