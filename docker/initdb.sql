-- Run once by the postgres image on an empty volume (docker-compose.yml). One login role
-- per service, owning its schema and nothing else; the daemons' migrations create tables.
-- Passwords come from the compose environment (psql variables set by initdb.sh).
\set ON_ERROR_STOP on
REVOKE ALL ON DATABASE taskmesh FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

CREATE ROLE tm_task LOGIN PASSWORD :'tm_task_password';
CREATE ROLE tm_realtime LOGIN PASSWORD :'tm_realtime_password';
CREATE ROLE tm_ai LOGIN PASSWORD :'tm_ai_password';

CREATE SCHEMA task AUTHORIZATION tm_task;
CREATE SCHEMA realtime AUTHORIZATION tm_realtime;
CREATE SCHEMA ai AUTHORIZATION tm_ai;

ALTER ROLE tm_task SET search_path = task;
ALTER ROLE tm_realtime SET search_path = realtime;
ALTER ROLE tm_ai SET search_path = ai;

GRANT CONNECT ON DATABASE taskmesh TO tm_task, tm_realtime, tm_ai;
