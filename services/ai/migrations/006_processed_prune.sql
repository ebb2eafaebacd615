-- processed_events grows by one row per event applied. The consumer deletes rows older than
-- TM_AI_PROCESSED_RETENTION (30 days; 002: replays after that are covered by JetStream's
-- duplicate window and the projection's version checks), a bounded batch at a time: a BRIN
-- index finds them (processed_at only grows, and a BRIN entry per 128 pages costs almost
-- nothing per insert, unlike a btree).
CREATE INDEX IF NOT EXISTS processed_events_at ON processed_events USING brin (processed_at);
