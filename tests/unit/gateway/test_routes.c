/* gw_routes matching (404/405/Allow, params) and the OpenAPI document against the table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <string.h>
#include "openapi.h"
#include "routes.h"
#include "tm_subjects.h"

static gw_match_t match(const char *method, const char *path, const gw_route_t **r, gw_params_t *p,
                        char *allow)
{
    return gw_routes_match(method, strlen(method), path, strlen(path), r, p, allow, 64);
}

static void test_match_params(void **state)
{
    (void)state;
    const gw_route_t *r = NULL;
    gw_params_t p;
    char allow[64];
    assert_int_equal(match("GET", "/api/v1/tasks/abc-123/attachments/f_9", &r, &p, allow),
                     GW_MATCH_OK);
    assert_string_equal(r->subject, TM_SUBJ_TASK_ATTACH_GET);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.p[0].name_len, 2);
    assert_memory_equal(p.p[0].name, "id", 2);
    assert_int_equal(p.p[0].len, 7);
    assert_memory_equal(p.p[0].value, "abc-123", 7);
    assert_memory_equal(p.p[1].name, "aid", 3);
    assert_memory_equal(p.p[1].value, "f_9", 3);
    assert_int_equal(match("PUT", "/api/v1/tasks/x", &r, &p, allow), GW_MATCH_OK);
    assert_string_equal(r->subject, TM_SUBJ_TASK_REPLACE);
    assert_int_equal(match("GET", "/api/v1/me", &r, &p, allow), GW_MATCH_OK);
    assert_string_equal(r->subject, TM_SUBJ_AUTH_ME);
    assert_int_equal(p.n, 0);
    assert_int_equal(match("POST", "/api/v1/notifications/read-all", &r, &p, allow), GW_MATCH_OK);
    assert_string_equal(r->subject, TM_SUBJ_RT_READ_ALL);
    assert_int_equal(match("GET", "/api/v1/workspaces/w1/presence", &r, &p, allow), GW_MATCH_OK);
    assert_string_equal(r->subject, TM_SUBJ_RT_PRESENCE);
    assert_int_equal(match("POST", "/api/v1/tasks/t1/attachments", &r, &p, allow), GW_MATCH_OK);
    assert_int_equal(r->body, GW_BODY_RAW);
    assert_int_equal(r->body_limit, 5 * 1024 * 1024);
    assert_int_equal(gw_routes_max_body(), 5 * 1024 * 1024);
    assert_int_equal(match("POST", "/api/v1/admin/announcements", &r, &p, allow), GW_MATCH_OK);
    assert_int_equal(r->min_role, GW_ROLE_ADMIN);
    assert_int_equal(match("GET", "/healthz", &r, &p, allow), GW_MATCH_OK);
    assert_int_equal(r->local, GW_LOCAL_HEALTHZ);
    assert_false(r->auth);
}

static void test_not_found(void **state)
{
    (void)state;
    const gw_route_t *r = NULL;
    gw_params_t p;
    char allow[64];
    char long_id[80] = "/api/v1/tasks/";
    memset(long_id + strlen(long_id), 'a', 65);
    assert_int_equal(match("GET", long_id, &r, &p, allow), GW_MATCH_NOT_FOUND);
    long_id[strlen(long_id) - 1] = '\0'; /* 64 chars: fine */
    assert_int_equal(match("GET", long_id, &r, &p, allow), GW_MATCH_OK);
    const char *bad[] = {"/",
                         "",
                         "/api/v1",
                         "/api/v1/tasks/",
                         "/api/v1/tasks//complete",
                         "/api/v1/tasks/a.b",
                         "/api/v1/tasks/%41",
                         "/api/v1/mex",
                         "/api/v1/me/",
                         "/api/v1/tasks/x/complete/y",
                         "api/v1/me",
                         "/API/v1/me",
                         "/api/v1/admin/cachex",
                         "/api/v1/tasks/x y"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (match("GET", bad[i], &r, &p, allow) != GW_MATCH_NOT_FOUND)
            fail_msg("%s should be 404", bad[i]);
    /* the length given is honoured, not the NUL */
    assert_int_equal(gw_routes_match("GET", 3, "/api/v1/meXYZ", 10, &r, &p, allow, 64),
                     GW_MATCH_OK);
}

