-- tm-realtime schema, version 1. Runs with search_path = realtime (tm_pg_migrate), inside
-- one transaction. The harness's own tables (schema_migrations, idempotency_keys) exist
-- already. Feature tables (presence, room history, notifications, announcements) come in
-- later numbered files.
CREATE TABLE service_meta (
    key text PRIMARY KEY,
    value text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO service_meta (key, value) VALUES ('schema_created_by', 'tm-realtime');
