/* rt_ctx: what tm-realtime's handlers, consumer and sweeper share. Created by rt_service
 * before any thread starts; read-only afterwards except through the thread-safe members. */
#ifndef RT_CTX_H
#define RT_CTX_H

#include <nats/nats.h>
#include "config.h"
#include "ttlmap.h"

#define RT_HDR_EXCLUDE_USER "Tm-Exclude-User"

typedef struct {
    const rt_config_t *cfg;
    rt_ttlmap_t *typing;       /* user|room -> next allowed typing delivery */
    rt_ttlmap_t *member_cache; /* user|room -> membership known until */
} rt_ctx_t;

#endif
