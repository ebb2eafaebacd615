/* ws_frame: RFC 6455 server-side codec (see ws_frame.h). */
#include "ws_frame.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "tm_util.h"

#define WS_GUID           "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define MAX_MESSAGE_LIMIT (1u << 30)

/* ---- handshake ---------------------------------------------------------------------- */

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static ws_str_t trim(ws_str_t s)
{
    while (s.len > 0 && is_ows(s.base[0])) {
        s.base++;
        s.len--;
    }
    while (s.len > 0 && is_ows(s.base[s.len - 1]))
        s.len--;
    return s;
}

static bool str_ieq(ws_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && strncasecmp(s.base, lit, n) == 0;
}

/* True if the comma-separated header value holds token (case-insensitive). */
static bool list_has_token(ws_str_t v, const char *token)
{
    if (v.base == NULL)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= v.len; i++) {
        if (i < v.len && v.base[i] != ',')
            continue;
        ws_str_t item = trim((ws_str_t){v.base + start, i - start});
        if (str_ieq(item, token))
            return true;
        start = i + 1;
    }
    return false;
}

static bool is_b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* 16 bytes in base64: 22 alphabet characters then "==". */
static bool key_valid(ws_str_t key)
{
    if (key.base == NULL)
        return false;
    key = trim(key);
    if (key.len != WS_KEY_LEN || key.base[22] != '=' || key.base[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (!is_b64_char(key.base[i]))
            return false;
    return true;
}

ws_hs_result_t ws_handshake_check(const ws_handshake_req_t *req)
{
    if (req->method.base == NULL || req->method.len != 3 || memcmp(req->method.base, "GET", 3) != 0)
        return WS_HS_BAD_METHOD;
    if (!list_has_token(req->upgrade, "websocket") || !list_has_token(req->connection, "upgrade"))
        return WS_HS_NOT_UPGRADE;
    if (req->version.base == NULL) /* RFC 6455 4.2.2: answer 426 with the version we speak */
        return WS_HS_BAD_VERSION;
    ws_str_t version = trim(req->version);
    if (version.len != 2 || memcmp(version.base, "13", 2) != 0)
        return WS_HS_BAD_VERSION;
    if (!key_valid(req->key))
        return WS_HS_BAD_KEY;
    return WS_HS_OK;
}

int ws_handshake_status(ws_hs_result_t r)
{
    switch (r) {
    case WS_HS_OK:
        return 101;
    case WS_HS_BAD_METHOD:
        return 405;
    case WS_HS_NOT_UPGRADE:
    case WS_HS_BAD_VERSION:
        return 426;
    case WS_HS_BAD_KEY:
        break;
    }
    return 400;
}

const char *ws_handshake_reason(ws_hs_result_t r)
{
    switch (r) {
    case WS_HS_OK:
        return "ok";
    case WS_HS_BAD_METHOD:
        return "a WebSocket upgrade must use GET";
    case WS_HS_NOT_UPGRADE:
        return "this endpoint needs Upgrade: websocket and Connection: upgrade";
    case WS_HS_BAD_VERSION:
        return "Sec-WebSocket-Version must be 13";
    case WS_HS_BAD_KEY:
        break;
    }
    return "Sec-WebSocket-Key must be the base64 of 16 bytes";
}

int ws_handshake_accept(const char *sec_key, char out[WS_ACCEPT_LEN + 1])
{
    char input[64 + sizeof WS_GUID];
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    size_t klen = strlen(sec_key);
    out[0] = '\0';
    if (klen > 64)
        return TM_ERR_INVALID;
    memcpy(input, sec_key, klen);
    memcpy(input + klen, WS_GUID, sizeof WS_GUID - 1);
    if (EVP_Digest(input, klen + sizeof WS_GUID - 1, digest, &dlen, EVP_sha1(), NULL) != 1 ||
        dlen != 20)
        return TM_ERR_INTERNAL;
    if (EVP_EncodeBlock((unsigned char *)out, digest, 20) != WS_ACCEPT_LEN)
        return TM_ERR_INTERNAL;
    return TM_OK;
}

/* ---- UTF-8 -------------------------------------------------------------------------- */

/* Validator states: how many continuation bytes are still due and, right after a lead
 * byte that restricts it, the range of the next one (no overlongs, surrogates, > U+10FFFF). */
enum {
    U8_ACCEPT = 0,
    U8_NEED1, /* 1 more, 80..BF */
    U8_NEED2, /* 2 more, 80..BF */
    U8_NEED3, /* 3 more, 80..BF */
    U8_E0,    /* next A0..BF, then 1 */
    U8_ED,    /* next 80..9F, then 1 (no surrogates) */
    U8_F0,    /* next 90..BF, then 2 */
    U8_F4,    /* next 80..8F, then 2 */
    U8_REJECT = 0xff,
};

static uint8_t utf8_lead(uint8_t b)
{
    if (b < 0x80)
        return U8_ACCEPT;
    if (b >= 0xc2 && b <= 0xdf)
        return U8_NEED1;
    if (b == 0xe0)
        return U8_E0;
    if (b == 0xed)
        return U8_ED;
    if (b >= 0xe1 && b <= 0xef)
        return U8_NEED2;
    if (b == 0xf0)
        return U8_F0;
    if (b >= 0xf1 && b <= 0xf3)
        return U8_NEED3;
    if (b == 0xf4)
        return U8_F4;
    return U8_REJECT;
}

static uint8_t utf8_step(uint8_t state, uint8_t b)
{
    switch (state) {
    case U8_ACCEPT:
        return utf8_lead(b);
    case U8_NEED1:
        return b >= 0x80 && b <= 0xbf ? U8_ACCEPT : U8_REJECT;
    case U8_NEED2:
        return b >= 0x80 && b <= 0xbf ? U8_NEED1 : U8_REJECT;
    case U8_NEED3:
        return b >= 0x80 && b <= 0xbf ? U8_NEED2 : U8_REJECT;
    case U8_E0:
        return b >= 0xa0 && b <= 0xbf ? U8_NEED1 : U8_REJECT;
    case U8_ED:
        return b >= 0x80 && b <= 0x9f ? U8_NEED1 : U8_REJECT;
    case U8_F0:
        return b >= 0x90 && b <= 0xbf ? U8_NEED2 : U8_REJECT;
    case U8_F4:
        return b >= 0x80 && b <= 0x8f ? U8_NEED2 : U8_REJECT;
    }
    return U8_REJECT;
}

static uint8_t utf8_run(uint8_t state, const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n && state != U8_REJECT; i++) {
        if (state == U8_ACCEPT && s[i] < 0x80)
            continue;
        state = utf8_step(state, s[i]);
    }
    return state;
}

bool ws_utf8_valid(const uint8_t *buf, size_t len)
{
    return utf8_run(U8_ACCEPT, buf, len) == U8_ACCEPT;
}

bool ws_close_code_valid(unsigned code)
{
    if (code >= 1000 && code <= 1003)
        return true;
    if (code >= 1007 && code <= 1014)
        return true;
    return code >= 3000 && code <= 4999;
}

/* ---- parser ------------------------------------------------------------------------- */

enum { REL_CTL = 1, REL_BUF = 2 };

typedef struct {
    uint16_t code;
    const char *reason;
} parse_error_t;

enum {
    E_RSV,
    E_OPCODE,
    E_UNMASKED,
    E_CTL_FRAGMENTED,
    E_CTL_TOO_LONG,
    E_CONT_NO_START,
    E_DATA_IN_FRAGMENTED,
    E_LEN_MSB,
    E_TOO_BIG,
    E_UTF8,
    E_UTF8_TRUNCATED,
    E_CLOSE_1BYTE,
    E_CLOSE_CODE,
    E_CLOSE_UTF8,
};

static const parse_error_t parse_errors[] = {
    [E_RSV] = {WS_CLOSE_PROTOCOL, "reserved bits set"},
    [E_OPCODE] = {WS_CLOSE_PROTOCOL, "unknown opcode"},
    [E_UNMASKED] = {WS_CLOSE_PROTOCOL, "client frame not masked"},
    [E_CTL_FRAGMENTED] = {WS_CLOSE_PROTOCOL, "fragmented control frame"},
    [E_CTL_TOO_LONG] = {WS_CLOSE_PROTOCOL, "control frame over 125 bytes"},
    [E_CONT_NO_START] = {WS_CLOSE_PROTOCOL, "continuation frame without a message"},
    [E_DATA_IN_FRAGMENTED] = {WS_CLOSE_PROTOCOL, "new message inside a fragmented one"},
    [E_LEN_MSB] = {WS_CLOSE_PROTOCOL, "64-bit length with the high bit set"},
    [E_TOO_BIG] = {WS_CLOSE_TOO_BIG, "message too big"},
    [E_UTF8] = {WS_CLOSE_INVALID_DATA, "invalid UTF-8 in a text message"},
    [E_UTF8_TRUNCATED] = {WS_CLOSE_INVALID_DATA, "text message ends inside a UTF-8 sequence"},
    [E_CLOSE_1BYTE] = {WS_CLOSE_PROTOCOL, "close frame with a 1-byte body"},
    [E_CLOSE_CODE] = {WS_CLOSE_PROTOCOL, "invalid close code"},
    [E_CLOSE_UTF8] = {WS_CLOSE_INVALID_DATA, "invalid UTF-8 in a close reason"},
};

void ws_parser_init(ws_parser_t *p, size_t max_message)
{
    memset(p, 0, sizeof *p);
    if (max_message == 0)
        max_message = WS_DEFAULT_MAX_MESSAGE;
    p->max_message = max_message > MAX_MESSAGE_LIMIT ? MAX_MESSAGE_LIMIT : (uint32_t)max_message;
    p->state = WS_PS_HEADER;
}

static void free_buf(ws_parser_t *p)
{
    free(p->buf);
    p->buf = NULL;
    p->len = p->cap = 0;
}

static void free_ctl(ws_parser_t *p)
{
    free(p->ctl);
    p->ctl = NULL;
    p->ctl_len = 0;
}

void ws_parser_dispose(ws_parser_t *p)
{
    if (p == NULL)
        return;
    free_buf(p);
    free_ctl(p);
    p->release = 0;
}

static ws_event_type_t fail(ws_parser_t *p, int err, ws_event_t *ev)
{
    ws_parser_dispose(p);
    p->state = WS_PS_FAILED;
    p->err = (uint8_t)err;
    ev->type = WS_EV_ERROR;
    ev->opcode = 0;
    ev->data = NULL;
    ev->len = 0;
    ev->close_code = parse_errors[err].code;
    ev->reason = parse_errors[err].reason;
    return WS_EV_ERROR;
}

static bool is_control(uint8_t op)
{
    return (op & 0x8) != 0;
}

/* Checks that need only the first two header bytes, so bad frames fail early. */
static int check_base(ws_parser_t *p)
{
    uint8_t b0 = p->hdr[0], b1 = p->hdr[1];
    uint8_t op = b0 & 0x0f, len7 = b1 & 0x7f;
    bool fin = (b0 & 0x80) != 0;
    if (b0 & 0x70)
        return E_RSV;
    if (!(b1 & 0x80))
        return E_UNMASKED;
    if (is_control(op)) {
        if (op != WS_OPCODE_CLOSE && op != WS_OPCODE_PING && op != WS_OPCODE_PONG)
            return E_OPCODE;
        if (!fin)
            return E_CTL_FRAGMENTED;
        return len7 > WS_MAX_CONTROL ? E_CTL_TOO_LONG : -1;
    }
    if (op != WS_OPCODE_CONT && op != WS_OPCODE_TEXT && op != WS_OPCODE_BINARY)
        return E_OPCODE;
    if (op == WS_OPCODE_CONT && p->msg_op == 0)
        return E_CONT_NO_START;
    if (op != WS_OPCODE_CONT && p->msg_op != 0)
        return E_DATA_IN_FRAGMENTED;
    return -1;
}

static size_t header_need(const ws_parser_t *p)
{
    if (p->hdr_len < 2)
        return 2;
    uint8_t len7 = p->hdr[1] & 0x7f;
    return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
}

static uint64_t header_payload_len(const ws_parser_t *p)
{
    uint8_t len7 = p->hdr[1] & 0x7f;
    if (len7 < 126)
        return len7;
    size_t n = len7 == 126 ? 2 : 8;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p->hdr[2 + i];
    return v;
}

/* Make room for `more` payload bytes (plus the NUL kept after a message). Growth doubles
 * so a message in many small fragments costs O(log n) reallocations. */
static void reserve(ws_parser_t *p, uint32_t more)
{
    uint64_t need = (uint64_t)p->len + more + 1;
    if (need <= p->cap)
        return;
    uint64_t cap = (uint64_t)p->cap * 2;
    if (cap < need)
        cap = need;
    if (cap > (uint64_t)p->max_message + 1)
        cap = (uint64_t)p->max_message + 1;
    p->buf = tm_xrealloc(p->buf, (size_t)cap);
    p->cap = (uint32_t)cap;
}

static ws_event_type_t complete_frame(ws_parser_t *p, ws_event_t *ev);

static ws_event_type_t begin_payload(ws_parser_t *p, ws_event_t *ev)
{
    uint64_t n = header_payload_len(p);
    uint8_t op = p->hdr[0] & 0x0f;
    if (n >> 63)
        return fail(p, E_LEN_MSB, ev);
    p->frame_op = op;
    p->remaining = n;
    p->mask_pos = 0;
    if (is_control(op)) {
        p->ctl = tm_xmalloc(WS_MAX_CONTROL + 1);
        p->ctl_len = 0;
    } else {
        if (op != WS_OPCODE_CONT) {
            p->msg_op = op;
            p->utf8 = U8_ACCEPT;
        }
        if (n > p->max_message - p->len)
            return fail(p, E_TOO_BIG, ev);
        reserve(p, (uint32_t)n);
    }
    p->state = WS_PS_PAYLOAD;
    return n == 0 ? complete_frame(p, ev) : WS_EV_NONE;
}

static size_t take_header(ws_parser_t *p, const uint8_t *in, size_t n, ws_event_t *ev)
{
    size_t used = 0;
    while (used < n) {
        size_t need = header_need(p);
        size_t take = need - p->hdr_len;
        if (take > n - used)
            take = n - used;
        memcpy(p->hdr + p->hdr_len, in + used, take);
        p->hdr_len = (uint8_t)(p->hdr_len + take);
        used += take;
        if (p->hdr_len < need)
            break;
        if (need == 2) {
            int err = check_base(p);
            if (err >= 0) {
                fail(p, err, ev);
                return used;
            }
            continue;
        }
        begin_payload(p, ev);
        break;
    }
    return used;
}

static void unmask(ws_parser_t *p, uint8_t *dst, const uint8_t *src, size_t n)
{
    const uint8_t *mask = p->hdr + p->hdr_len - 4;
    unsigned pos = p->mask_pos;
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i] ^ mask[(pos + i) & 3];
    p->mask_pos = (uint8_t)((pos + n) & 3);
}

