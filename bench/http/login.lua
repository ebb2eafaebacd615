-- wrk: POST /api/v1/auth/login with BENCH_EMAIL / BENCH_PASSWORD (argon2id on tm-task).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"email":"%s","password":"%s","device":"bench"}',
                         os.getenv("BENCH_EMAIL"), os.getenv("BENCH_PASSWORD"))
