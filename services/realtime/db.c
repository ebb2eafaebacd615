/* rt_db: SQL of tm-realtime. Names are unqualified (search_path is the service schema). */
#include "db.h"

#define TS(c)     "to_char(" c " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define MS_AGO(p) "now() - " p "::bigint * interval '1 millisecond'"
#define NTF_COLS  "id, type, title, body, data::text, " TS("created_at") ", " TS("read_at") ", pos"
#define ANN_COLS  "id, message, level, " TS("starts_at") ", " TS("ends_at") ", " TS("created_at")
#define AGE_OLD   "r.created_at < " MS_AGO("$1") /* past TM_RT_HISTORY_AGE */
#define EV_COLS   "seq, event_id, type, data::text, " TS("created_at")

const tm_pg_stmt_t rt_db_stmts[] = {
    /* history */
    /* A batch's history rows in one statement: $1 is a JSON array of {w: workspace_id,
     * s: seq, e: event_id, t: type, k: task_id, a: actor_id, d: data, c: created_at}. A
     * JSON null d comes out as SQL NULL: stored as the jsonb null it was. */
    {"ev_insert_many",
     "INSERT INTO room_events (workspace_id, seq, event_id, type, task_id, actor_id, data, "
     "created_at) SELECT x.w, x.s, x.e, x.t, x.k, x.a, coalesce(x.d, 'null'), x.c FROM "
     "jsonb_to_recordset($1::jsonb) "
     "AS x(w uuid, s bigint, e uuid, t text, k uuid, a uuid, d jsonb, c timestamptz) "
     "ON CONFLICT DO NOTHING",
     1},
    {"ev_prev_assignee",
     "SELECT data->>'assignee_id' FROM room_events WHERE task_id = $1 AND seq < $2 "
     "ORDER BY seq DESC LIMIT 1",
     2},
    {"room_ws_page",
     "SELECT " EV_COLS " FROM room_events WHERE workspace_id = $1 AND seq > $2 "
     "AND seq <= $4 ORDER BY seq LIMIT $3",
     4},
    {"room_task_page",
     "SELECT " EV_COLS " FROM room_events WHERE task_id = $1 AND seq > $2 "
     "AND seq <= $4 ORDER BY seq LIMIT $3",
     4},
    /* The last seq up to which a workspace's history after $2 has no hole: events are stored
     * by several consumers at once, so seq 9 may commit before seq 8 does. */
    {"room_ws_contig",
     "SELECT coalesce((SELECT min(r.seq) - 1 FROM room_events r WHERE r.workspace_id = $1 AND "
     "r.seq > $2::bigint + 1 AND NOT EXISTS (SELECT 1 FROM room_events x WHERE "
     "x.workspace_id = $1 AND x.seq = r.seq - 1)), "
     "(SELECT coalesce(max(seq), 0) FROM room_events WHERE workspace_id = $1))",
     2},
    {"room_ws_bounds",
     "SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) FROM room_events "
     "WHERE workspace_id = $1",
     1},
    {"room_task_ws",
     "SELECT workspace_id::text, max(seq) FROM room_events WHERE task_id = $1 "
     "GROUP BY workspace_id LIMIT 1",
     1},
    {"room_task_head", "SELECT coalesce(max(seq), 0) FROM room_events WHERE task_id = $1", 1},
    {"heads",
     "(SELECT 'workspace:' || workspace_id, max(seq) FROM room_events WHERE stored_at > " MS_AGO(
         "$1") " GROUP BY workspace_id LIMIT 2000) UNION ALL "
               "(SELECT 'task:' || task_id, max(seq) FROM room_events WHERE task_id IS NOT NULL "
               "AND "
               "stored_at > " MS_AGO("$1") " GROUP BY task_id LIMIT 2000)",
     1},
    /* Pruning, one bounded statement at a time (sweeper.c): the workspaces over
     * TM_RT_HISTORY_EVENTS with the last seq to drop, batches of the oldest rows of one of
     * them (oldest first: a room's history never gets a hole in the middle), then batches of
     * rows past TM_RT_HISTORY_AGE. A workspace's newest row always stays (the room's head). */
    {"prune_rooms",
     "SELECT workspace_id::text, max(seq) - $1::bigint FROM room_events GROUP BY workspace_id "
     "HAVING min(seq) <= max(seq) - $1::bigint LIMIT 1000",
     1},
    {"prune_count_batch",
     "DELETE FROM room_events WHERE workspace_id = $1 AND seq IN (SELECT seq FROM room_events "
     "WHERE workspace_id = $1 AND seq <= $2::bigint ORDER BY seq LIMIT $3)",
     3},
    {"prune_age_batch",
     "DELETE FROM room_events WHERE (workspace_id, seq) IN (SELECT r.workspace_id, r.seq "
     "FROM room_events r WHERE " AGE_OLD " AND EXISTS (SELECT 1 FROM room_events x "
     "WHERE x.workspace_id = r.workspace_id AND x.seq > r.seq) LIMIT $2)",
     2},
    /* membership projection */
    {"mem_upsert",
     "INSERT INTO members (workspace_id, user_id, role) VALUES ($1, $2, $3) "
     "ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = EXCLUDED.role, "
     "updated_at = now()",
     3},
    {"mem_delete", "DELETE FROM members WHERE workspace_id = $1 AND user_id = $2", 2},
    {"mem_check", "SELECT role FROM members WHERE workspace_id = $1 AND user_id = $2", 2},
    {"mem_workspaces",
     "SELECT workspace_id::text FROM members WHERE user_id = $1 ORDER BY workspace_id "
     "LIMIT 1000",
     1},
    /* presence */
    {"user_lock", "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.rt.user.' || $1))",
     1},
    {"conn_upsert",
     "INSERT INTO connections (conn_id, gateway_id, user_id, device) VALUES ($1, $2, $3, $4) "
     "ON CONFLICT (conn_id) DO UPDATE SET last_seen = now(), gateway_id = EXCLUDED.gateway_id, "
     "device = EXCLUDED.device WHERE connections.user_id = EXCLUDED.user_id "
     "RETURNING (xmax = 0)",
     4},
    {"conn_total", "SELECT count(*) FROM connections", 0},
    {"conn_count", "SELECT count(*) FROM connections WHERE user_id = $1", 1},
    {"conn_delete",
     "DELETE FROM connections WHERE conn_id = $1 AND gateway_id = $2 RETURNING user_id::text", 2},
    {"conn_touch",
     "UPDATE connections SET last_seen = now() WHERE gateway_id = $1 AND conn_id IN "
     "(SELECT jsonb_array_elements_text($2::jsonb))",
     2},
    {"conn_devices",
     "SELECT device, count(*) FROM connections WHERE user_id = $1 GROUP BY device "
     "ORDER BY device LIMIT 50",
     1},
    {"presence_list",
     "SELECT m.user_id::text, c.device, count(c.conn_id), " TS(
         "max(c.last_seen)") " FROM members m LEFT JOIN connections c ON c.user_id = m.user_id "
                             "WHERE m.workspace_id = $1 GROUP BY m.user_id, c.device ORDER BY "
                             "m.user_id, c.device "
                             "LIMIT 5000",
     1},
    {"sweep_lock", "SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.rt.sweep'))",
     0},
    {"sweep_users",
     "SELECT DISTINCT user_id::text FROM connections WHERE last_seen < " MS_AGO("$1") " LIMIT 500",
     1},
    {"sweep_user_delete",
     "DELETE FROM connections WHERE user_id = $1 AND last_seen < " MS_AGO("$2"), 2},
    /* notifications */
    {"ntf_insert",
     "INSERT INTO notifications (user_id, type, title, body, data, event_id) "
     "VALUES ($1, $2, $3, $4, $5::jsonb, $6) ON CONFLICT (event_id, user_id, type) "
     "DO UPDATE SET type = EXCLUDED.type RETURNING " NTF_COLS,
     6},
    {"ntf_list",
     "SELECT " NTF_COLS " FROM notifications WHERE user_id = $1 AND "
     "(NOT $2::bool OR read_at IS NULL) AND ($3::bigint IS NULL OR pos < $3::bigint) "
     "ORDER BY pos DESC LIMIT $4",
     4},
    {"ntf_unread", "SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL", 1},
    {"ntf_read",
     "UPDATE notifications SET read_at = coalesce(read_at, now()) WHERE id = $1 AND "
     "user_id = $2 RETURNING " NTF_COLS,
     2},
    {"ntf_read_all",
     "UPDATE notifications SET read_at = now() WHERE user_id = $1 AND read_at IS NULL", 1},
    /* announcements */
    {"ann_insert",
     "INSERT INTO announcements (message, level, starts_at, ends_at, created_by, delivered) "
     "VALUES ($1, $2, coalesce($3::timestamptz, now()), $4::timestamptz, $5, "
     "coalesce($3::timestamptz, now()) <= now()) RETURNING " ANN_COLS ", delivered",
     5},
    {"ann_active",
     "SELECT " ANN_COLS " FROM announcements WHERE starts_at <= now() AND "
     "(ends_at IS NULL OR ends_at > now()) ORDER BY starts_at DESC LIMIT 20",
     0},
    {"ann_due",
     "UPDATE announcements SET delivered = true WHERE id IN (SELECT id FROM announcements "
     "WHERE NOT delivered AND starts_at <= now() ORDER BY starts_at LIMIT 100 "
     "FOR UPDATE SKIP LOCKED) RETURNING " ANN_COLS ", (ends_at IS NULL OR ends_at > now())",
     0},
};

const size_t rt_db_nstmts = sizeof rt_db_stmts / sizeof rt_db_stmts[0];
