-- Identity: users, sessions and their refresh tokens (tm-task owns schema task).
CREATE TABLE task.users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- stored normalised (trimmed, lowercase) by tm-task; the index guards anyway
    email         text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    password_hash text NOT NULL,
    display_name  text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 100),
    role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'moderator', 'admin')),
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON task.users (lower(email));
CREATE INDEX users_role_idx ON task.users (role) WHERE role <> 'user';

-- One row per login. A session is one refresh-token family: each refresh rotates the
-- token (generation + 1); presenting a used token revokes the whole session.
CREATE TABLE task.sessions (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES task.users (id) ON DELETE CASCADE,
    device        text NOT NULL DEFAULT '' CHECK (char_length(device) <= 100),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    revoke_reason text CHECK (revoke_reason IN ('logout', 'revoked', 'refresh_reuse',
                                                'disabled', 'role_changed'))
);
CREATE INDEX sessions_user_idx ON task.sessions (user_id, created_at DESC);

-- Refresh tokens are stored only as sha256 of the token.
CREATE TABLE task.refresh_tokens (
    hash       bytea PRIMARY KEY CHECK (octet_length(hash) = 32),
    session_id uuid NOT NULL REFERENCES task.sessions (id) ON DELETE CASCADE,
    generation integer NOT NULL CHECK (generation >= 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz,
    UNIQUE (session_id, generation)
);
