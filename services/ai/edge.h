/* ai_edge: tm-ai's side of the gateways' copies of its answers (the Tm-Cache hint).
 *
 * An answer tm-ai serves from its own cache goes out with "Tm-Cache: private, max-age=<s>"
 * (TM_AI_EDGE_MAX_AGE, never longer than TM_AI_CACHE_TTL): the gateway may keep it for that
 * user and answer the same GET itself meanwhile (proto/README.md). The first answer, the
 * computed one, carries no hint. When the consumer drops users' answers, ai_edge_dropped
 * broadcasts their ids on tm.v1.ai.dropped after the COMMIT, and every gateway drops its
 * copies; a request forwarded before the broadcast cannot store its answer afterwards (the
 * gateway's invalidation epochs). A change applied by another tm-ai replica reaches this
 * replica's cache within AI_CACHE_RECHECK_MS (cache.h), so a copy made from a stale hit
 * in that window lives at most max-age more: the default (1 s) keeps a gateway copy about
 * as fresh as the replica's own answers. */
#ifndef AI_EDGE_H
#define AI_EDGE_H

#include <nats/nats.h>
#include <stddef.h>
#include <stdint.h>
#include "tm_svc.h"

#define AI_EDGE_IDS_PER_MSG 256 /* user ids per tm.v1.ai.dropped message */

/* Settings (before the harness starts): max_age_ms rounded down to whole seconds and
 * capped by cache_ttl_ms; 0 sends no hint and no broadcast. */
void ai_edge_init(int64_t max_age_ms, int64_t cache_ttl_ms);
/* Add the Tm-Cache hint to an answer served from tm-ai's cache. */
void ai_edge_hint(tm_svc_reply_t *rep);
/* Broadcast that the answers of ids[n] were dropped (after the COMMIT that changed them).
 * Best effort: a lost broadcast leaves a gateway copy until its max-age. */
void ai_edge_dropped(natsConnection *nc, const char *const *ids, size_t n);

#endif
