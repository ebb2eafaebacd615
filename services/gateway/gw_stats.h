/* gw_stats: request latency histograms per route and status class
 * (tm_http_request_duration_seconds{route,method,status="2xx"}), created on first use.
 * Any thread (lock-free after creation). */
#ifndef GW_STATS_H
#define GW_STATS_H

/* route: index into gw_routes, or -1 (not recorded). */
void gw_stats_observe(int route, int status, double seconds);

#endif
