# Response cache and rate limiter of tm-gateway (h12).
tm_unit_test(test_gw_cache SOURCES test_cache.c ${GW_DIR}/cache.c)
target_include_directories(test_gw_cache PRIVATE ${GW_DIR})
tm_unit_test(test_gw_ratelimit SOURCES test_ratelimit.c ${GW_DIR}/ratelimit.c)
target_include_directories(test_gw_ratelimit PRIVATE ${GW_DIR})
