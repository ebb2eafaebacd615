# shellcheck shell=bash
# stack.sh: the pieces of a taskmesh stack on one machine, shared by scripts/start.sh
# (local stack) and scripts/test.sh (test stack). Source it after setting the STACK_*
# variables (see stack_defaults); every function returns non-zero with a message on stderr
# when something goes wrong, and nothing here kills a process it did not start itself
# (pids are recorded under $STACK_STATE/pids and checked before a signal is sent).

TM_ROOT=${TM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

# The one list of Debian packages taskmesh needs to build, run and test. The Dockerfile's
# build stage installs a subset of it (tests/deploy checks that).
TM_APT_PACKAGES=(
  gcc make cmake pkg-config libssl-dev
  libh2o-evloop-dev libwslay-dev libnats-dev nats-server libjansson-dev libjwt-dev
  libcurl4-openssl-dev libpq-dev postgresql-15 libcmocka-dev libargon2-dev
  curl openssl ca-certificates wrk nghttp2-client nodejs npm clang yamllint docker-compose
  python3
  slowhttptest sqlmap # tests/reliability/run.sh: denial of service, SQL injection
)
# The daemons, in start order (gateway last: it needs the others to answer).
TM_SERVICES=(task realtime ai gateway)

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; return 1; }

# Defaults for the local stack; scripts/test.sh overrides them before calling anything.
stack_defaults() {
  STACK_NAME=${STACK_NAME:-local}
  STACK_STATE=${STACK_STATE:-$TM_ROOT/.state/$STACK_NAME}
  STACK_NATS_PORT=${STACK_NATS_PORT:-14222}
  STACK_NATS_MON_PORT=${STACK_NATS_MON_PORT:-18222}
  STACK_PG_PORT=${STACK_PG_PORT:-15432}
  STACK_HTTP_PORT=${STACK_HTTP_PORT:-8080}
  STACK_ADMIN_BASE=${STACK_ADMIN_BASE:-9100} # gateway +0, task +1, realtime +2, ai +3
  STACK_LOG_LEVEL=${STACK_LOG_LEVEL:-info}
  STACK_READY_TIMEOUT=${STACK_READY_TIMEOUT:-60}
  STACK_STOP_TIMEOUT=${STACK_STOP_TIMEOUT:-20}
  STACK_PG_DB=taskmesh
}

admin_port() {
  case "$1" in
    gateway) echo $((STACK_ADMIN_BASE + 0)) ;;
    task) echo $((STACK_ADMIN_BASE + 1)) ;;
    realtime) echo $((STACK_ADMIN_BASE + 2)) ;;
    ai) echo $((STACK_ADMIN_BASE + 3)) ;;
    *) die "unknown service '$1'" ;;
  esac
}

build_dir() {
  local prefix=${TM_BUILD_PREFIX:-build}
  if [ "${TM_SANITIZE:-0}" = 1 ]; then echo "$TM_ROOT/$prefix-asan"; else echo "$TM_ROOT/$prefix"; fi
}

# ---------------------------------------------------------------- install and build

pkg_missing() {
  local p=$1
  case "$p" in # node and npm may come from NodeSource (npm inside nodejs)
    nodejs) command -v node >/dev/null 2>&1 && return 1 ;;
    npm) command -v npm >/dev/null 2>&1 && return 1 ;;
  esac
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]
}

install_deps() {
  local missing=() p
  for p in "${TM_APT_PACKAGES[@]}"; do
    if pkg_missing "$p"; then missing+=("$p"); fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "dependencies: all ${#TM_APT_PACKAGES[@]} packages present"
    return 0
  fi
  log "installing missing packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install ${missing[*]} by hand" || return 1
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
    die "apt-get update failed" || return 1
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}" || die "apt-get install ${missing[*]} failed" || return 1
  for p in "${missing[@]}"; do
    if pkg_missing "$p"; then die "package $p still missing after apt-get install"; return 1; fi
  done
}