static size_t take_payload(ws_parser_t *p, const uint8_t *in, size_t n, ws_event_t *ev)
{
    size_t take = p->remaining < n ? (size_t)p->remaining : n;
    if (is_control(p->frame_op)) {
        unmask(p, p->ctl + p->ctl_len, in, take);
        p->ctl_len = (uint8_t)(p->ctl_len + take);
    } else {
        uint8_t *dst = p->buf + p->len;
        unmask(p, dst, in, take);
        p->len += (uint32_t)take;
        if (p->msg_op == WS_OPCODE_TEXT) {
            p->utf8 = utf8_run(p->utf8, dst, take);
            if (p->utf8 == U8_REJECT) {
                fail(p, E_UTF8, ev);
                return take;
            }
        }
    }
    p->remaining -= take;
    if (p->remaining == 0)
        complete_frame(p, ev);
    return take;
}

static ws_event_type_t complete_close(ws_parser_t *p, ws_event_t *ev)
{
    if (p->ctl_len == 1)
        return fail(p, E_CLOSE_1BYTE, ev);
    ev->close_code = WS_CLOSE_NO_STATUS;
    ev->data = p->ctl;
    if (p->ctl_len >= 2) {
        ev->close_code = (uint16_t)(p->ctl[0] << 8 | p->ctl[1]);
        if (!ws_close_code_valid(ev->close_code))
            return fail(p, E_CLOSE_CODE, ev);
        if (!ws_utf8_valid(p->ctl + 2, p->ctl_len - 2u))
            return fail(p, E_CLOSE_UTF8, ev);
        ev->data = p->ctl + 2;
        ev->len = p->ctl_len - 2u;
    }
    p->state = WS_PS_CLOSED;
    p->release = REL_CTL | REL_BUF;
    return ev->type = WS_EV_CLOSE;
}

