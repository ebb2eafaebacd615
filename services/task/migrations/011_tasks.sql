-- Tasks. Limits are enforced twice: by the JSON field tables (named problems) and here.
-- The list endpoint sorts by (key, id) with keyset pagination; each sort has an index led
-- by workspace_id. due_at sorts put tasks without a due date last in both directions.
CREATE TABLE IF NOT EXISTS tasks (
    id                 uuid PRIMARY KEY,
    workspace_id       uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    title              text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 500),
    description        text CHECK (char_length(description) <= 20000),
    status             text NOT NULL DEFAULT 'todo'
                       CHECK (status IN ('todo', 'in_progress', 'done', 'archived')),
    priority           smallint NOT NULL DEFAULT 4 CHECK (priority BETWEEN 1 AND 4),
    labels             text[] NOT NULL DEFAULT '{}' CHECK (cardinality(labels) <= 20),
    assignee_id        uuid,
    due_at             timestamptz,
    estimate_minutes   integer CHECK (estimate_minutes BETWEEN 0 AND 100000),
    created_by         uuid NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    completed_at       timestamptz,
    time_spent_minutes bigint NOT NULL DEFAULT 0,
    version            bigint NOT NULL DEFAULT 1,
    search             tsvector GENERATED ALWAYS AS (
                           to_tsvector('english'::regconfig,
                                       title || ' ' || coalesce(description, ''))) STORED
);

CREATE INDEX IF NOT EXISTS tasks_ws_created ON tasks (workspace_id, created_at, id);
CREATE INDEX IF NOT EXISTS tasks_ws_updated ON tasks (workspace_id, updated_at, id);
CREATE INDEX IF NOT EXISTS tasks_ws_priority ON tasks (workspace_id, priority, id);
CREATE INDEX IF NOT EXISTS tasks_ws_due_asc
    ON tasks (workspace_id, (coalesce(due_at, 'infinity'::timestamptz)), id);
CREATE INDEX IF NOT EXISTS tasks_ws_due_desc
    ON tasks (workspace_id, (coalesce(due_at, '-infinity'::timestamptz)), id);
CREATE INDEX IF NOT EXISTS tasks_assignee ON tasks (assignee_id, workspace_id)
    WHERE assignee_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_search ON tasks USING gin (search);
CREATE INDEX IF NOT EXISTS tasks_labels ON tasks USING gin (labels);

-- RFC 3339 UTC text with microseconds: exact, so it doubles as a cursor key.
CREATE OR REPLACE FUNCTION task_ts_key(ts timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN ts IS NULL THEN NULL
                WHEN isfinite(ts) THEN to_char(ts AT TIME ZONE 'UTC',
                                               'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                WHEN ts > now() THEN 'infinity' ELSE '-infinity' END
$$;

-- Millisecond RFC 3339 text for API output.
CREATE OR REPLACE FUNCTION task_ts_json(ts timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- The one JSON shape of a task (replies, outbox payloads, change feed).
CREATE OR REPLACE FUNCTION task_to_json(t tasks) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', t.id, 'workspace_id', t.workspace_id, 'title', t.title,
        'description', t.description, 'status', t.status, 'priority', t.priority,
        'labels', to_jsonb(t.labels), 'assignee_id', t.assignee_id,
        'due_at', task_ts_json(t.due_at), 'estimate_minutes', t.estimate_minutes,
        'created_by', t.created_by, 'created_at', task_ts_json(t.created_at),
        'updated_at', task_ts_json(t.updated_at),
        'completed_at', task_ts_json(t.completed_at),
        'time_spent_minutes', t.time_spent_minutes, 'version', t.version)
$$;
