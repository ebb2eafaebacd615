-- apply_events(batch): a fetched batch of TM_EVENTS applied to the projection with one call
-- (services/ai/consumer.c, through ai_projection_apply_batch), with the effect of applying
-- its events one after the other as the per-event statements of services/ai/projection.c
-- do (proj_seen, proj_owners, proj_upsert, proj_delete, proj_member_*, proj_bump):
--  - an event id already in processed_events (or earlier in the batch) changes nothing;
--  - a task takes the last of its upserts that the version guard lets through (an older
--    version never overwrites a newer one; nothing changes a deleted task), created_at
--    from the upsert that inserted it and created_by from the last one that names it;
--  - a member's last event wins;
--  - every user who owned (created, was assigned) a changed task before or after the
--    change has its generation bumped once per distinct changed task, each new generation
--    logged in the user's change ring (004: slot = gen % 256, AI_CHANGE_RING) with its task.
-- The per-event statements cost a round trip, a savepoint and four to six executor runs per
-- event; this is one call per batch.
--
-- batch: a jsonb array in stream order, one object per event whose data is valid (the
-- consumer drops the others): o (ordinal), e (event id), k (kind: 'u' task upsert, 'd' task
-- delete, 'm' member upsert, 'r' member removal, 'n' nothing to project), then per kind:
--   u: id ws title descr status prio labels (array) assignee creator due est spent created
--      updated completed version (normalised by the consumer as for proj_upsert)
--   d: id          m: ws member role          r: ws member
-- A batch holds fewer than 256 events (consumer.c: FETCH_BATCH), so that a user's ring takes
-- all of the batch's changes of that user (more, and the statement fails: nothing applied).
-- Returns the users whose projection changed, whose cached answers are to be dropped.
CREATE FUNCTION apply_events(batch jsonb) RETURNS SETOF uuid
LANGUAGE plpgsql AS $fn$
BEGIN
    -- Lock the existing rows of the batch's tasks first, in id order (replicas applying
    -- batches with tasks in common wait for each other rather than deadlock). The next
    -- statement's snapshot is taken after the locks: it reads their latest versions, which
    -- nobody else can change until COMMIT (proj_owners' FOR UPDATE, for the whole batch).
    PERFORM 1 FROM tasks
    WHERE id IN (SELECT (x ->> 'id')::uuid FROM jsonb_array_elements(batch) x
                 WHERE x ->> 'k' IN ('u', 'd'))
    ORDER BY id FOR UPDATE;

    RETURN QUERY
    WITH b AS (
        SELECT * FROM jsonb_to_recordset(batch) AS r(
            o int, e uuid, k text, id uuid, ws uuid, title text, descr text, status text,
            prio int, labels jsonb, assignee uuid, creator uuid, due timestamptz, est int,
            spent int, created timestamptz, updated timestamptz, completed timestamptz,
            version bigint, member uuid, role text)
    ),
    fresh AS (
        INSERT INTO processed_events (event_id)
        SELECT DISTINCT e FROM b ORDER BY e
        ON CONFLICT DO NOTHING RETURNING event_id
    ),
    -- the events to apply: the first of the batch with each id not applied before
    ev AS MATERIALIZED (
        SELECT DISTINCT ON (b.e) b.* FROM b JOIN fresh ON fresh.event_id = b.e
        ORDER BY b.e, b.o
    ),
    -- each task event with the row as it was before the batch, and what the batch's
    -- earlier upserts of the task did before it (applied or not, their highest version is
    -- the guard's: one that lost to the guard was below a version already there)
    tev AS MATERIALIZED (
        SELECT ev.*, t.id IS NOT NULL AS existed, t.version AS cur_version,
               COALESCE(t.deleted, false) AS was_deleted, t.created_by AS cur_creator,
               t.assignee_id AS cur_assignee,
               max(ev.version) FILTER (WHERE ev.k = 'u') OVER earlier AS prior_max,
               count(*) FILTER (WHERE ev.k = 'u') OVER earlier AS prior_upserts
        FROM ev LEFT JOIN tasks t ON t.id = ev.id
        WHERE ev.k IN ('u', 'd')
        WINDOW earlier AS (PARTITION BY ev.id ORDER BY ev.o
                           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
    ),
    -- the delete that took effect: the first once the row exists, unless deleted before
    tdel AS (
        SELECT id, min(o) AS del_o FROM tev
        WHERE k = 'd' AND NOT was_deleted AND (existed OR prior_upserts > 0)
        GROUP BY id
    ),
    -- the upserts that took effect: before that delete, not older than what was there
    tap AS MATERIALIZED (
        SELECT tev.* FROM tev LEFT JOIN tdel USING (id)
        WHERE tev.k = 'u' AND NOT tev.was_deleted AND (tdel.del_o IS NULL OR tev.o < tdel.del_o)
          AND tev.version >= COALESCE(GREATEST(tev.cur_version, tev.prior_max), tev.version)
    ),
    tlast AS (
        SELECT id, max(o) AS last_o, (array_agg(created ORDER BY o))[1] AS first_created,
               (array_agg(creator ORDER BY o DESC) FILTER (WHERE creator IS NOT NULL))[1]
                   AS creator
        FROM tap GROUP BY id
    ),
    up AS (
        INSERT INTO tasks AS t (id, workspace_id, title, description, status, priority, labels,
                               assignee_id, created_by, due_at, estimate_minutes,
                               time_spent_minutes, created_at, updated_at, completed_at,
                               version, deleted)
        SELECT l.id, l.ws, l.title, l.descr, l.status, l.prio,
               ARRAY(SELECT jsonb_array_elements_text(l.labels)), l.assignee, a.creator, l.due,
               l.est, COALESCE(l.spent, 0), a.first_created, l.updated, l.completed, l.version,
               d.del_o IS NOT NULL
        FROM tlast a JOIN tap l ON l.id = a.id AND l.o = a.last_o
        LEFT JOIN tdel d ON d.id = a.id
        ORDER BY l.id
        ON CONFLICT (id) DO UPDATE SET workspace_id = EXCLUDED.workspace_id,
            title = EXCLUDED.title, description = EXCLUDED.description,
            status = EXCLUDED.status, priority = EXCLUDED.priority, labels = EXCLUDED.labels,
            assignee_id = EXCLUDED.assignee_id,
            created_by = COALESCE(EXCLUDED.created_by, t.created_by), due_at = EXCLUDED.due_at,
            estimate_minutes = EXCLUDED.estimate_minutes,
            time_spent_minutes = EXCLUDED.time_spent_minutes, updated_at = EXCLUDED.updated_at,
            completed_at = EXCLUDED.completed_at, version = EXCLUDED.version,
            deleted = EXCLUDED.deleted
        WHERE t.version <= EXCLUDED.version AND NOT t.deleted
    ),
    dl AS (
        UPDATE tasks t SET deleted = true FROM tdel d
        WHERE t.id = d.id AND NOT t.deleted AND d.id NOT IN (SELECT id FROM tap)
    ),
    -- (user, task) for every changed task: its owners before the batch and the owners each
    -- applied upsert names (the owners in between are among those)
    touched AS (
        SELECT DISTINCT x.u, x.id FROM (
            SELECT tev.id, v.u FROM tev
            CROSS JOIN LATERAL (VALUES (tev.cur_creator), (tev.cur_assignee)) v(u)
            WHERE tev.id IN (SELECT id FROM tap UNION ALL SELECT id FROM tdel)
            UNION ALL
            SELECT tap.id, v.u FROM tap
            CROSS JOIN LATERAL (VALUES (tap.creator), (tap.assignee)) v(u)
        ) x WHERE x.u IS NOT NULL
    ),
    counts AS (SELECT u, count(*) AS n FROM touched GROUP BY u),
    bump AS (
        INSERT INTO user_state AS s (user_id, gen) SELECT u, n FROM counts ORDER BY u
        ON CONFLICT (user_id) DO UPDATE SET gen = s.gen + EXCLUDED.gen, updated_at = now()
        RETURNING s.user_id, s.gen
    ),
    ring AS (
        INSERT INTO user_changes AS c (user_id, slot, gen, task_id)
        SELECT g.u, (g.gen % 256)::int, g.gen, g.id FROM (
            SELECT t.u, t.id, bump.gen + 1 - row_number() OVER (PARTITION BY t.u ORDER BY t.id)
                AS gen
            FROM touched t JOIN bump ON bump.user_id = t.u) g
        ON CONFLICT (user_id, slot) DO UPDATE SET gen = EXCLUDED.gen, task_id = EXCLUDED.task_id
    ),
    mlast AS (
        SELECT DISTINCT ON (ws, member) ws, member, k, role FROM ev WHERE k IN ('m', 'r')
        ORDER BY ws, member, o DESC
    ),
    mput AS (
        INSERT INTO members (workspace_id, user_id, role)
        SELECT ws, member, role FROM mlast WHERE k = 'm' ORDER BY ws, member
        ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = EXCLUDED.role
    ),
    mdel AS (
        DELETE FROM members m USING mlast l
        WHERE l.k = 'r' AND m.workspace_id = l.ws AND m.user_id = l.member
    )
    SELECT counts.u FROM counts;
END
$fn$;
