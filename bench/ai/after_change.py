#!/usr/bin/env python3
"""How soon tm-ai's answers show a change of one task, and what that first answer costs.
Each round renames one of the user's open tasks (PATCH /api/v1/tasks/{id} through the
gateway: tm-task, its outbox relay, TM_EVENTS, tm-ai's consumer), then polls
GET /api/v1/ai/recommendations every 5 ms until the new title is in the answer. Prints two
markdown rows: PATCH -> first answer with the new title (the whole event path), and the
latency of that first answer alone (tm-ai catching up on the change). Rounds are bounded:
ROUNDS renames, 5 s of polling each.
Usage: after_change.py HOST PORT TOKEN ROUNDS"""
import http.client
import json
import sys
import time

HOST, PORT, TOKEN, ROUNDS = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
HDR = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
PATH = "/api/v1/ai/recommendations?limit=50"


def call(conn, method, path, body=None):
    conn.request(method, path, json.dumps(body) if body is not None else None, HDR)
    r = conn.getresponse()
    data = r.read()
    if r.status not in (200, 201):
        sys.exit(f"after_change: {method} {path} -> {r.status} {data[:200]!r}")
    return json.loads(data)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]


conn = http.client.HTTPConnection(HOST, PORT, timeout=10)
top = call(conn, "GET", PATH)["data"][0]
visible, first = [], []
for i in range(ROUNDS):
    title = f"{top['title']} r{i}"
    t0 = time.monotonic()
    call(conn, "PATCH", f"/api/v1/tasks/{top['task_id']}", {"title": title})
    while True:
        s = time.monotonic()
        ans = call(conn, "GET", PATH)
        e = time.monotonic()
        if any(d["task_id"] == top["task_id"] and d["title"] == title for d in ans["data"]):
            visible.append((e - t0) * 1000)
            first.append((e - s) * 1000)
            break
        if e - t0 > 5:
            sys.exit(f"after_change: round {i}: the new title never showed in 5 s")
        time.sleep(0.005)
for name, v in (("PATCH -> first answer with the new title", visible),
                ("that first answer alone (catching up on the change)", first)):
    print(f"| {name}, {len(v)} renames | p50 {pct(v, 0.5):.2f} ms | max {max(v):.2f} ms |")