static void test_bad_method(void **state)
{
    (void)state;
    const gw_route_t *r = NULL;
    gw_params_t p;
    char allow[64];
    assert_int_equal(match("POST", "/api/v1/tasks/t1", &r, &p, allow), GW_MATCH_BAD_METHOD);
    assert_string_equal(allow, "GET, PATCH, PUT, DELETE");
    assert_int_equal(match("DELETE", "/api/v1/tasks", &r, &p, allow), GW_MATCH_BAD_METHOD);
    assert_string_equal(allow, "GET, POST");
    assert_int_equal(match("TRACE", "/healthz", &r, &p, allow), GW_MATCH_BAD_METHOD);
    assert_string_equal(allow, "GET");
    assert_int_equal(match("GE", "/healthz", &r, &p, allow), GW_MATCH_BAD_METHOD);
}

static void test_table_sane(void **state)
{
    (void)state;
    for (size_t i = 0; i < gw_nroutes; i++) {
        const gw_route_t *r = &gw_routes[i];
        assert_true((r->subject != NULL) != (r->local != GW_LOCAL_NONE));
        assert_true(r->subject == NULL || strncmp(r->subject, TM_SUBJ_PREFIX, 6) == 0);
        assert_true((r->body == GW_BODY_NONE) == (r->body_limit == 0));
        for (size_t k = 0; k < i; k++) /* no route shadows another */
            assert_false(strcmp(gw_routes[k].pattern, r->pattern) == 0 &&
                         strcmp(gw_routes[k].method, r->method) == 0);
    }
}

static void lower(const char *in, char *out)
{
    size_t i = 0;
    for (; in[i]; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

static void test_openapi_matches_table(void **state)
{
    (void)state;
    size_t len = 0;
    char *text = gw_openapi_render("1.2.3", &len);
    assert_int_equal(strlen(text), len);
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    free(text);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.0.3");
    json_t *paths = json_object_get(doc, "paths");
    char m[16];
    /* every route is in the document, with its parameters and security */
    for (size_t i = 0; i < gw_nroutes; i++) {
        const gw_route_t *r = &gw_routes[i];
        lower(r->method, m);
        json_t *op = json_object_get(json_object_get(paths, r->pattern), m);
        if (op == NULL)
            fail_msg("%s %s missing from openapi.json", r->method, r->pattern);
        assert_int_equal(json_array_size(json_object_get(op, "security")), r->auth ? 1 : 0);
        size_t nbraces = 0;
        for (const char *c = r->pattern; *c; c++)
            nbraces += *c == '{';
        json_t *params = json_object_get(op, "parameters");
        assert_int_equal(json_array_size(params), nbraces);
        for (size_t k = 0; k < json_array_size(params); k++) {
            char needle[80];
            snprintf(needle, sizeof(needle), "{%s}",
                     json_string_value(json_object_get(json_array_get(params, k), "name")));
            assert_non_null(strstr(r->pattern, needle));
        }
        assert_int_equal(json_object_get(op, "requestBody") != NULL, r->body != GW_BODY_NONE);
    }
    /* and the document has nothing else */
    const char *path;
    json_t *item;
    size_t count = 0;
    json_object_foreach(paths, path, item)
    {
        const char *method;
        json_t *op;
        json_object_foreach(item, method, op)
        {
            bool found = false;
            for (size_t i = 0; i < gw_nroutes && !found; i++) {
                lower(gw_routes[i].method, m);
                found = strcmp(gw_routes[i].pattern, path) == 0 && strcmp(m, method) == 0;
            }
            if (!found)
                fail_msg("%s %s in openapi.json but not a route", method, path);
            count++;
        }
    }
    assert_int_equal(count, gw_nroutes);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_params),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_bad_method),
        cmocka_unit_test(test_table_sane),
        cmocka_unit_test(test_openapi_matches_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