static ws_event_type_t complete_control(ws_parser_t *p, ws_event_t *ev)
{
    p->ctl[p->ctl_len] = 0;
    if (p->frame_op == WS_OPCODE_CLOSE)
        return complete_close(p, ev);
    ev->type = p->frame_op == WS_OPCODE_PING ? WS_EV_PING : WS_EV_PONG;
    ev->data = p->ctl;
    ev->len = p->ctl_len;
    p->release |= REL_CTL;
    return ev->type;
}

static ws_event_type_t complete_frame(ws_parser_t *p, ws_event_t *ev)
{
    bool fin = (p->hdr[0] & 0x80) != 0;
    p->state = WS_PS_HEADER;
    p->hdr_len = 0;
    if (is_control(p->frame_op))
        return complete_control(p, ev);
    if (!fin)
        return WS_EV_NONE;
    if (p->msg_op == WS_OPCODE_TEXT && p->utf8 != U8_ACCEPT)
        return fail(p, E_UTF8_TRUNCATED, ev);
    p->buf[p->len] = 0;
    ev->type = WS_EV_MESSAGE;
    ev->opcode = p->msg_op;
    ev->data = p->buf;
    ev->len = p->len;
    p->msg_op = 0;
    p->release |= REL_BUF;
    return WS_EV_MESSAGE;
}

