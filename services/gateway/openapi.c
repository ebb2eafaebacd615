/* gw_openapi: see openapi.h. */
#include "openapi.h"

#include <ctype.h>
#include <string.h>
#include "routes.h"
#include "tm_util.h"

static json_t *path_params(const char *pattern)
{
    json_t *list = json_array();
    for (const char *p = strchr(pattern, '{'); p != NULL; p = strchr(p + 1, '{')) {
        size_t n = strcspn(p + 1, "}");
        json_array_append_new(list, json_pack("{s:s%, s:s, s:b, s:{s:s, s:s}}", "name", p + 1, n,
                                              "in", "path", "required", 1, "schema", "type",
                                              "string", "pattern", "^[A-Za-z0-9_-]{1,64}$"));
    }
    return list;
}

static json_t *request_body(const gw_route_t *r)
{
    const char *type = r->body == GW_BODY_JSON ? "application/json" : "application/octet-stream";
    json_t *content = json_object();
    json_object_set_new(content, type, json_pack("{s:{}}", "schema"));
    return json_pack("{s:b, s:o, s:I}", "required", r->body == GW_BODY_RAW, "content", content,
                     "x-max-bytes", (json_int_t)r->body_limit);
}

static json_t *operation(const gw_route_t *r)
{
    json_t *op =
        json_pack("{s:s, s:s, s:o}", "summary", r->summary, "operationId",
                  r->subject ? r->subject : r->pattern, "parameters", path_params(r->pattern));
    json_object_set_new(op, "security",
                        r->auth ? json_pack("[{s:[]}]", "bearerAuth") : json_array());
    if (r->auth)
        json_object_set_new(op, "x-min-role", json_string(gw_role_name(r->min_role)));
    if (r->body != GW_BODY_NONE)
        json_object_set_new(op, "requestBody", request_body(r));
    json_object_set_new(op, "responses",
                        json_pack("{s:{s:s}, s:{s:s, s:{s:{s:{}}}}}", "2XX", "description",
                                  "success", "default", "description", "problem", "content",
                                  "application/problem+json", "schema"));
    return op;
}

json_t *gw_openapi_build(const char *version)
{
    json_t *paths = json_object();
    for (size_t i = 0; i < gw_nroutes; i++) {
        const gw_route_t *r = &gw_routes[i];
        char method[16];
        size_t n = strlen(r->method);
        for (size_t k = 0; k <= n && k < sizeof(method); k++)
            method[k] = (char)tolower((unsigned char)r->method[k]);
        json_t *item = json_object_get(paths, r->pattern);
        if (item == NULL) {
            item = json_object();
            json_object_set_new(paths, r->pattern, item);
        }
        json_object_set_new(item, method, operation(r));
    }
    return json_pack("{s:s, s:{s:s, s:s}, s:o, s:{s:{s:{s:s, s:s, s:s}}}}", "openapi", "3.0.3",
                     "info", "title", "taskmesh API", "version", version ? version : "0", "paths",
                     paths, "components", "securitySchemes", "bearerAuth", "type", "http", "scheme",
                     "bearer", "bearerFormat", "JWT");
}

char *gw_openapi_render(const char *version, size_t *len)
{
    json_t *doc = gw_openapi_build(version);
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (s == NULL)
        s = tm_xstrdup("{}"); /* only on out-of-memory inside jansson */
    if (len)
        *len = strlen(s);
    return s;
}
