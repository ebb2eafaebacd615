#!/usr/bin/env bash
# WebSocket fan-out benchmark: tm-gateway beside a Node `ws` server and a Socket.IO 4 server
# doing the same broadcast to the same number of clients, in one run.
#   TM_BENCH_GATEWAY_URL=http://127.0.0.1:8021 TM_BENCH_GATEWAY_PID=<pid> bench/ws/run.sh [conns] [messages]
# The gateway must run with TM_WS_MAX_PER_USER and TM_MAX_CONNECTIONS above conns (one
# user holds every socket; set TM_RATE_IP_RPS=0 too) and tm-task + tm-realtime behind it.
# The reference servers listen, one after the other, on TM_BENCH_REF_PORT (default 9224).
# Results: one JSON line per server on stdout.
set -euo pipefail
cd "$(dirname "$0")"
CONNS=${1:-10000}
MESSAGES=${2:-30}
URL=${TM_BENCH_GATEWAY_URL:?set TM_BENCH_GATEWAY_URL}
GW_PID=${TM_BENCH_GATEWAY_PID:?set TM_BENCH_GATEWAY_PID}
REF_PORT=${TM_BENCH_REF_PORT:-9224}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ -d node_modules ] || npm install --no-audit --no-fund >/dev/null

email="bench-$(date +%s%N)@test.local"
curl -fsS -o /dev/null -X POST "$URL/api/v1/auth/register" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"correct-horse-battery-9\",\"display_name\":\"bench\"}"
token=$(curl -fsS -X POST "$URL/api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"correct-horse-battery-9\",\"device\":\"bench\"}" |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).access_token))')
ws_id=$(curl -fsS -X POST "$URL/api/v1/workspaces" -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"name":"bench"}' | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).id))')

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

node fanout.mjs --target taskmesh --url "$URL" --pid "$GW_PID" --conns "$CONNS" --messages "$MESSAGES" \
  --token "$token" --room "workspace:$ws_id"
for kind in ws socketio; do
  node servers.mjs "$kind" "$REF_PORT" &
  pid=$!
  pids+=("$pid")
  sleep 1
  node fanout.mjs --target "$kind" --url "http://127.0.0.1:$REF_PORT" --pid "$pid" --conns "$CONNS" --messages "$MESSAGES"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
done
