-- The create path's outbox costs. tm-task's task writes no longer NOTIFY on every insert:
-- a NOTIFY takes a database-wide lock from pre-commit until after the WAL flush, so every
-- notifying COMMIT waited for the previous one and none shared a WAL flush. The task write
-- paths wake the relay in-process after COMMIT (relay_kick, forwarded over NATS by a standby
-- replica); outbox_append, used by the workspace and member paths, NOTIFYs in its own
-- statement (services/task/outbox.h). The periodic sweep stays behind both.
DROP TRIGGER IF EXISTS outbox_notify ON outbox;
DROP FUNCTION IF EXISTS outbox_notify();
-- Superseded by outbox_unpublished_relay (020), which the relay reads; this one was written on
-- every insert and read by nothing.
DROP INDEX IF EXISTS outbox_unpublished;
-- The full-text and label GIN indexes without a pending list. With fastupdate every task
-- insert appended to the one pending list of each, under an exclusive lock on its metapage (a
-- point that serialised task inserts across all workspaces), and now and then one insert
-- paid for merging 4 MB of it. Inserting a task's few keys directly measured ~50 us less
-- per insert (3,000 inserts in one transaction: 555-590 ms -> 405-430 ms), and searches no
-- longer scan a pending list.
ALTER INDEX tasks_search SET (fastupdate = off);
ALTER INDEX tasks_labels SET (fastupdate = off);
SELECT gin_clean_pending_list('tasks_search'::regclass), gin_clean_pending_list('tasks_labels'::regclass);
