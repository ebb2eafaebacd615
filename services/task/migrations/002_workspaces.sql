-- Workspaces and their members. event_seq is the gapless per-workspace event sequence that
-- the outbox advances inside each writing transaction.
CREATE TABLE task.workspaces (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    created_by uuid NOT NULL REFERENCES task.users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    event_seq  bigint NOT NULL DEFAULT 0
);

CREATE TABLE task.members (
    workspace_id uuid NOT NULL REFERENCES task.workspaces (id) ON DELETE CASCADE,
    user_id      uuid NOT NULL REFERENCES task.users (id) ON DELETE CASCADE,
    role         text NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    added_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX members_user_idx ON task.members (user_id);
