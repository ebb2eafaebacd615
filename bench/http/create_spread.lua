-- wrk: POST /api/v1/tasks, round robin over the workspaces in BENCH_WS_LIST (comma-separated).
-- Creates in one workspace are serialised by design (its gapless event seq is taken under the
-- workspace row lock until COMMIT); spread over several, their commits can share a WAL flush.
local ws = {}
for id in string.gmatch(os.getenv("BENCH_WS_LIST") or "", "[^,]+") do ws[#ws + 1] = id end
local n = 0
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  local body = string.format('{"workspace_id":"%s","title":"bench task","priority":2,"labels":["bench"]}',
                             ws[(n % #ws) + 1])
  return wrk.format("POST", "/api/v1/tasks", nil, body)
end