build() {
  local dir san=OFF type=RelWithDebInfo
  dir=$(build_dir)
  if [ "${TM_SANITIZE:-0}" = 1 ]; then san=ON; type=Debug; fi
  log "build: $dir (TM_SANITIZE=$san)"
  cmake -S "$TM_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DTM_SANITIZE="$san" >"$dir.configure.log" 2>&1 ||
    { tail -n 40 "$dir.configure.log" >&2; die "cmake configure failed ($dir.configure.log)"; return 1; }
  make -C "$dir" -j"$(nproc)" --no-print-directory >"$dir.make.log" 2>&1 ||
    { grep -E 'error|Error' "$dir.make.log" | head -n 40 >&2; die "build failed (full log: $dir.make.log)"; return 1; }
}

# ---------------------------------------------------------------- state and pids

state_init() {
  mkdir -p "$STACK_STATE"/{logs,pids,keys}
  chmod 0755 "$STACK_STATE"
}

pid_file() { echo "$STACK_STATE/pids/$1.pid"; }

# A recorded pid counts only while it is alive and still runs the program we started.
pid_alive() {
  local name=$1 pid comm
  [ -f "$(pid_file "$name")" ] || return 1
  pid=$(cat "$(pid_file "$name")")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  # a killed process whose parent is gone may linger as a zombie under a non-reaping init
  grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null && return 1
  case "$name" in
    nats) [[ "$comm" == nats-server* ]] ;;
    postgres) [[ "$comm" == postgres* ]] ;;
    *) [[ "$comm" == "tm-$name" ]] ;;
  esac
}

# Between fork and exec a recorded pid still shows the shell; wait (briefly) for the exec
# so that pid_alive judges the real program.
await_exec() {
  local name=$1 pid i
  pid=$(cat "$(pid_file "$name")")
  for ((i = 0; i < 50; i++)); do
    pid_alive "$name" && return 0
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.02
  done
  return 0
}

# TERM, then KILL after STACK_STOP_TIMEOUT seconds; only the recorded pid.
stop_pid() {
  local name=$1 pid i
  pid_alive "$name" || { rm -f "$(pid_file "$name")"; return 0; }
  pid=$(cat "$(pid_file "$name")")
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STACK_STOP_TIMEOUT * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not exit within ${STACK_STOP_TIMEOUT}s: KILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  rm -f "$(pid_file "$name")"
}

stop_all() {
  local svc
  [ -d "${STACK_STATE:-/nonexistent}/pids" ] || return 0
  for svc in gateway ai realtime task; do stop_pid "$svc" || true; done
  stop_pid nats || true
  stop_pg || true
}

# ---------------------------------------------------------------- NATS

start_nats() {
  local conf="$STACK_STATE/nats.conf" port=$STACK_NATS_PORT
  pid_alive nats && { log "nats already running"; return 0; }
  mkdir -p "$STACK_STATE/nats"
  cat >"$conf" <<EOF
# generated by scripts/lib/stack.sh
server_name: tm-$STACK_NAME
listen: 127.0.0.1:$port
http: 127.0.0.1:$STACK_NATS_MON_PORT
max_payload: 8MB
jetstream {
  store_dir: "$STACK_STATE/nats"
  max_memory_store: 256MB
  max_file_store: 4GB
}
EOF
  # One Go P: on this one-machine stack nats-server shares the cores with four daemons and
  # Postgres, and with a single P its network poller and goroutines stay on one thread
  # instead of waking each other (2 cores: nats CPU per /me 17-21 -> 13-17 us, per create
  # 206-335 -> 174-179 us; /me p99 at 64 connections 12-22 -> 7.5-9.9 ms; docs/benchmarks.md)
  GOMAXPROCS="${STACK_NATS_GOMAXPROCS:-1}" nats-server -c "$conf" >>"$STACK_STATE/logs/nats.log" 2>&1 &
  echo $! >"$(pid_file nats)"
  await_exec nats
  wait_http "nats" "http://127.0.0.1:$STACK_NATS_MON_PORT/healthz?js-enabled-only=true" 20 \
    "$STACK_STATE/logs/nats.log" || return 1
  log "nats ready on 127.0.0.1:$port (monitor :$STACK_NATS_MON_PORT)"
}

