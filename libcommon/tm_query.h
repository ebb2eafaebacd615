/* tm_query: HTTP query strings and the path parameters the gateway forwards.
 *
 * The gateway forwards a request to a service as: the client's body unchanged (JSON, or raw
 * bytes for attachments), the path parameters as headers "Tm-Param-<name>" (e.g.
 * Tm-Param-id), the raw query string as header "Tm-Query" (without '?', at most
 * TM_QUERY_MAX bytes), and If-Match / If-None-Match as given. Pure functions, any thread. */
#ifndef TM_QUERY_H
#define TM_QUERY_H

#include <nats/nats.h>
#include <stdbool.h>
#include <stddef.h>
#include "tm_error.h"

#define TM_QUERY_MAX         4096
#define TM_HDR_QUERY         "Tm-Query"
#define TM_HDR_PARAM_PREFIX  "Tm-Param-"
#define TM_HDR_IF_MATCH      "If-Match"
#define TM_HDR_IF_NONE_MATCH "If-None-Match"
#define TM_HDR_CLIENT_IP     "Tm-Client-Ip"

/* Percent-decode src[n] ('+' is a space) into out (cap bytes, NUL-terminated).
 * Returns the decoded length, or -1 on a bad escape, an embedded NUL, or overflow. */
long tm_query_decode(const char *src, size_t n, char *out, size_t cap);

/* Find the first `name` in query string q (NULL ok) and decode its value into out.
 * Returns the value length (0 for "name=" or a bare "name"), -1 if absent, -2 if the
 * value is malformed or does not fit. */
long tm_query_get(const char *q, const char *name, char *out, size_t cap);

/* Visit each pair in order; stops early when fn returns non-zero (that value is returned).
 * key and value are decoded, NUL-terminated, valid only during the call. Malformed pairs
 * make it return TM_ERR_INVALID; more than 64 pairs TM_ERR_LIMIT. */
int tm_query_each(const char *q, int (*fn)(const char *key, const char *value, void *arg),
                  void *arg) TM_WUR;

/* A path parameter forwarded by the gateway ("id" -> header Tm-Param-id), or NULL. */
const char *tm_query_param(natsMsg *msg, const char *name);
/* The forwarded query string (never NULL: "" when absent). */
const char *tm_query_string(natsMsg *msg);

#endif
