/* Unit: rt_room parsing and normalisation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "room.h"

static void test_workspace_and_task(void **state)
{
    (void)state;
    rt_room_t r;
    assert_int_equal(rt_room_parse("workspace:3F0C1C2E-1111-4222-8333-444455556666", &r), TM_OK);
    assert_int_equal(r.kind, RT_ROOM_WORKSPACE);
    assert_string_equal(r.id, "3f0c1c2e-1111-4222-8333-444455556666");
    assert_string_equal(r.name, "workspace:3f0c1c2e-1111-4222-8333-444455556666");
    assert_int_equal(rt_room_parse("task:3f0c1c2e-1111-4222-8333-444455556666", &r), TM_OK);
    assert_int_equal(r.kind, RT_ROOM_TASK);
    assert_string_equal(r.name, "task:3f0c1c2e-1111-4222-8333-444455556666");
}

static void test_rejects(void **state)
{
    (void)state;
    rt_room_t r;
    const char *bad[] = {"",
                         "workspace:",
                         "workspace:abc",
                         "lobby:3f0c1c2e-1111-4222-8333-444455556666",
                         "workspace:3f0c1c2e-1111-4222-8333-444455556666x",
                         "Workspace:3f0c1c2e-1111-4222-8333-444455556666",
                         "task:3f0c1c2e-1111-4222-8333-44445555666",
                         "workspace:>",
                         "task:3f0c1c2e.1111-4222-8333-444455556666"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(rt_room_parse(bad[i], &r), TM_ERR_INVALID);
    assert_int_equal(rt_room_parse(NULL, &r), TM_ERR_INVALID);
    assert_int_equal(rt_room_make((rt_room_kind_t)9, "3f0c1c2e-1111-4222-8333-444455556666", &r),
                     TM_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workspace_and_task),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
