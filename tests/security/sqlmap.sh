#!/usr/bin/env bash
# sqlmap.sh STATE_DIR: sqlmap (Debian package) at level 1 against GET /api/v1/tasks with every
# filter, authenticated, bounded: boolean/error/time techniques only (BET), --time-sec 2,
# --timeout 5, one retry, no crawling. Passes when sqlmap finds no injectable parameter.
# Appends RESULT| rows to $TM_REL_RESULTS when set; exit 1 on a finding or a broken run.
set -uo pipefail
state=${1:-${TM_TEST_STATE:-}}
gw=${TM_TEST_GATEWAY_URL:-http://127.0.0.1:18080}
out="$state/logs/sqlmap"
mkdir -p "$out"
row() {
  [ -n "${TM_REL_RESULTS:-}" ] && printf 'RESULT|%s|%s|%s|%s\n' "$1" "$2" "$3" "$4" >>"$TM_REL_RESULTS"
  echo "$1: $3 ($4)"
}
command -v sqlmap >/dev/null 2>&1 || { row "sqlmap: GET /api/v1/tasks filters" "0 injectable" "sqlmap not installed" fail; exit 1; }

email="sqlmap-$RANDOM$RANDOM@test.local" pw="sqlmap-Pass-$RANDOM$RANDOM"
curl -fsS -o /dev/null -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"$pw\",\"display_name\":\"sqlmap\"}" "$gw/api/v1/auth/register" || true
tok=$(curl -fsS -H 'content-type: application/json' -d "{\"email\":\"$email\",\"password\":\"$pw\"}" \
  "$gw/api/v1/auth/login" | sed -nE 's/.*"access_token":"([^"]+)".*/\1/p')
ws=$(curl -fsS -H "authorization: Bearer $tok" -H 'content-type: application/json' -d '{"name":"sqlmap"}' \
  "$gw/api/v1/workspaces" | sed -nE 's/.*"id":"([^"]+)".*/\1/p')
uid=$(curl -fsS -H "authorization: Bearer $tok" "$gw/api/v1/me" | sed -nE 's/.*"id":"([0-9a-f-]{36})".*/\1/p')
# a row that the filters below match, so boolean-blind payloads change the page
curl -fsS -o /dev/null -H "authorization: Bearer $tok" -H 'content-type: application/json' \
  -d "{\"workspace_id\":\"$ws\",\"title\":\"report\",\"priority\":2,\"labels\":[\"a\"],\"due_at\":\"2026-06-01T00:00:00Z\",\"assignee_id\":\"$uid\"}" \
  "$gw/api/v1/tasks" || true
[ -n "$state" ] && printf '%s\n%s\n' "$pw" "$tok" >>"$state/secrets.txt"
if [ -z "$tok" ] || [ -z "$ws" ]; then row "sqlmap: GET /api/v1/tasks filters" "0 injectable" "no token/workspace" fail; exit 1; fi

url="$gw/api/v1/tasks?workspace_id=$ws&status=todo&priority=2&assignee=$uid&label=a&due_before=2030-01-01T00:00:00Z&due_after=2020-01-01T00:00:00Z&q=report&sort=created_at&limit=20"
start=$SECONDS
timeout 170 sqlmap -u "$url" -H "Authorization: Bearer $tok" --batch --level=1 --risk=1 --technique=BET \
  --time-sec=2 --timeout=5 --retries=1 --threads=2 --dbms=PostgreSQL --skip-waf --disable-coloring \
  --output-dir="$out" >"$out/sqlmap.log" 2>&1
rc=$?
took=$((SECONDS - start))
if grep -qiE 'is vulnerable|sqlmap identified the following injection|Parameter: .* \(GET\)' "$out/sqlmap.log"; then
  row "sqlmap: GET /api/v1/tasks filters (logs/sqlmap)" "0 injectable" "$(grep -ciE 'Parameter: .* \(GET\)' "$out/sqlmap.log") injectable" fail
  exit 1
fi
if [ $rc = 124 ]; then row "sqlmap: GET /api/v1/tasks filters" "< 170 s" "timed out" fail; exit 1; fi
tested=$(grep -cE "testing for SQL injection on GET parameter" "$out/sqlmap.log" || true)
if grep -qiE 'all tested parameters do not appear to be injectable|do not appear to be injectable' "$out/sqlmap.log"; then
  row "sqlmap: GET /api/v1/tasks, 10 filters, BET, level 1 ($took s)" "0 injectable" "0 of $tested params" pass
else
  row "sqlmap: GET /api/v1/tasks (logs/sqlmap/sqlmap.log)" "0 injectable" "no verdict (rc $rc)" fail
  exit 1
fi
