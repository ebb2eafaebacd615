-- wrk: POST the JSON body in BENCH_BODY (Authorization comes from wrk -H).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_BODY")
