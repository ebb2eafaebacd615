/* NATS subjects of taskmesh v1: the one place their names are written.
 * The contract of each (headers, bodies, errors) is in the pages under proto/subjects/. */
#ifndef TM_SUBJECTS_H
#define TM_SUBJECTS_H

#define TM_SUBJ_PREFIX "tm.v1."

/* auth (tm-task) */
#define TM_SUBJ_AUTH_REGISTER      "tm.v1.auth.register"
#define TM_SUBJ_AUTH_LOGIN         "tm.v1.auth.login"
#define TM_SUBJ_AUTH_REFRESH       "tm.v1.auth.refresh"
#define TM_SUBJ_AUTH_LOGOUT        "tm.v1.auth.logout"
#define TM_SUBJ_AUTH_ME            "tm.v1.auth.me"
#define TM_SUBJ_AUTH_SESSIONS      "tm.v1.auth.sessions"
#define TM_SUBJ_AUTH_REVOKE        "tm.v1.auth.revoke"
#define TM_SUBJ_AUTH_SESSION_CHECK "tm.v1.auth.session_check"
/* core NATS, empty payload: a standby tm-task replica wakes the active outbox relay after a
 * COMMIT that wrote outbox rows (services/task/relay.h) */
#define TM_SUBJ_RELAY_KICK "tm.v1.relay.kick"
/* published (core NATS) by tm-task when a session is revoked: {"sid":..., "exp":<unix s>} */
#define TM_SUBJ_AUTH_REVOKED "tm.v1.auth.revoked"
/* published (core NATS) by tm-task after a COMMIT that changed a user's row: {"id":...};
 * every tm-task replica drops that user's cached /me answer (services/task/user_cache.h) */
#define TM_SUBJ_USER_CHANGED      "tm.v1.auth.user_changed"
#define TM_SUBJ_ADMIN_USERS       "tm.v1.auth.admin_users"
#define TM_SUBJ_ADMIN_USER_UPDATE "tm.v1.auth.admin_user_update"

/* workspaces (tm-task) */
#define TM_SUBJ_WS_CREATE        "tm.v1.workspace.create"
#define TM_SUBJ_WS_LIST          "tm.v1.workspace.list"
#define TM_SUBJ_WS_GET           "tm.v1.workspace.get"
#define TM_SUBJ_WS_MEMBERS       "tm.v1.workspace.members"
#define TM_SUBJ_WS_ADD_MEMBER    "tm.v1.workspace.add_member"
#define TM_SUBJ_WS_REMOVE_MEMBER "tm.v1.workspace.remove_member"
#define TM_SUBJ_WS_CHANGES       "tm.v1.workspace.changes"

/* tasks (tm-task) */
#define TM_SUBJ_TASK_CREATE        "tm.v1.task.create"
#define TM_SUBJ_TASK_GET           "tm.v1.task.get"
#define TM_SUBJ_TASK_LIST          "tm.v1.task.list"
#define TM_SUBJ_TASK_UPDATE        "tm.v1.task.update"
#define TM_SUBJ_TASK_REPLACE       "tm.v1.task.replace"
#define TM_SUBJ_TASK_DELETE        "tm.v1.task.delete"
#define TM_SUBJ_TASK_COMPLETE      "tm.v1.task.complete"
#define TM_SUBJ_TASK_TIME_LOG      "tm.v1.task.time.log"
#define TM_SUBJ_TASK_TIME_LIST     "tm.v1.task.time.list"
#define TM_SUBJ_TASK_ATTACH_PUT    "tm.v1.task.attach.put"
#define TM_SUBJ_TASK_ATTACH_GET    "tm.v1.task.attach.get"
#define TM_SUBJ_TASK_ATTACH_LIST   "tm.v1.task.attach.list"
#define TM_SUBJ_TASK_ATTACH_DELETE "tm.v1.task.attach.delete"

/* realtime (tm-realtime) */
#define TM_SUBJ_RT_CONNECT       "tm.v1.rt.connect"
#define TM_SUBJ_RT_DISCONNECT    "tm.v1.rt.disconnect"
#define TM_SUBJ_RT_HEARTBEAT     "tm.v1.rt.heartbeat"
#define TM_SUBJ_RT_SUBSCRIBE     "tm.v1.rt.subscribe"
#define TM_SUBJ_RT_TYPING        "tm.v1.rt.typing"
#define TM_SUBJ_RT_RESUME        "tm.v1.rt.resume"
#define TM_SUBJ_RT_PRESENCE      "tm.v1.rt.presence"
#define TM_SUBJ_RT_NOTIFICATIONS "tm.v1.rt.notifications"
#define TM_SUBJ_RT_READ          "tm.v1.rt.read"
#define TM_SUBJ_RT_READ_ALL      "tm.v1.rt.read_all"
#define TM_SUBJ_RT_ANNOUNCE      "tm.v1.rt.announce"

/* ai (tm-ai) */
#define TM_SUBJ_AI_SUGGEST   "tm.v1.ai.suggest"
#define TM_SUBJ_AI_ACCEPT    "tm.v1.ai.accept"
#define TM_SUBJ_AI_REJECT    "tm.v1.ai.reject"
#define TM_SUBJ_AI_INSIGHTS  "tm.v1.ai.insights"
#define TM_SUBJ_AI_RECOMMEND "tm.v1.ai.recommend"
#define TM_SUBJ_AI_PARSE     "tm.v1.ai.parse"
/* broadcast, tm-ai -> every gateway: {"user_ids": [...]} whose answers it dropped (after
 * its COMMIT); the gateways drop their copies (Tm-Cache hints) */
#define TM_SUBJ_AI_DROPPED "tm.v1.ai.dropped"

/* health: answered by every replica of <svc> */
#define TM_SUBJ_HEALTH_FMT      "tm.v1.%s.health"
#define TM_SUBJ_TASK_HEALTH     "tm.v1.task.health"
#define TM_SUBJ_REALTIME_HEALTH "tm.v1.rt.health"
#define TM_SUBJ_AI_HEALTH       "tm.v1.ai.health"

/* events: JetStream stream TM_EVENTS, subject tm.v1.evt.<workspace_id>.<type> */
#define TM_STREAM_EVENTS "TM_EVENTS"
#define TM_SUBJ_EVT_ALL  "tm.v1.evt.>"
#define TM_SUBJ_EVT_FMT  "tm.v1.evt.%s.%s"

/* deliveries: core NATS, tm-realtime -> gateways */
#define TM_SUBJ_DELIVER_USER_FMT "tm.v1.deliver.user.%s"
#define TM_SUBJ_DELIVER_ROOM_FMT "tm.v1.deliver.room.%s"
#define TM_SUBJ_DELIVER_ALL      "tm.v1.deliver.all"

#endif