static void release_delivered(ws_parser_t *p)
{
    if (p->release & REL_CTL)
        free_ctl(p);
    if (p->release & REL_BUF)
        free_buf(p);
    p->release = 0;
}

ws_event_type_t ws_parser_next(ws_parser_t *p, const uint8_t *buf, size_t len, size_t *consumed,
                               ws_event_t *ev)
{
    memset(ev, 0, sizeof *ev);
    *consumed = 0;
    if (p->state == WS_PS_FAILED)
        return fail(p, p->err, ev);
    release_delivered(p);
    if (p->state == WS_PS_CLOSED) {
        *consumed = len;
        return WS_EV_NONE;
    }
    size_t off = 0;
    while (off < len && ev->type == WS_EV_NONE) {
        if (p->state == WS_PS_HEADER)
            off += take_header(p, buf + off, len - off, ev);
        else
            off += take_payload(p, buf + off, len - off, ev);
    }
    *consumed = off;
    return ev->type;
}

size_t ws_parser_feed(ws_parser_t *p, const uint8_t *buf, size_t len, ws_event_cb cb, void *arg)
{
    size_t off = 0;
    for (;;) {
        size_t n = 0;
        ws_event_t ev;
        ws_event_type_t t = ws_parser_next(p, buf + off, len - off, &n, &ev);
        off += n;
        if (t == WS_EV_NONE)
            break;
        if (cb(&ev, arg) != 0 || t == WS_EV_ERROR)
            break;
    }
    return off;
}