# ---------------------------------------------------------------- Postgres

pg_run() { runuser -u postgres -- "$@"; }

# Postgres refuses root and needs every parent of its data folder traversable; when the
# repository sits under a private home (0700) the data goes to /tmp, linked from the state.
pg_data_dir() {
  local want="$STACK_STATE/pg"
  if [ -L "$want" ]; then readlink -f "$want"; return 0; fi
  mkdir -p "$want"
  if pg_run test -x "$want" 2>/dev/null; then echo "$want"; return 0; fi
  rmdir "$want" 2>/dev/null || true
  local alt
  alt="${TMPDIR:-/tmp}/taskmesh-pg-$STACK_NAME-$(echo "$STACK_STATE" | md5sum | cut -c1-8)"
  mkdir -p "$alt"
  ln -sfn "$alt" "$want"
  echo "$alt"
}

# A postmaster killed with -9 leaves postmaster.pid behind; remove it only when the pid in
# it is not a live postgres.
pg_clear_stale_pid() {
  local data=$1 pid
  [ -f "$data/postmaster.pid" ] || return 0
  pid=$(head -n 1 "$data/postmaster.pid")
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == postgres* ]] &&
    ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; then
    return 0
  fi
  log "removing stale postmaster.pid and socket lock (pid $pid is gone)"
  rm -f "$data/postmaster.pid" "$data"/run/.s.PGSQL.*
}

start_pg() {
  local data sock
  data=$(pg_data_dir)
  sock="$data/run"
  chown postgres:postgres "$data"
  chmod 0700 "$data"
  if [ ! -f "$data/PG_VERSION" ]; then
    log "initdb $data"
    pg_run "$PG_BIN/initdb" -D "$data" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=reject >"$STACK_STATE/logs/initdb.log" 2>&1 ||
      { tail -n 20 "$STACK_STATE/logs/initdb.log" >&2; die "initdb failed"; return 1; }
    cat >"$data/pg_hba.conf" <<EOF
# generated by scripts/lib/stack.sh: trust on the unix socket and 127.0.0.1 only
local all all trust
host  all all 127.0.0.1/32 trust
EOF
    # shared_buffers: with 745k tasks (heap 180 MB + indexes 407 MB) the default 128 MB made
    # task creates evict dirty pages themselves (buffers_backend up to 1.6 per create,
    # bgwriter up to 1.2, 0.8-2.3 reads per create from the OS cache); with 1 GB none (touched
    # lazily: an idle stack does not use it). max_wal_size/checkpoint_timeout: creates write
    # ~5-7 KB of WAL each, and 1 GB starts a checkpoint every ~540 MB (1 GB / 1.9): every
    # 45-90 s at 1,000-2,000 creates/s (4 GB: 3-6 min). The first change of a page after a
    # checkpoint logs its full 8 KB image: 0.2-1.3 per create just after one, ~0.003 later.
    cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $STACK_PG_PORT
unix_socket_directories = '$sock'
max_connections = 200
fsync = on
logging_collector = off
shared_buffers = 1GB
max_wal_size = 4GB
checkpoint_timeout = 15min
EOF
  fi
  pg_run mkdir -p "$sock"
  if pid_alive postgres; then log "postgres already running"; return 0; fi
  pg_clear_stale_pid "$data"
  touch "$STACK_STATE/logs/postgres.log"
  chown postgres "$STACK_STATE/logs/postgres.log"
  pg_run "$PG_BIN/pg_ctl" -D "$data" -l "$STACK_STATE/logs/postgres.log" -w -t 30 start >/dev/null ||
    { tail -n 20 "$STACK_STATE/logs/postgres.log" >&2; die "postgres did not start"; return 1; }
  head -n 1 "$data/postmaster.pid" >"$(pid_file postgres)"
  log "postgres ready on 127.0.0.1:$STACK_PG_PORT (data $data)"
}

