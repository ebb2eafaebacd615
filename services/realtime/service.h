/* rt_service: tm-realtime assembled: the harness with its routes, the TM_EVENTS consumer
 * and the sweeper. main.c and the integration tests (two replicas in one process) use it.
 * Start and stop on one thread (the main one). */
#ifndef RT_SERVICE_H
#define RT_SERVICE_H

#include "config.h"

typedef struct rt_service rt_service_t;

/* cfg must outlive the service. NULL after logging why. */
rt_service_t *rt_service_start(const rt_config_t *cfg);
/* Drain requests, stop the threads, free. NULL ok. */
void rt_service_stop(rt_service_t *s);

#endif
