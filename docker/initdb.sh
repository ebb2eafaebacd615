#!/bin/bash
# docker-entrypoint-initdb.d hook: runs initdb.sql with the per-service passwords.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v tm_task_password="$TM_TASK_DB_PASSWORD" \
  -v tm_realtime_password="$TM_REALTIME_DB_PASSWORD" \
  -v tm_ai_password="$TM_AI_DB_PASSWORD" \
  -f /docker-entrypoint-initdb.d/initdb.sql.in