stop_pg() {
  local data
  [ -e "$STACK_STATE/pg" ] || return 0
  data=$(readlink -f "$STACK_STATE/pg")
  pid_alive postgres || { rm -f "$(pid_file postgres)"; return 0; }
  log "stopping postgres"
  pg_run "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t "$STACK_STOP_TIMEOUT" stop >/dev/null 2>&1 ||
    stop_pid postgres
  rm -f "$(pid_file postgres)"
}

psql_admin() {
  pg_run psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$STACK_PG_PORT" -U postgres "$@"
}

# Database taskmesh; one login role per service owning its (empty) schema, search_path
# set to it. Idempotent.
create_db_roles() {
  local svc
  if ! psql_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$STACK_PG_DB'" | grep -q 1; then
    psql_admin -d postgres -c "CREATE DATABASE $STACK_PG_DB" || die "createdb failed" || return 1
  fi
  for svc in task realtime ai; do
    psql_admin -d "$STACK_PG_DB" <<EOF || { die "roles for $svc failed"; return 1; }
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tm_$svc') THEN
    CREATE ROLE tm_$svc LOGIN;
  END IF;
END \$\$;
CREATE SCHEMA IF NOT EXISTS $svc AUTHORIZATION tm_$svc;
ALTER ROLE tm_$svc SET search_path = $svc;
REVOKE ALL ON SCHEMA public FROM tm_$svc;
GRANT CONNECT ON DATABASE $STACK_PG_DB TO tm_$svc;
EOF
  done
  psql_admin -d "$STACK_PG_DB" -c "REVOKE ALL ON DATABASE $STACK_PG_DB FROM PUBLIC" >/dev/null
  log "database $STACK_PG_DB with roles tm_task, tm_realtime, tm_ai"
}

# ---------------------------------------------------------------- keys

gen_keys() {
  local k="$STACK_STATE/keys"
  mkdir -p "$k"
  if [ ! -s "$k/jwt-es256.pem" ]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$k/jwt-es256.key.tmp" 2>/dev/null &&
      openssl pkcs8 -topk8 -nocrypt -in "$k/jwt-es256.key.tmp" -out "$k/jwt-es256.pem" &&
      rm -f "$k/jwt-es256.key.tmp" || die "openssl key generation failed" || return 1
    chmod 0600 "$k/jwt-es256.pem"
  fi
  openssl ec -in "$k/jwt-es256.pem" -pubout -out "$k/jwt-es256.pub.pem" 2>/dev/null ||
    die "openssl could not derive the public key" || return 1
}

# ---------------------------------------------------------------- daemons

daemon_bin() { echo "${TM_BIN_DIR:-$(build_dir)/services/$1}/tm-$1"; }

