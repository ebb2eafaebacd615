-- The create statement's per-statement costs (issue #4). Measured with pgbench running
-- task_insert_emit (-M prepared, 8 clients, 16 workspaces, 100k seeded tasks), Postgres CPU
-- per create, A/B pairs alternated on the shared 2-core machine:
--
-- 1. The CHECK constraints of tasks and outbox go: Postgres turns each stored CHECK tree back
--    into nodes (stringToNode) and compiles it at every statement: 838 -> 760 us per create
--    without these seven (4 of 4 pairs lower, by 22-114 us). Every limit is enforced before
--    any write by the JSON field tables of services/task/task_json.c (title 1-500 and
--    description <= 20000 code points, like char_length; status one of four; priority 1-4;
--    at most 20 labels; estimate 0-100000), on create, PATCH and PUT alike
--    (tests/e2e/tasks.test.mjs, tests/e2e/tasks_db_guards.test.mjs); the other writers set
--    constants (complete: status 'done'); outbox types are constants of the C code. NOT NULL,
--    the keys and the uniques stay.
ALTER TABLE tasks
    DROP CONSTRAINT IF EXISTS tasks_title_check,
    DROP CONSTRAINT IF EXISTS tasks_description_check,
    DROP CONSTRAINT IF EXISTS tasks_status_check,
    DROP CONSTRAINT IF EXISTS tasks_priority_check,
    DROP CONSTRAINT IF EXISTS tasks_labels_check,
    DROP CONSTRAINT IF EXISTS tasks_estimate_minutes_check;
ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_type_check;

-- 2. The foreign key tasks.workspace_id -> workspaces goes (794 -> 681 us per create, 4 of 4
--    pairs lower: an RI query through SPI at the end of every insert, which also locks the
--    workspace row that the same statement has just updated). The create statement already
--    takes that row: it bumps workspaces.event_seq, and the outbox row's seq is NOT NULL, so
--    a create whose workspace is gone (or is deleted while the create waits for the row)
--    fails as a whole and writes nothing (tm-task answers 404). ON DELETE CASCADE becomes
--    this trigger: a workspace delete waits for creates that hold its row, and the trigger's
--    DELETE (a new snapshot: the function is volatile) then sees their tasks.
ALTER TABLE tasks DROP CONSTRAINT IF EXISTS tasks_workspace_id_fkey;
CREATE OR REPLACE FUNCTION workspace_delete_tasks() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM tasks WHERE workspace_id = OLD.id;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS workspace_delete_tasks ON workspaces;
CREATE TRIGGER workspace_delete_tasks AFTER DELETE ON workspaces
    FOR EACH ROW EXECUTE FUNCTION workspace_delete_tasks();

-- 3. The relay's mark (UPDATE outbox SET published_at) writes a new row version and its index
--    entries (not HOT: published_at is in the partial indexes' predicates). outbox_published_at
--    served only the hourly retention DELETE; a BRIN range index on created_at serves it now
--    (published_at >= created_at, so published_at < cutoff implies created_at < cutoff), at
--    next to nothing per insert, and the mark writes one index entry less.
CREATE INDEX IF NOT EXISTS outbox_created_brin ON outbox USING brin (created_at);
DROP INDEX IF EXISTS outbox_published_at;
