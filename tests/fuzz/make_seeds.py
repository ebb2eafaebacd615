#!/usr/bin/env python3
"""Write the seed corpora under tests/fuzz/corpus/<target>/ (run from anywhere).

Seeds are small, valid or nearly valid inputs that reach each decoder's branches; the
fuzzers grow them. Re-running rewrites the same files."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
MASK = b"\x37\xfa\x21\x3d"
WS = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
TASK = "0b1c2d3e-4f50-4a6b-8c7d-8e9fa0b1c2d3"


def frame(b0, payload=b"", mask=MASK):
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        hdr = bytes([b0, m | n])
    elif n <= 0xFFFF:
        hdr = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        hdr = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if not mask:
        return hdr + payload
    return hdr + mask + bytes(c ^ mask[i & 3] for i, c in enumerate(payload))


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def ws_frame_seeds():
    cfg = b"\x05\x03"  # cap 1000, chunks of 4
    return {
        "text_hello": cfg + frame(0x81, b"Hello"),
        "rfc_hello": cfg + bytes.fromhex("818537fa213d7f9f4d5158"),
        "binary_126": b"\x06\x00" + frame(0x82, bytes(range(126))),
        "len64_small": cfg + b"\x82\xff" + struct.pack(">Q", 5) + MASK + b"\x00" * 5,
        "fragmented_ping": cfg + frame(0x01, b"Hel") + frame(0x89, b"p") + frame(0x80, b"lo"),
        "close_normal": cfg + frame(0x88, b"\x03\xe8bye"),
        "close_empty": cfg + frame(0x88),
        "close_bad_code": cfg + frame(0x88, b"\x03\xed"),
        "utf8_split": cfg + frame(0x01, b"\xce\xba\xe1") + frame(0x80, b"\xbd\xb9"),
        "utf8_invalid": cfg + frame(0x81, b"\xed\xa0\x80"),
        "unmasked": cfg + frame(0x81, b"hi", mask=None),
        "oversize": b"\x02\x00" + frame(0x82, b"x" * 17),
        "msb_length": cfg + b"\x82\xff\x80\x00\x00\x00\x00\x00\x00\x01" + MASK,
        "pong_then_text": cfg + frame(0x8A, b"z") + frame(0x81, b'{"op":"ping"}'),
    }


def ws_ops_seeds():
    return {
        "subscribe": '{"op":"subscribe","room":"workspace:%s"}' % WS,
        "unsubscribe": '{"op":"unsubscribe","room":"task:%s"}' % TASK,
        "resume": '{"op":"resume","room":"workspace:%s","since":42}' % WS,
        "typing": '{"op":"typing","room":"task:%s","task_id":"%s"}' % (TASK, TASK),
        "auth": '{"op":"auth","token":"eyJhbGciOiJIUzI1NiJ9.e30.sig"}',
        "ping_int": '{"op":"ping","id":7}',
        "ping_str": '{"op":"ping","id":"c-1"}',
        "unknown_op": '{"op":"jump"}',
        "extra_field": '{"op":"ping","admin":true}',
        "bad_room": '{"op":"subscribe","room":"workspace:nope"}',
        "negative_since": '{"op":"resume","room":"workspace:%s","since":-1}' % WS,
        "not_json": "{op:subscribe}",
        "array": '["op","ping"]',
        "duplicate": '{"op":"ping","op":"auth"}',
    }


def json_seeds():
    return {
        "task_min": '{"workspace_id":"%s","title":"Write report"}' % WS,
        "task_full": ('{"workspace_id":"%s","title":"Call Bob","description":"about Q3",'
                      '"priority":1,"status":"todo","labels":["work","call"],'
                      '"assignee_id":null,"due_at":"2026-11-25T17:00:00Z",'
                      '"estimate_minutes":30,"done":false,"score":1.5,"meta":{"a":[1,2]},'
                      '"links":[],"extra":null}') % WS,
        "unknown_field": '{"workspace_id":"%s","title":"x","owner":"me"}' % WS,
        "bad_types": '{"workspace_id":1,"title":[],"priority":"high","due_at":"tomorrow"}',
        "deep": '{"meta":' + "[" * 12 + "]" * 12 + "}",
        "unicode": '{"workspace_id":"%s","title":"\\u00e9t\\u00e9 \\ud83d\\ude00"}' % WS,
        "nul_escape": '{"title":"a\\u0000b"}',
        "duplicate": '{"title":"a","title":"b"}',
        "not_object": "[1,2,3]",
        "truncated": '{"workspace_id":"%s","title":"x' % WS,
        "big_int": '{"priority":99999999999999999999999}',
        "labels_many": '{"labels":[' + ",".join('"l%d"' % i for i in range(25)) + "]}",
    }


def query_seeds():
    return {
        "simple": "status\nstatus=todo&limit=20",
        "plus_space": "q\nq=call+bob&sort=-due_at",
        "escapes": "q\nq=%C3%A9t%C3%A9%20%26%3D",
        "bad_escape": "q\nq=%zz",
        "truncated_escape": "q\nq=abc%4",
        "nul": "q\nq=a%00b",
        "bare": "flag\nflag&x=",
        "empty_pairs": "a\n&&a=1&&",
        "no_name": "\n=1&=2",
        "cursor": "cursor\ncursor=eyJpZCI6IjEyMyJ9&limit=200",
        "many": "k64\n" + "&".join("k%d=%d" % (i, i) for i in range(70)),
        "long": "q\nq=" + "a" * 300,
    }


def b64u(b):
    import base64
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


JWT_SECRET = b"fuzz-secret-fuzz-secret-fuzz-secret-0123"  # fuzz_jwt.c's HS256 verifier


def jwt(header, claims, secret=JWT_SECRET):
    import hashlib
    import hmac
    h = b64u(header.encode())
    c = b64u(claims.encode())
    sig = hmac.new(secret, (h + "." + c).encode(), hashlib.sha256).digest()
    return h + "." + c + "." + b64u(sig)


def jwt_seeds():
    hdr = '{"alg":"HS256","typ":"at+jwt"}'
    ok = ('{"iss":"taskmesh","aud":"taskmesh-api","sub":"%s","sid":"%s","role":"user",'
          '"jti":"j1","iat":1767225000,"exp":1767229200}') % (WS, TASK)
    return {
        "hs256_valid": jwt(hdr, ok),
        "hs256_aud_array": jwt(hdr, ok.replace('"aud":"taskmesh-api"', '"aud":["x","taskmesh-api"]')),
        "hs256_expired": jwt(hdr, ok.replace("1767229200", "1767000000")),
        "hs256_admin_nbf": jwt(hdr, ok.replace('"role":"user"', '"role":"admin","nbf":1767225000')),
        "hs256_dup_claim": jwt(hdr, ok.replace('"role":"user"', '"role":"user","role":"admin"')),
        "alg_none": b64u(b'{"alg":"none","typ":"at+jwt"}') + "." + b64u(ok.encode()) + ".",
        "es256_wrong_sig": b64u(b'{"alg":"ES256","typ":"at+jwt"}') + "." + b64u(ok.encode()) + "." + b64u(b"\x01" * 64),
        "crit": jwt('{"alg":"HS256","typ":"at+jwt","crit":["x"]}', ok),
        "two_dots": "a.b",
        "revoked_body": '{"sid":"%s","exp":1767229200}' % TASK,
        "revoked_bad": '{"sid":"nope","exp":"soon"}',
    }


def cursor(sort, key, uid):
    import hashlib
    body = "%s|%s|%s|" % (sort, key, uid)
    check = hashlib.sha256(("tm-cursor-v1|" + body[:-1]).encode()).hexdigest()[:16]
    return b64u((body + check).encode())


def cursor_seeds():
    return {
        "created_at": cursor("created_at", "2026-11-25 17:00:00.123456+00", TASK),
        "neg_created_at": cursor("-created_at", "2026-01-01T00:00:00.000001Z", TASK),
        "due_infinity": cursor("due_at", "infinity", TASK),
        "priority": cursor("priority", "3", TASK),
        "neg_priority": cursor("-priority", "-9223372036854775808", TASK),
        "rank": cursor("rank", "0.0607927", TASK),
        "tampered": cursor("priority", "3", TASK)[:-2] + "AA",
        "not_b64": "!!!not base64!!!",
        "empty": "",
    }


def parse_seeds():
    # first byte: zone (low 3 bits) and "now" (next 2 bits); the rest is the sentence
    return {
        "full": b"\x00Call Bob tomorrow 5pm p1 #work ~30m every monday",
        "berlin_dates": b"\x01Pay rent Dec 3rd 2027 at 9 !2",
        "ny_relative": b"\x0aReview in 2 weeks by eod #review #Review",
        "dst": b"\x09meeting next friday 2:30am for 45 minutes",
        "us_date": b"\x02lunch 12/03 noon weekdays",
        "in_minutes": b"\x03ping in 90 minutes",
        "every_other": b"\x04gym every other week tonight",
        "bad_zone": b"\x07anything",
        "utf8": "\x00caf\u00e9 \u00e0 5pm #\u00e9t\u00e9 \U0001f600".encode(),
        "bad_utf8": b"\x00ab\xff\xfe cd",
        "long": b"\x00" + b"word " * 120,
    }


def event_seeds():
    env = ('{"event_id":"%s","workspace_id":"%s","seq":%s,"type":"%s","actor_id":%s,'
           '"created_at":"2026-11-25T17:00:00.123Z","data":%s}')
    return {
        "created": env % (TASK, WS, "1", "task.created", '"%s"' % WS, '{"id":"%s","title":"x"}' % TASK),
        "null_actor": env % (TASK, WS, "42", "task.deleted", "null", '{"id":"%s","deleted":true}' % TASK),
        "null_data": env % (TASK, WS, "7", "member.added", "null", "null"),
        "seq_zero": env % (TASK, WS, "0", "task.created", "null", "{}"),
        "bad_type": env % (TASK, WS, "1", "task.*>", "null", "{}"),
        "unknown_field": env.replace("}", ',"x":1}', 1)[:-1] % (TASK, WS, "1", "t", "null", "{}") + "}",
        "big_seq": env % (TASK, WS, "9223372036854775807", "task.updated", "null", "[1,2,3]"),
        "deep": env % (TASK, WS, "1", "t", "null", "[" * 40 + "]" * 40),
        "truncated": (env % (TASK, WS, "1", "t", "null", "{}"))[:60],
    }


def routes_seeds():
    # first byte: index into fuzz_routes.c ROUTES
    r = {
        "register": (0, '{"email":"a@b.c","password":"correct-horse-9","display_name":"A"}'),
        "login": (1, '{"email":"a@b.c","password":"pw","device":"cli"}'),
        "refresh": (2, '{"refresh_token":"abc"}'),
        "ws_create": (3, '{"name":"team"}'),
        "member_add": (4, '{"user_id":"%s","role":"editor"}' % TASK),
        "task_create": (5, '{"workspace_id":"%s","title":"t","priority":2,"labels":["a"]}' % WS),
        "task_update_ro": (6, '{"title":"t","version":3,"created_by":"x"}'),
        "task_replace": (7, '{"title":"t","status":"done","due_at":null}'),
        "complete": (8, '{"minutes":30}'),
        "time_log": (9, '{"minutes":15,"started_at":"2026-11-25T10:00:00Z","note":"n"}'),
        "suggest": (10, '{"workspace_id":null,"context":"plan","limit":5}'),
        "accept": (11, '{"workspace_id":"%s"}' % WS),
        "parse": (12, '{"text":"Call Bob tomorrow","timezone":"Europe/Berlin","now":"2026-11-25T10:00:00Z"}'),
        "announce": (13, '{"message":"hi","level":"critical","starts_at":null}'),
        "user_update_mass": (14, '{"role":"admin","disabled":false,"email":"x@y.z"}'),
        "depth_33": (5, '{"a":' + "[" * 33 + "]" * 33 + "}"),
    }
    return {k: bytes([i]) + v.encode() for k, (i, v) in r.items()}


if __name__ == "__main__":
    write("fuzz_ws_frame", ws_frame_seeds())
    write("fuzz_ws_ops", ws_ops_seeds())
    write("fuzz_json", json_seeds())
    write("fuzz_query", query_seeds())
    write("fuzz_jwt", jwt_seeds())
    write("fuzz_cursor", cursor_seeds())
    write("fuzz_parse", parse_seeds())
    write("fuzz_event", event_seeds())
    write("fuzz_routes", routes_seeds())
