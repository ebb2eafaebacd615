/* Fuzz target: NATS event bodies, tm_event_decode (libcommon/tm_events.c), as every
 * TM_EVENTS consumer decodes them.
 * Checks: a refused body fills errs; a decoded one has NUL-terminated UUID-length ids, a
 * positive seq, a non-empty type, data present; re-encoding it with tm_event_envelope and
 * decoding again gives the same fields. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "tm_events.h"
#include "tm_util.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tm_event_t ev;
    tm_json_errors_t errs = {0};
    int rc = tm_event_decode((const char *)data, size, &ev, &errs);
    if (rc != TM_OK) {
        CHECK((rc == TM_ERR_INVALID || rc == TM_ERR_LIMIT) && errs.count >= 1);
        return 0;
    }
    CHECK(strlen(ev.event_id) == 36 && strlen(ev.workspace_id) == 36);
    CHECK(ev.actor_id[0] == '\0' || strlen(ev.actor_id) == 36);
    CHECK(ev.seq >= 1 && ev.type[0] != '\0');
    json_t *env = tm_event_envelope(ev.event_id, ev.workspace_id, ev.seq, ev.type,
                                    ev.actor_id[0] ? ev.actor_id : NULL, ev.created_at, ev.data);
    CHECK(env != NULL);
    size_t len = 0;
    char *s = tm_json_dumps(env, &len);
    CHECK(s != NULL);
    tm_event_t back;
    CHECK(tm_event_decode(s, len, &back, NULL) == TM_OK);
    CHECK(strcmp(back.event_id, ev.event_id) == 0 && back.seq == ev.seq &&
          strcmp(back.type, ev.type) == 0);
    bool null_a = back.data == NULL || json_is_null(back.data);
    bool null_b = ev.data == NULL || json_is_null(ev.data);
    CHECK(null_a == null_b && (null_a || json_equal(back.data, ev.data)));
    tm_event_dispose(&back);
    free(s);
    json_decref(env);
    tm_event_dispose(&ev);
    return 0;
}