/* ---- encoders ----------------------------------------------------------------------- */

static size_t header_len_for(size_t len)
{
    return len < 126 ? 2 : len <= 0xffff ? 4 : 10;
}

size_t ws_encode_frame(uint8_t opcode, const void *payload, size_t len,
                       uint8_t out_header[WS_MAX_HEADER])
{
    (void)payload;
    out_header[0] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        out_header[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        out_header[1] = 126;
        out_header[2] = (uint8_t)(len >> 8);
        out_header[3] = (uint8_t)len;
        return 4;
    }
    out_header[1] = 127;
    uint64_t v = len;
    for (int i = 7; i >= 0; i--) {
        out_header[2 + i] = (uint8_t)v;
        v >>= 8;
    }
    return 10;
}

size_t ws_encode_close(unsigned code, const char *reason, uint8_t out[WS_CLOSE_FRAME_MAX])
{
    if (code == 0)
        return ws_encode_frame(WS_OPCODE_CLOSE, NULL, 0, out);
    size_t rlen = reason ? strlen(reason) : 0;
    if (rlen > WS_MAX_CONTROL - 2) {
        rlen = WS_MAX_CONTROL - 2;
        while (rlen > 0 && ((uint8_t)reason[rlen] & 0xc0) == 0x80)
            rlen--; /* do not cut a UTF-8 sequence */
    }
    size_t h = ws_encode_frame(WS_OPCODE_CLOSE, NULL, rlen + 2, out);
    out[h] = (uint8_t)(code >> 8);
    out[h + 1] = (uint8_t)code;
    if (rlen > 0)
        memcpy(out + h + 2, reason, rlen);
    return h + 2 + rlen;
}

