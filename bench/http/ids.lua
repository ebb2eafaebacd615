-- wrk: GET /api/v1/tasks/<id> over the ids in BENCH_IDS (one per line), round robin from a
-- per-thread random start, so that a cache would not serve them (the bench gateway runs
-- with TM_CACHE_BYTES=0 for this scenario anyway).
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local i = 0
function init(args) i = math.random(#ids) end
function request()
  i = i % #ids + 1
  return wrk.format("GET", "/api/v1/tasks/" .. ids[i])
end
