-- The list's sort indexes (011) also carry the filters status and priority as trailing key
-- columns. Postgres checks every key column of a btree on the index tuple itself, so a page
-- filtered by status and/or priority now visits the heap only for the rows it returns: the
-- seeded bench page (status=todo&priority=2, 1 task in 12) fetched ~610 table rows for its
-- 50 before, 51 now (plus ~610 index tuples, read in ~12 leaf pages). The ordering is still
-- (workspace_id, sort key, id), so every sort and keyset cursor keeps its index-ordered scan.
-- No index is added: an insert maintains the same number of indexes, each ~8 bytes wider,
-- and updates were already not HOT (updated_at is in an index).
CREATE INDEX IF NOT EXISTS tasks_ws_created_sp
    ON tasks (workspace_id, created_at, id, status, priority);
CREATE INDEX IF NOT EXISTS tasks_ws_updated_sp
    ON tasks (workspace_id, updated_at, id, status, priority);
CREATE INDEX IF NOT EXISTS tasks_ws_due_asc_sp
    ON tasks (workspace_id, (coalesce(due_at, 'infinity'::timestamptz)), id, status, priority);
CREATE INDEX IF NOT EXISTS tasks_ws_due_desc_sp
    ON tasks (workspace_id, (coalesce(due_at, '-infinity'::timestamptz)), id, status, priority);
CREATE INDEX IF NOT EXISTS tasks_ws_priority_s ON tasks (workspace_id, priority, id, status);

DROP INDEX IF EXISTS tasks_ws_created, tasks_ws_updated, tasks_ws_due_asc, tasks_ws_due_desc,
    tasks_ws_priority;
