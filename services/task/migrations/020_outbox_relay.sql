-- Relay support: a global insertion order (assigned after the per-workspace seq lock, so it
-- respects seq order within a workspace), an index over unpublished rows, and a NOTIFY on insert.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS relay_id bigserial;
CREATE INDEX IF NOT EXISTS outbox_unpublished_relay ON outbox (relay_id) WHERE published_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;

CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tm_outbox', '');
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS outbox_notify ON outbox;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
