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


if __name__ == "__main__":
    write("fuzz_ws_frame", ws_frame_seeds())
    write("fuzz_ws_ops", ws_ops_seeds())
    write("fuzz_json", json_seeds())
    write("fuzz_query", query_seeds())
