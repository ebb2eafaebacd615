/* gw_openapi: the OpenAPI 3.0 document of the gateway, generated from gw_routes (paths,
 * methods, path parameters, bearer security, minimum role, body kind and limit). */
#ifndef GW_OPENAPI_H
#define GW_OPENAPI_H

#include <jansson.h>
#include <stddef.h>

/* New document object (caller owns: json_decref). Any thread. */
json_t *gw_openapi_build(const char *version);
/* The same, serialised compactly into a heap string (caller frees). */
char *gw_openapi_render(const char *version, size_t *len);

#endif
