CREATE TABLE IF NOT EXISTS time_entries (
    id         uuid PRIMARY KEY,
    task_id    uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL,
    minutes    integer NOT NULL CHECK (minutes BETWEEN 1 AND 1440),
    started_at timestamptz,
    note       text CHECK (char_length(note) <= 1000),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS time_entries_task ON time_entries (task_id, created_at, id);
CREATE INDEX IF NOT EXISTS time_entries_user ON time_entries (user_id, created_at);
