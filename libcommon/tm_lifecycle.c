/* tm_lifecycle: blocked signals, a sigwait loop on the main thread, and a stop request
 * that reaches that loop from any thread. */
#include "tm_lifecycle.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "tm_log.h"

static sigset_t waited;
static pthread_t main_thread;
static atomic_bool initialised;
static atomic_bool stop_requested;

void tm_lifecycle_init(void)
{
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, NULL);
    sigemptyset(&waited);
    sigaddset(&waited, SIGTERM);
    sigaddset(&waited, SIGINT);
    sigaddset(&waited, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &waited, NULL);
    main_thread = pthread_self();
    atomic_store(&initialised, true);
}

int tm_lifecycle_wait(void)
{
    for (;;) {
        int sig = 0;
        if (atomic_load(&stop_requested))
            return 0;
        if (sigwait(&waited, &sig) != 0)
            continue;
        if (atomic_load(&stop_requested))
            return 0;
        if (sig == SIGHUP) {
            TM_INFO("SIGHUP ignored (configuration is fixed at start)");
            continue;
        }
        TM_INFO("received %s, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        return sig;
    }
}

void tm_lifecycle_request_stop(void)
{
    atomic_store(&stop_requested, true);
    /* SIGTERM is blocked everywhere, so sigwait on the main thread picks it up. */
    if (atomic_load(&initialised))
        pthread_kill(main_thread, SIGTERM);
}
