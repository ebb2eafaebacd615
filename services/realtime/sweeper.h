/* rt_sweeper: the periodic duties of tm-realtime, on its own thread with its own Postgres
 * and NATS connections. Every TM_RT_SWEEP_INTERVAL, guarded by an advisory transaction lock
 * so only one replica does it per pass: expire connections not heartbeated for
 * TM_RT_PRESENCE_TIMEOUT (publishing presence offline for users left without one), publish
 * {op:"head"} beacons for rooms active within TM_RT_HEAD_WINDOW, deliver scheduled
 * announcements that became active, and (every TM_RT_PRUNE_INTERVAL) prune room history.
 * Every replica refreshes the tm_rt_connections gauge. */
#ifndef RT_SWEEPER_H
#define RT_SWEEPER_H

#include "config.h"

typedef struct rt_sweeper rt_sweeper_t;

rt_sweeper_t *rt_sweeper_start(const rt_config_t *cfg, const char *schema);
void rt_sweeper_stop(rt_sweeper_t *s);

#endif
