/* tm_error: names for the tm_err_t codes. */
#include "tm_error.h"

const char *tm_strerror(int err)
{
    switch ((tm_err_t)err) {
    case TM_OK:
        return "ok";
    case TM_ERR_NOMEM:
        return "out of memory";
    case TM_ERR_INVALID:
        return "invalid input";
    case TM_ERR_NOT_FOUND:
        return "not found";
    case TM_ERR_CONFLICT:
        return "conflict";
    case TM_ERR_TIMEOUT:
        return "timeout";
    case TM_ERR_IO:
        return "i/o error";
    case TM_ERR_NATS:
        return "nats error";
    case TM_ERR_PG:
        return "postgres error";
    case TM_ERR_LIMIT:
        return "limit exceeded";
    case TM_ERR_UNAVAILABLE:
        return "unavailable";
    case TM_ERR_AUTH:
        return "authentication failed";
    case TM_ERR_FORBIDDEN:
        return "forbidden";
    case TM_ERR_INTERNAL:
        return "internal error";
    }
    return "unknown error";
}
