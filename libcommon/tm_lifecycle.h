/* tm_lifecycle: signals and shutdown.
 * tm_lifecycle_init() blocks SIGTERM, SIGINT and SIGHUP in the calling thread before any
 * other thread starts (so every thread inherits the mask) and ignores SIGPIPE.
 * tm_lifecycle_wait() then waits on the main thread for SIGTERM/SIGINT (sigwait) or for
 * tm_lifecycle_request_stop() from any thread, and returns the signal number (0 if
 * requested). The daemon then stops accepting work, finishes in-flight work (bounded by
 * its drain timeout), drains NATS, closes Postgres and exits 0. */
#ifndef TM_LIFECYCLE_H
#define TM_LIFECYCLE_H

void tm_lifecycle_init(void);
int tm_lifecycle_wait(void);
void tm_lifecycle_request_stop(void);

#endif
