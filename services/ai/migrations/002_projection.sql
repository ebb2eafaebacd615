-- tm-ai projection of TM_EVENTS (consumer "ai"), suggestions with provenance, LLM call log.
-- Built only from events: nothing here is read from another service's schema.

-- Events already applied (idempotency by event id; rows older than 30 days may be pruned,
-- since JetStream's duplicate window and the version checks cover replays after that).
CREATE TABLE processed_events (
    event_id uuid PRIMARY KEY,
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- Latest known state of every task (a row per task; version guards out-of-order events).
CREATE TABLE tasks (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    title text NOT NULL,
    description text,
    status text NOT NULL,
    priority int,
    labels text[] NOT NULL DEFAULT '{}',
    assignee_id uuid,
    created_by uuid,
    due_at timestamptz,
    estimate_minutes int,
    time_spent_minutes int NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    completed_at timestamptz,
    version bigint NOT NULL DEFAULT 0,
    deleted boolean NOT NULL DEFAULT false
);
CREATE INDEX tasks_created_by ON tasks (created_by, updated_at DESC);
CREATE INDEX tasks_assignee ON tasks (assignee_id, updated_at DESC);

-- Workspace membership as seen in member.* events.
CREATE TABLE members (
    workspace_id uuid NOT NULL,
    user_id uuid NOT NULL,
    role text NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);

-- Per-user generation, bumped by every event touching the user: cached answers carry the
-- generation they were computed at, so every replica notices a change.
CREATE TABLE user_state (
    user_id uuid PRIMARY KEY,
    gen bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE suggestions (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    workspace_id uuid,
    kind text NOT NULL,
    title text NOT NULL,
    item jsonb NOT NULL,
    status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'accepted', 'rejected')),
    source text NOT NULL CHECK (source IN ('rules', 'llm')),
    model text,
    prompt_hash text,
    latency_ms int NOT NULL DEFAULT 0,
    tokens int NOT NULL DEFAULT 0,
    created_tasks jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    decided_at timestamptz
);
CREATE INDEX suggestions_user ON suggestions (user_id, created_at DESC);

CREATE TABLE llm_calls (
    id bigserial PRIMARY KEY,
    user_id uuid NOT NULL,
    model text,
    prompt_hash text NOT NULL,
    result text NOT NULL,
    http_status int NOT NULL DEFAULT 0,
    latency_ms int NOT NULL DEFAULT 0,
    tokens int NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
