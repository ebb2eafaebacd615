/* gw_stats: see gw_stats.h. */
#include "gw_stats.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include "routes.h"
#include "tm_metrics.h"
#include "tm_util.h"

#define NCLASSES 5

static tm_histogram_t *(*g_hist)[NCLASSES];

static tm_histogram_t *hist_for(int route, int cls)
{
    tm_histogram_t **slot = &g_hist[route][cls];
    tm_histogram_t *h = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (h == NULL) { /* a race creates it twice: the registry returns the same metric */
        char labels[256];
        snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\",status=\"%dxx\"",
                 gw_routes[route].pattern, gw_routes[route].method, cls + 1);
        h = tm_metrics_histogram("tm_http_request_duration_seconds",
                                 "HTTP request latency by route, method and status class", labels,
                                 NULL, 0);
        __atomic_store_n(slot, h, __ATOMIC_RELEASE);
    }
    return h;
}

void gw_stats_observe(int route, int status, double seconds)
{
    if (route < 0 || (size_t)route >= gw_nroutes || status < 100 || status > 599)
        return;
    if (__atomic_load_n(&g_hist, __ATOMIC_ACQUIRE) == NULL) {
        tm_histogram_t *(*fresh)[NCLASSES] = tm_xcalloc(gw_nroutes, sizeof(*fresh));
        tm_histogram_t *(*expected)[NCLASSES] = NULL;
        if (!__atomic_compare_exchange_n(&g_hist, &expected, fresh, false, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE))
            free(fresh);
    }
    tm_histogram_observe(hist_for(route, status / 100 - 1), seconds);
}
