CREATE TABLE IF NOT EXISTS attachments (
    id           uuid PRIMARY KEY,
    task_id      uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    filename     text NOT NULL CHECK (char_length(filename) BETWEEN 1 AND 255),
    content_type text NOT NULL CHECK (char_length(content_type) BETWEEN 1 AND 127),
    size         bigint NOT NULL CHECK (size BETWEEN 0 AND 5242880),
    sha256       text NOT NULL CHECK (char_length(sha256) = 64),
    data         bytea NOT NULL,
    created_by   uuid NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS attachments_task ON attachments (task_id, created_at, id);
