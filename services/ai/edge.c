/* ai_edge: see edge.h. */
#include "edge.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "tm_log.h"
#include "tm_nats.h"
#include "tm_subjects.h"
#include "tm_util.h"

static _Atomic int64_t g_max_age_s;

void ai_edge_init(int64_t max_age_ms, int64_t cache_ttl_ms)
{
    int64_t ms = max_age_ms < cache_ttl_ms ? max_age_ms : cache_ttl_ms;
    atomic_store(&g_max_age_s, ms > 0 ? ms / 1000 : 0);
}

void ai_edge_hint(tm_svc_reply_t *rep)
{
    int64_t s = atomic_load(&g_max_age_s);
    if (s <= 0)
        return;
    char v[48];
    snprintf(v, sizeof v, "private, max-age=%lld", (long long)s);
    tm_svc_reply_header(rep, TM_HDR_CACHE, v);
}

/* {"user_ids":["<uuid>",...]} of ids[0..n): only UUIDs are sent (a gateway tag is made of
 * the id), so no escaping is needed. Returns the length written. */
static size_t ids_json(char *buf, size_t cap, const char *const *ids, size_t n)
{
    size_t len = (size_t)snprintf(buf, cap, "{\"user_ids\":[");
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (!tm_is_uuid(ids[i]) || len + 48 > cap)
            continue;
        len += (size_t)snprintf(buf + len, cap - len, "%s\"%s\"", first ? "" : ",", ids[i]);
        first = false;
    }
    len += (size_t)snprintf(buf + len, cap - len, "]}");
    return len;
}

void ai_edge_dropped(natsConnection *nc, const char *const *ids, size_t n)
{
    if (nc == NULL || atomic_load(&g_max_age_s) <= 0)
        return;
    char buf[AI_EDGE_IDS_PER_MSG * 40 + 32];
    for (size_t at = 0; at < n; at += AI_EDGE_IDS_PER_MSG) {
        size_t k = n - at < AI_EDGE_IDS_PER_MSG ? n - at : AI_EDGE_IDS_PER_MSG;
        size_t len = ids_json(buf, sizeof buf, ids + at, k);
        if (natsConnection_Publish(nc, TM_SUBJ_AI_DROPPED, buf, (int)len) != NATS_OK)
            TM_WARN("edge: publish %s failed: %s", TM_SUBJ_AI_DROPPED, nats_GetLastError(NULL));
    }
}
