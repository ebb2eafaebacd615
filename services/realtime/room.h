/* rt_room: the rooms a WebSocket client can join, "workspace:<uuid>" and "task:<uuid>".
 * Pure functions, any thread. */
#ifndef RT_ROOM_H
#define RT_ROOM_H

#include <stdbool.h>
#include <stddef.h>
#include "tm_error.h"

#define RT_ROOM_MAX 48 /* "workspace:" + 36 + NUL fits */

typedef enum { RT_ROOM_WORKSPACE = 1, RT_ROOM_TASK = 2 } rt_room_kind_t;

typedef struct {
    rt_room_kind_t kind;
    char id[37];            /* lowercase canonical uuid */
    char name[RT_ROOM_MAX]; /* normalised "workspace:<id>" / "task:<id>" */
} rt_room_t;

/* Parse s into out. Returns TM_OK or TM_ERR_INVALID (unknown prefix, bad uuid, NULL). */
int rt_room_parse(const char *s, rt_room_t *out) TM_WUR;
/* Build a room of kind for id (a uuid; lowercased). TM_ERR_INVALID on a bad id. */
int rt_room_make(rt_room_kind_t kind, const char *id, rt_room_t *out) TM_WUR;

#endif
