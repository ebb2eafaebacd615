/* rt_text: JSON text written directly, for the consumer's per-event texts (the history row
 * of ev_insert_many, the {op:"event"} delivered to the workspace and task rooms). The
 * event's data is serialised once and spliced into each, instead of being serialised by
 * jansson once per text (three times per event). The bytes are those jansson's compact
 * dump gives for the same object built in the same key order (tests/unit/realtime). */
#ifndef RT_EVTEXT_H
#define RT_EVTEXT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *p; /* NUL-terminated once anything was appended; NULL before */
    size_t len, cap;
} rt_text_t;

void rt_text_raw(rt_text_t *t, const char *s, size_t n);
void rt_text_lit(rt_text_t *t, const char *s); /* strlen(s) bytes, as they are */
/* s as a JSON string, escaped as jansson escapes it (s is valid UTF-8); NULL -> null. */
void rt_text_str(rt_text_t *t, const char *s);
void rt_text_int(rt_text_t *t, int64_t v);
void rt_text_reset(rt_text_t *t); /* empty, keeps the memory */
void rt_text_free(rt_text_t *t);

/* {"op":"event","room":..,"seq":..,"type":..,"data":<data_json>,"event_id":..,
 * "created_at":..}: the text of rt_op_event's object; data_json is JSON text. */
void rt_text_op_event(rt_text_t *t, const char *room, int64_t seq, const char *type,
                      const char *data_json, const char *event_id, const char *created_at);

#endif
