-- tm-realtime feature tables: room history, membership projection, presence, notifications,
-- announcements. Unqualified names: tm_pg_migrate runs with search_path = this schema.

-- Room history: one row per TM_EVENTS event, idempotent by event_id and by (workspace, seq).
CREATE TABLE room_events (
    workspace_id uuid NOT NULL,
    seq bigint NOT NULL CHECK (seq >= 1),
    event_id uuid NOT NULL UNIQUE,
    type text NOT NULL,
    task_id uuid,
    actor_id uuid,
    data jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, seq)
);
CREATE INDEX room_events_task ON room_events (task_id, seq) WHERE task_id IS NOT NULL;
CREATE INDEX room_events_stored ON room_events (stored_at);

-- Membership projection, fed by workspace.created / member.* events.
CREATE TABLE members (
    workspace_id uuid NOT NULL,
    user_id uuid NOT NULL,
    role text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX members_user ON members (user_id);

-- Live WebSocket connections, shared by every replica (presence).
CREATE TABLE connections (
    conn_id text PRIMARY KEY,
    gateway_id text NOT NULL,
    user_id uuid NOT NULL,
    device text NOT NULL,
    connected_at timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX connections_user ON connections (user_id);
CREATE INDEX connections_gateway ON connections (gateway_id);
CREATE INDEX connections_last_seen ON connections (last_seen);

-- Notifications: one per (event, user, type) so a redelivered event never duplicates.
CREATE TABLE notifications (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    pos bigserial NOT NULL UNIQUE,
    user_id uuid NOT NULL,
    type text NOT NULL,
    title text NOT NULL,
    body text NOT NULL,
    data jsonb NOT NULL,
    event_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at timestamptz,
    UNIQUE (event_id, user_id, type)
);
CREATE INDEX notifications_user ON notifications (user_id, pos DESC);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;

CREATE TABLE announcements (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    message text NOT NULL,
    level text NOT NULL CHECK (level IN ('info', 'warning', 'critical')),
    starts_at timestamptz NOT NULL DEFAULT now(),
    ends_at timestamptz,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    delivered boolean NOT NULL DEFAULT false
);
CREATE INDEX announcements_pending ON announcements (starts_at) WHERE NOT delivered;
