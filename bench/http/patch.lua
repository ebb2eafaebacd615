-- wrk: PATCH /api/v1/tasks/<id> (title) over the ids in BENCH_IDS, no If-Match.
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local i = 0
function init(args) i = math.random(#ids) end
wrk.headers["Content-Type"] = "application/json" -- beside -H Authorization
function request()
  i = i % #ids + 1
  return wrk.format("PATCH", "/api/v1/tasks/" .. ids[i], nil, '{"title":"patched by bench"}')
end
