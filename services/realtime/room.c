/* rt_room: see room.h. */
#include "room.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "tm_util.h"

int rt_room_make(rt_room_kind_t kind, const char *id, rt_room_t *out)
{
    if (!id || !tm_is_uuid(id) || (kind != RT_ROOM_WORKSPACE && kind != RT_ROOM_TASK))
        return TM_ERR_INVALID;
    memset(out, 0, sizeof *out);
    out->kind = kind;
    for (size_t i = 0; i < 36; i++)
        out->id[i] = (char)tolower((unsigned char)id[i]);
    snprintf(out->name, sizeof out->name, "%s:%s", kind == RT_ROOM_WORKSPACE ? "workspace" : "task",
             out->id);
    return TM_OK;
}

int rt_room_parse(const char *s, rt_room_t *out)
{
    if (!s)
        return TM_ERR_INVALID;
    if (strncmp(s, "workspace:", 10) == 0)
        return rt_room_make(RT_ROOM_WORKSPACE, s + 10, out);
    if (strncmp(s, "task:", 5) == 0)
        return rt_room_make(RT_ROOM_TASK, s + 5, out);
    return TM_ERR_INVALID;
}
