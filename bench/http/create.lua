-- wrk: POST /api/v1/tasks into BENCH_WS.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"workspace_id":"%s","title":"bench task","priority":2,"labels":["bench"]}',
                         os.getenv("BENCH_WS"))