# The TM_* environment of one daemon, one NAME=value per line.
daemon_env() {
  local svc=$1 k="$STACK_STATE/keys"
  echo "TM_NATS_URL=nats://127.0.0.1:$STACK_NATS_PORT"
  echo "TM_ADMIN_PORT=$(admin_port "$svc")"
  echo "TM_LOG_LEVEL=$STACK_LOG_LEVEL"
  echo "TM_JWT_ISSUER=taskmesh"
  echo "TM_JWT_AUDIENCE=taskmesh-api"
  case "$svc" in
    gateway)
      echo "TM_HTTP_HOST=127.0.0.1"
      echo "TM_HTTP_PORT=$STACK_HTTP_PORT"
      echo "TM_JWT_PUBLIC_KEY_FILE=$k/jwt-es256.pub.pem"
      ;;
    task)
      echo "TM_JWT_PRIVATE_KEY_FILE=$k/jwt-es256.pem"
      [ -n "${STACK_BOOTSTRAP_ADMIN_EMAIL:-}" ] && echo "TM_BOOTSTRAP_ADMIN_EMAIL=$STACK_BOOTSTRAP_ADMIN_EMAIL"
      ;;
  esac
  case "$svc" in
    task | realtime | ai)
      # over the unix socket: a trivial prepared query ran 35k/s there vs 24k/s over
      # loopback TCP (pgbench -c 4 on this 2-core VM): the kernel's TCP work is per query
      # (unix socket under the data folder: daemons of this stack run as root, like pg_ctl)
      echo "TM_PG_URL=postgresql://tm_$svc@/$STACK_PG_DB?host=$(readlink -f "$STACK_STATE/pg")/run&port=$STACK_PG_PORT"
      echo "TM_MIGRATIONS_DIR=$TM_ROOT/services/$svc/migrations"
      ;;
  esac
  # Extra NAME=value words per daemon from STACK_ENV_<SVC> (e.g. STACK_ENV_REALTIME).
  local extra="STACK_ENV_${svc^^}"
  if [ -n "${!extra:-}" ]; then printf '%s\n' ${!extra}; fi
  return 0
}

start_daemon() {
  local svc=$1 bin envs=()
  bin=$(daemon_bin "$svc")
  [ -x "$bin" ] || die "$bin is missing: build first" || return 1
  pid_alive "$svc" && { log "$svc already running"; return 0; }
  mapfile -t envs < <(daemon_env "$svc")
  # exec keeps the recorded pid equal to the daemon's own pid
  (exec env "${envs[@]}" "$bin") >>"$STACK_STATE/logs/$svc.log" 2>&1 &
  echo $! >"$(pid_file "$svc")"
  await_exec "$svc"
  log "started tm-$svc (pid $!, admin :$(admin_port "$svc"), log $STACK_STATE/logs/$svc.log)"
}

# Poll url until 200; fail at once if the process behind name died, else after timeout s.
wait_http() {
  local name=$1 url=$2 timeout=$3 logf=$4 deadline
  deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then return 0; fi
    if ! pid_alive "$name"; then
      printf '[stack] ERROR: %s exited before it was ready; last lines of %s:\n' "$name" "$logf" >&2
      tail -n 25 "$logf" 2>/dev/null | sed 's/^/    /' >&2
      return 1
    fi
    sleep 0.2
  done
  printf '[stack] ERROR: %s not ready after %ss (%s); last lines of %s:\n' "$name" "$timeout" "$url" "$logf" >&2
  tail -n 25 "$logf" 2>/dev/null | sed 's/^/    /' >&2
  return 1
}

# After the first failure the others get only a short look, so that every dead daemon's log
# tail is shown without waiting the full timeout for each.
wait_ready() {
  local svc rc=0 timeout
  for svc in "$@"; do
    timeout=$STACK_READY_TIMEOUT
    [ $rc = 0 ] || timeout=2
    if wait_http "$svc" "http://127.0.0.1:$(admin_port "$svc")/readyz" "$timeout" \
      "$STACK_STATE/logs/$svc.log"; then
      log "tm-$svc ready"
    else
      rc=1
    fi
  done
  [ $rc = 0 ] || die "the stack is not ready (logs in $STACK_STATE/logs)"
}

# Everything but the build: state, NATS, Postgres, roles, keys, the four daemons, ready.
start_stack() {
  local svc
  # explicit returns: callers use `start_stack || ...`, where errexit does not apply
  state_init || return 1
  start_nats || return 1
  start_pg || return 1
  create_db_roles || return 1
  gen_keys || return 1
  for svc in "${TM_SERVICES[@]}"; do start_daemon "$svc" || return 1; done
  wait_ready "${TM_SERVICES[@]}"
}
