-- The transactional outbox: one row per committed change, written in the same transaction
-- (services/task/outbox.c). seq is the gapless per-workspace event sequence taken from
-- workspaces.event_seq; the relay publishes unpublished rows and sets published_at.
CREATE TABLE IF NOT EXISTS outbox (
    event_id     uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    seq          bigint NOT NULL,
    type         text NOT NULL CHECK (char_length(type) BETWEEN 1 AND 64),
    payload      jsonb NOT NULL,
    actor_id     uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    CONSTRAINT outbox_workspace_seq UNIQUE (workspace_id, seq)
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (created_at, event_id)
    WHERE published_at IS NULL;
