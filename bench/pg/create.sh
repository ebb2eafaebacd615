#!/usr/bin/env bash
# Postgres CPU of one task create, by parts of the statement, with pgbench against a running
# stack's database (issue #4's create target: what is left for the rest of the stack).
#   bench/pg/create.sh [seconds] [clients]          (defaults: 10 8)
# Env: BENCH_STATE (the stack's state folder: Postgres pid), BENCH_PG_PORT (15432),
#      BENCH_VARIANTS (default "full nojson noauth plain"), BENCH_DB (taskmesh).
# Variants, each run as pgbench -M prepared over 16 workspaces of one bench user:
#   full    tm-task's create: services/task/tasks.c TASK_INSERT_EMIT_SQL (task_insert_emit),
#           written out again here with pgbench variables: insert + authorisation + outbox
#           row + the workspace's gapless seq, in one statement
#   nojson  full with a constant outbox payload instead of task_to_json(t)
#   noauth  full without the two membership checks
#   plain   the tasks INSERT alone (every index of tasks, no outbox, no seq)
# Prints per variant: creates/s and the CPU of every Postgres process of the stack per
# create (us). Stop the stack's daemons first to see the statement alone: a running relay,
# tm-realtime and tm-ai consume the outbox rows and count too. The rows stay in the
# database (tasks "bench pg", in the bench user's workspaces).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
SECS=${1:-10}
CLIENTS=${2:-8}
STATE=${BENCH_STATE:-$ROOT/.state/local}
PORT=${BENCH_PG_PORT:-15432}
DB=${BENCH_DB:-taskmesh}
VARIANTS=${BENCH_VARIANTS:-full nojson noauth plain}
PM=$(head -n 1 "$STATE/pg/postmaster.pid")
WORK=$(mktemp -d /tmp/bench-pg.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
psql_su() { psql -X -q -At -h 127.0.0.1 -p "$PORT" -U postgres -d "$DB" "$@"; }

# one user owning 16 workspaces, made in SQL (the bench needs no login)
USER_ID=$(psql_su -c "INSERT INTO task.users (email, password_hash, display_name, role)
  VALUES ('bench-pg-' || gen_random_uuid() || '@test.local', 'x', 'bench pg', 'user') RETURNING id")
mapfile -t WS < <(psql_su -c "WITH w AS (INSERT INTO task.workspaces (name, created_by)
  SELECT 'bench pg ' || i, '$USER_ID'::uuid FROM generate_series(1, 16) i RETURNING id),
  m AS (INSERT INTO task.members (workspace_id, user_id, role)
  SELECT id, '$USER_ID'::uuid, 'owner' FROM w) SELECT id FROM w")

INSERT_COLS="INSERT INTO tasks AS t (id, workspace_id, title, description, status, priority, labels, assignee_id, due_at, estimate_minutes, created_by, completed_at)"
INSERT_VALUES="gen_random_uuid(), :ws::uuid, :title, NULL, :status::text, :prio::smallint, ARRAY(SELECT jsonb_array_elements_text(:labels::jsonb)), NULL::uuid, NULL::timestamptz, NULL::integer, :uid::uuid, CASE WHEN :status::text = 'done' THEN now() END"
AUTH="WHERE EXISTS (SELECT 1 FROM members m WHERE m.workspace_id = :ws::uuid AND m.user_id = :uid::uuid AND m.role IN ('owner', 'editor')) AND (NULL::uuid IS NULL OR EXISTS (SELECT 1 FROM members a WHERE a.workspace_id = :ws::uuid AND a.user_id = NULL::uuid))"
emit() { # auth-clause payload-expression
  echo "WITH ins AS ($INSERT_COLS SELECT $INSERT_VALUES $1 RETURNING $2 AS j), s AS (UPDATE workspaces SET event_seq = event_seq + 1 WHERE id = :ws::uuid AND EXISTS (SELECT 1 FROM ins) RETURNING event_seq) INSERT INTO outbox (event_id, workspace_id, seq, type, payload, actor_id) SELECT gen_random_uuid(), :ws::uuid, s.event_seq, 'task.created', ins.j, :uid::uuid FROM ins LEFT JOIN s ON true RETURNING payload::text;"
}
statement() {
  case "$1" in
    full) emit "$AUTH" "task_to_json(t)" ;;
    nojson) emit "$AUTH" "'{}'::jsonb" ;;
    noauth) emit "" "task_to_json(t)" ;;
    plain) echo "$INSERT_COLS VALUES ($INSERT_VALUES) RETURNING id;" ;;
    *) echo "unknown variant $1" >&2; exit 1 ;;
  esac
}

pg_cpu() { # clock ticks of the postmaster and all its children
  local t c
  t=$(awk '{print $14+$15+$16+$17}' "/proc/$PM/stat")
  for p in $(pgrep -P "$PM"); do
    c=$(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null) || continue
    t=$((t + ${c:-0}))
  done
  echo "$t"
}

echo "# bench/pg $(date -u +%FT%TZ) commit $(git -C "$ROOT" rev-parse --short HEAD) secs=$SECS clients=$CLIENTS tasks=$(psql_su -c 'SELECT count(*) FROM task.tasks') load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| variant | creates/s | Postgres CPU us per create |"
echo "|---|---|---|"
HZ=$(getconf CLK_TCK)
for v in $VARIANTS; do
  args=()
  for i in "${!WS[@]}"; do
    statement "$v" | sed "s/:ws::uuid/'${WS[$i]}'::uuid/g" >"$WORK/$v.$i.sql"
    args+=(-f "$WORK/$v.$i.sql@1")
  done
  c0=$(pg_cpu)
  out=$(pgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$SECS" -h 127.0.0.1 -p "$PORT" -U tm_task \
    -D uid="$USER_ID" -D title="bench pg" -D status=todo -D prio=2 -D labels='["bench"]' \
    "${args[@]}" "$DB" 2>&1) || { echo "$out" | tail -5 >&2; exit 1; }
  sleep 1
  c1=$(pg_cpu)
  n=$(echo "$out" | awk '/number of transactions actually processed/ {split($NF, a, "/"); print a[1]; exit}')
  tps=$(echo "$out" | awk '/^tps/ {printf "%.0f", $3}')
  echo "| $v | $tps | $(awk -v a="$c0" -v b="$c1" -v n="$n" -v hz="$HZ" 'BEGIN {printf "%.0f", (b - a) * 1e6 / hz / n}') |"
done
