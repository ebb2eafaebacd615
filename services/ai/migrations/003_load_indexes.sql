-- Per-user reads (proj_load) ask for the user's live tasks, most recently updated first:
-- one index-ordered branch for the tasks the user created, one for those assigned to them.
-- Partial on NOT deleted so deleted rows are never visited; these replace the indexes of
-- 002, which the OR of both columns could not use without a scan and a sort.
DROP INDEX tasks_created_by;
DROP INDEX tasks_assignee;
CREATE INDEX tasks_created_live ON tasks (created_by, updated_at DESC) WHERE NOT deleted;
CREATE INDEX tasks_assignee_live ON tasks (assignee_id, updated_at DESC) WHERE NOT deleted;