ws_shared_frame_t *ws_shared_frame_new(uint8_t opcode, const void *payload, size_t len)
{
    size_t hlen = header_len_for(len), total, alloc;
    if (!tm_size_add(hlen, len, &total) || !tm_size_add(sizeof(ws_shared_frame_t), total, &alloc))
        return NULL;
    ws_shared_frame_t *f = tm_xmalloc(alloc);
    atomic_init(&f->refs, 1);
    f->header_len = (uint32_t)ws_encode_frame(opcode, payload, len, f->bytes);
    f->len = total;
    if (payload != NULL && len > 0)
        memcpy(f->bytes + hlen, payload, len);
    return f;
}

ws_shared_frame_t *ws_shared_frame_ref(ws_shared_frame_t *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void ws_shared_frame_unref(ws_shared_frame_t *f)
{
    if (f == NULL)
        return;
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        free(f);
}

/* ---- send queue ----------------------------------------------------------------------- */

static ws_shared_frame_t **queue_slots(const ws_queue_t *q, uint32_t *cap)
{
    *cap = q->heap != NULL ? q->cap : WS_QUEUE_INLINE;
    return q->heap != NULL ? q->heap : (ws_shared_frame_t **)q->inl;
}

/* Back to the inline slots once empty: an idle connection keeps no heap ring. */
static void queue_emptied(ws_queue_t *q)
{
    if (q->len != 0)
        return;
    free(q->heap);
    q->heap = NULL;
    q->head = q->cap = 0;
}

void ws_queue_push(ws_queue_t *q, ws_shared_frame_t *f)
{
    uint32_t cap;
    ws_shared_frame_t **slots = queue_slots(q, &cap);
    if (q->len == cap) {
        uint32_t ncap = cap * 2;
        ws_shared_frame_t **ring = tm_xmalloc(ncap * sizeof(*ring));
        for (uint32_t i = 0; i < q->len; i++)
            ring[i] = slots[(q->head + i) % cap];
        free(q->heap);
        q->heap = ring;
        q->cap = ncap;
        q->head = 0;
        slots = ring;
        cap = ncap;
    }
    slots[(q->head + q->len) % cap] = f;
    q->len++;
    q->bytes += f->len;
}

ws_shared_frame_t *ws_queue_at(const ws_queue_t *q, uint32_t i)
{
    uint32_t cap;
    ws_shared_frame_t **slots = queue_slots(q, &cap);
    return slots[(q->head + i) % cap];
}

ws_shared_frame_t *ws_queue_pop(ws_queue_t *q)
{
    uint32_t cap;
    ws_shared_frame_t **slots = queue_slots(q, &cap);
    if (q->len == 0)
        return NULL;
    ws_shared_frame_t *f = slots[q->head];
    q->head = (q->head + 1) % cap;
    q->len--;
    q->bytes -= f->len;
    queue_emptied(q);
    return f;
}

ws_shared_frame_t *ws_queue_pop_back(ws_queue_t *q)
{
    uint32_t cap;
    ws_shared_frame_t **slots = queue_slots(q, &cap);
    if (q->len == 0)
        return NULL;
    ws_shared_frame_t *f = slots[(q->head + q->len - 1) % cap];
    q->len--;
    q->bytes -= f->len;
    queue_emptied(q);
    return f;
}

void ws_queue_clear(ws_queue_t *q)
{
    while (q->len > 0)
        ws_shared_frame_unref(ws_queue_pop_back(q));
    queue_emptied(q);
}
