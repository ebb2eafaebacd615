#!/usr/bin/env python3
"""Create BENCH_SEED tasks for one user through the real path: POST /api/v1/tasks on the
gateway (tm-task writes task.tasks + outbox, the relay publishes to TM_EVENTS, tm-ai's
consumer builds ai.tasks). 8 threads, one keep-alive connection each. Statuses, priorities,
due dates, estimates and labels vary so that insights and recommendations have work to do.
Usage: seed.py HOST PORT TOKEN WORKSPACE_ID COUNT"""
import http.client
import json
import sys
import threading
from datetime import datetime, timedelta, timezone

HOST, PORT, TOKEN, WS, COUNT = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
THREADS = 8
STATUSES = ["todo", "in_progress", "done", "todo", "done"]
WORDS = ["report", "review", "call", "email", "deploy", "design", "plan", "fix", "write", "test"]
failures = []


def body(i):
    now = datetime.now(timezone.utc)
    t = {"workspace_id": WS, "title": f"{WORDS[i % 10]} {WORDS[(i // 10) % 10]} item {i}",
         "status": STATUSES[i % 5], "priority": 1 + i % 4, "labels": [f"l{i % 7}"]}
    if i % 3:
        t["due_at"] = (now + timedelta(hours=(i % 400) - 100)).strftime("%Y-%m-%dT%H:%M:%SZ")
    if i % 2:
        t["estimate_minutes"] = 15 * (1 + i % 8)
    return json.dumps(t)


def worker(k):
    conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
    hdr = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    for i in range(k, COUNT, THREADS):
        conn.request("POST", "/api/v1/tasks", body(i), hdr)
        r = conn.getresponse()
        r.read()
        if r.status != 201:
            failures.append(r.status)


ts = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
for t in ts:
    t.start()
for t in ts:
    t.join()
if failures:
    sys.exit(f"seed: {len(failures)} creates failed, statuses {sorted(set(failures))}")
