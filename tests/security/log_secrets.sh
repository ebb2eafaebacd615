#!/usr/bin/env bash
# log_secrets.sh STATE_DIR: fail if any password, token, refresh token or key used by the
# test suites appears in a daemon log of the stack in STATE_DIR.
#   - secrets: STATE_DIR/secrets.txt, one per line (written by tests/security and
#     tests/reliability; lines shorter than 8 characters are ignored), plus the e2e suite's
#     fixed password from tests/e2e/lib/client.mjs
#   - anything shaped like a JWT (eyJ...eyJ...) or a PEM private key, whoever made it
#   - logs: STATE_DIR/logs/{gateway,task,realtime,ai,nats}.log
# Prints file:line and which kind matched, never the secret itself. Exit 0 clean, 1 found,
# 2 usage error.
set -euo pipefail
state=${1:-${TM_TEST_STATE:-}}
[ -n "$state" ] && [ -d "$state/logs" ] || { echo "usage: log_secrets.sh STATE_DIR (with logs/)" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)

patterns=$(mktemp)
trap 'rm -f "$patterns"' EXIT
if [ -f "$state/secrets.txt" ]; then
  awk 'length($0) >= 8' "$state/secrets.txt" | sort -u >>"$patterns"
fi
sed -nE "s/^export const PASSWORD = '([^']{8,})';.*/\1/p" "$root/tests/e2e/lib/client.mjs" >>"$patterns" 2>/dev/null || true

found=0
for f in "$state"/logs/{gateway,task,realtime,ai,nats}.log; do
  [ -f "$f" ] || continue
  if [ -s "$patterns" ]; then
    n=$(grep -c -F -f "$patterns" "$f" || true)
    if [ "$n" -gt 0 ]; then
      echo "$(basename "$f"): $n line(s) contain a secret used by the tests; first at line(s):"
      grep -n -F -f "$patterns" "$f" | cut -d: -f1 | head -n 5 | sed 's/^/  line /'
      found=1
    fi
  fi
  n=$(grep -c -E 'eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}|BEGIN (EC |RSA )?PRIVATE KEY' "$f" || true)
  if [ "$n" -gt 0 ]; then
    echo "$(basename "$f"): $n line(s) contain a JWT or a private key; first at line(s):"
    grep -n -E 'eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}|BEGIN (EC |RSA )?PRIVATE KEY' "$f" | cut -d: -f1 | head -n 5 | sed 's/^/  line /'
    found=1
  fi
done
if [ $found = 0 ]; then
  echo "log_secrets: no secret in $(ls "$state"/logs/{gateway,task,realtime,ai,nats}.log 2>/dev/null | wc -l) daemon log(s) ($(wc -l <"$patterns") secrets checked)"
fi
exit $found
